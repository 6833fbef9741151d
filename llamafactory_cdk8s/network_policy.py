"""AppNetworkPolicy: who may connect to the LLaMA Factory pod."""

from __future__ import annotations

from collections.abc import Sequence

from cdk8s_plus_27 import k8s
from constructs import Construct

from .naming import ReleaseNames

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Label that Kubernetes sets on every namespace to its own name."""


class AppNetworkPolicy(Construct):
    """A NetworkPolicy on the release's pods that admits connections to one named port.

    Connections may come from pods in the listed namespaces (on PCAI, the Istio
    ingress gateway's) and from the release's own pods, such as its connection
    check. Every other connection to the selected pods is dropped. Egress stays
    open, because the app downloads models and datasets.

    Args:
        names: names and labels of the release; the policy selects the release's
            selector labels, which never change.
        port_name: the container port to admit, by name.
        namespaces: namespaces whose pods may connect.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        names: ReleaseNames,
        port_name: str,
        namespaces: Sequence[str],
    ) -> None:
        super().__init__(scope, id)
        sources = [
            k8s.NetworkPolicyPeer(namespace_selector=k8s.LabelSelector(match_labels={NAMESPACE_NAME_LABEL: namespace}))
            for namespace in namespaces
        ]
        sources.append(k8s.NetworkPolicyPeer(pod_selector=k8s.LabelSelector(match_labels=names.selector_labels)))
        self.policy = k8s.KubeNetworkPolicy(
            self,
            "policy",
            metadata=k8s.ObjectMeta(
                name=names.fullname,
                labels={**names.labels, "app.kubernetes.io/component": "network"},
            ),
            spec=k8s.NetworkPolicySpec(
                pod_selector=k8s.LabelSelector(match_labels=names.selector_labels),
                policy_types=["Ingress"],
                ingress=[
                    k8s.NetworkPolicyIngressRule(
                        from_=sources,
                        ports=[k8s.NetworkPolicyPort(port=k8s.IntOrString.from_string(port_name), protocol="TCP")],
                    )
                ],
            ),
        )
