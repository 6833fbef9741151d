"""Tests of EzuaIngress: the VirtualService and the login AuthorizationPolicy."""

from __future__ import annotations

from conftest import of_kind, only, synth

API_WITH_KEY = {"mode": "api", "api": {"model": "m", "apiKey": "k"}}


def test_virtual_service_routes_to_service():
    virtual_service = only(synth(), "VirtualService")

    spec = virtual_service["spec"]
    route = spec["http"][0]

    assert spec["hosts"] == ["llamafactory.${DOMAIN_NAME}"]
    assert spec["gateways"] == ["istio-system/ezaf-gateway"]
    assert route["route"][0]["destination"] == {
        "host": "llamafactory.llamafactory.svc.cluster.local",
        "port": {"number": 7860},
    }
    # Istio's default is no route timeout, and its CRD rejects "0s".
    assert "timeout" not in route


def test_route_timeout_when_set():
    virtual_service = only(synth({"ezua": {"virtualService": {"timeout": "30m"}}}), "VirtualService")

    assert virtual_service["spec"]["http"][0]["timeout"] == "30m"


def test_virtual_service_port_follows_mode():
    virtual_service = only(synth(API_WITH_KEY), "VirtualService")

    assert virtual_service["spec"]["http"][0]["route"][0]["destination"]["port"] == {"number": 8000}


def test_endpoint_exact():
    virtual_service = only(synth({"ezua": {"virtualService": {"endpoint": "lf.example.com"}}}), "VirtualService")

    assert virtual_service["spec"]["hosts"] == ["lf.example.com"]


def test_login_policy_defaults():
    policy = only(synth(), "AuthorizationPolicy")

    spec = policy["spec"]

    assert policy["metadata"]["namespace"] == "istio-system"
    assert spec["action"] == "CUSTOM"
    assert spec["provider"] == {"name": "oauth2-proxy"}
    assert spec["selector"] == {"matchLabels": {"istio": "ingressgateway"}}
    assert spec["rules"] == [{"to": [{"operation": {"hosts": ["llamafactory.${DOMAIN_NAME}", "llamafactory.${DOMAIN_NAME}:*"]}}]}]


def test_api_paths_exempt_with_key():
    operation = only(synth(API_WITH_KEY), "AuthorizationPolicy")["spec"]["rules"][0]["to"][0]["operation"]

    assert operation["notPaths"] == ["/v1/*"]


def test_api_without_key_fully_behind_login():
    operation = only(synth({"mode": "api", "api": {"model": "m"}}), "AuthorizationPolicy")["spec"]["rules"][0]["to"][0]["operation"]

    assert "notPaths" not in operation


def test_policy_disabled():
    manifests = synth({"ezua": {"authorizationPolicy": {"enabled": False}}})

    assert of_kind(manifests, "AuthorizationPolicy") == []
    assert len(of_kind(manifests, "VirtualService")) == 1


def test_virtual_service_disabled_drops_both():
    manifests = synth({"ezua": {"virtualService": {"enabled": False}}})

    assert of_kind(manifests, "VirtualService") == []
    assert of_kind(manifests, "AuthorizationPolicy") == []


def test_policy_names_differ_across_namespaces():
    first = only(synth({"namespace": "team-a"}), "AuthorizationPolicy")["metadata"]["name"]
    second = only(synth({"namespace": "team-b"}), "AuthorizationPolicy")["metadata"]["name"]

    assert first != second
