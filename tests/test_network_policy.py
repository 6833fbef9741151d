"""The NetworkPolicy: the gateway's namespace and the release's own pods may connect."""

from __future__ import annotations

from conftest import of_kind, only, synth


def test_policy_admits_gateway_and_release():
    policy = only(synth(), "NetworkPolicy")
    spec = policy["spec"]
    selector = {"app.kubernetes.io/name": "llamafactory", "app.kubernetes.io/instance": "llamafactory"}

    assert policy["metadata"]["name"] == "llamafactory"
    assert spec["podSelector"] == {"matchLabels": selector}
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}}},
        {"podSelector": {"matchLabels": selector}},
    ]


def test_policy_selects_deployment_pods():
    manifests = synth({"mode": "api", "api": {"model": "org/m"}})
    policy = only(manifests, "NetworkPolicy")
    pod_labels = only(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]

    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()


def test_named_port_in_both_modes():
    for settings in ({}, {"mode": "api", "api": {"model": "org/m"}}):
        ports = only(synth(settings), "Deployment")["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert [port["name"] for port in ports] == ["http"]


def test_namespaces_keep_their_order():
    policy = only(synth({"networkPolicy": {"allowedNamespaces": ["kubeflow", "team-a"]}}), "NetworkPolicy")

    namespaces = [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in policy["spec"]["ingress"][0]["from"][:-1]]
    assert namespaces == ["kubeflow", "team-a"]


def test_no_namespace_leaves_only_the_release():
    policy = only(synth({"networkPolicy": {"allowedNamespaces": []}}), "NetworkPolicy")

    assert [list(peer) for peer in policy["spec"]["ingress"][0]["from"]] == [["podSelector"]]


def test_disabled_creates_none():
    assert of_kind(synth({"networkPolicy": {"enabled": False}}), "NetworkPolicy") == []
