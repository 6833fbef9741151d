"""EzuaIngress: the Istio route PCAI's tile opens, and the platform login in front of it."""

from __future__ import annotations

import cdk8s
from constructs import Construct

from .naming import ReleaseNames
from .values import EzuaValues

API_PATHS = ["/v1/*"]
"""Paths the OpenAI-compatible API serves; with an API key they skip browser login."""


class EzuaIngress(Construct):
    """An Istio VirtualService and, by default, the platform-login AuthorizationPolicy.

    The EzUA app controller reads ``ezua.virtualService`` to make the tile's Open
    button work; the VirtualService routes the endpoint host through the gateway to
    the Service by its cluster-local name. The route has no timeout unless one is
    set, because LLaMA Board streams training progress for hours.

    LLaMA Board has no login of its own. The AuthorizationPolicy (``CUSTOM``, PCAI's
    ``oauth2-proxy`` provider) lives in the gateway's namespace, selects the ingress
    gateway (never the app's pod, so kubelet probes are not affected) and matches
    the endpoint host, so every browser request needs a platform login. When the
    API runs with an API key, ``/v1/*`` is left out so programs can call it with
    the key alone.

    Args:
        names: names and labels of the release.
        ezua: the ``ezua`` settings.
        service_port: the Service's port.
        api_key_protected: whether the API checks an API key (``api`` mode with a key).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        names: ReleaseNames,
        ezua: EzuaValues,
        service_port: int,
        api_key_protected: bool = False,
    ) -> None:
        super().__init__(scope, id)

        labels = {**names.labels, "app.kubernetes.io/component": "ingress"}
        virtual_service = ezua.virtual_service
        self.virtual_service: cdk8s.ApiObject | None = None
        self.authorization_policy: cdk8s.ApiObject | None = None
        if not virtual_service.enabled:
            return

        self.virtual_service = cdk8s.ApiObject(
            self,
            "virtual-service",
            api_version="networking.istio.io/v1beta1",
            kind="VirtualService",
            metadata=cdk8s.ApiObjectMetadata(name=names.fullname, namespace=names.namespace, labels=labels),
        )
        self.virtual_service.add_json_patch(
            cdk8s.JsonPatch.add(
                "/spec",
                {
                    "hosts": [virtual_service.endpoint],
                    "gateways": [virtual_service.istio_gateway],
                    "http": [
                        {
                            "match": [{"uri": {"prefix": "/"}}],
                            "route": [
                                {
                                    "destination": {
                                        "host": names.service_host(),
                                        "port": {"number": service_port},
                                    }
                                }
                            ],
                            **({"timeout": virtual_service.timeout} if virtual_service.timeout else {}),
                        }
                    ],
                },
            )
        )

        policy = ezua.authorization_policy
        if not policy.enabled:
            return
        operation: dict[str, list[str]] = {"hosts": [virtual_service.endpoint, f"{virtual_service.endpoint}:*"]}
        if api_key_protected:
            operation["notPaths"] = list(API_PATHS)
        self.authorization_policy = cdk8s.ApiObject(
            self,
            "authorization-policy",
            api_version="security.istio.io/v1beta1",
            kind="AuthorizationPolicy",
            metadata=cdk8s.ApiObjectMetadata(
                name=names.gateway_object_name("login"), namespace=policy.namespace, labels=labels
            ),
        )
        self.authorization_policy.add_json_patch(
            cdk8s.JsonPatch.add(
                "/spec",
                {
                    "selector": {"matchLabels": dict(policy.match_labels)},
                    "action": "CUSTOM",
                    "provider": {"name": policy.provider_name},
                    "rules": [{"to": [{"operation": operation}]}],
                },
            )
        )
