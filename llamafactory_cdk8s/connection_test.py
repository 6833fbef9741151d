"""ConnectionTestPod: a pod that checks the release's Service answers on the probe path."""

from __future__ import annotations

from collections.abc import Mapping

import cdk8s
from cdk8s_plus_27 import k8s
from constructs import Construct

from .naming import ReleaseNames
from .values import Values
from .workload import PROBE_PATHS, container_security_context, pod_security_context

CHECK_SCRIPT = """\
import sys, time, urllib.request
url = sys.argv[1]
for attempt in range(1, 7):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            print(f"{url} answered {response.status}")
            sys.exit(0)
    except Exception as error:
        print(f"attempt {attempt}: {url}: {error}", file=sys.stderr)
        time.sleep(5)
sys.exit(1)
"""
"""Ask for the URL up to six times, 5 s apart; exit 0 on the first 2xx answer."""

CHECK_RESOURCES = {"cpu": "100m", "memory": "128Mi"}


class ConnectionTestPod(Construct):
    """A one-shot pod that asks the Service for the mode's probe path.

    It runs the application's own image, which is already on the node, with its
    Python interpreter, so the check costs no extra pull. It requests no GPU and sets
    a CPU limit, as PCAI's admission rules require of every container.

    Args:
        values: the release's settings.
        names: names and labels of the release.
        annotations: annotations of the pod, for example those that make it a test
            hook of a package manager.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        values: Values,
        names: ReleaseNames,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, id)
        url = f"http://{names.fullname}:{values.service_port}{PROBE_PATHS[values.mode]}"
        quantities = {name: k8s.Quantity.from_string(value) for name, value in CHECK_RESOURCES.items()}
        pull_secrets = [k8s.LocalObjectReference(name=secret.name) for secret in values.image_pull_secrets]
        self.pod = k8s.KubePod(
            self,
            "pod",
            metadata=k8s.ObjectMeta(
                name=names.object_name("connection-test"),
                labels={**names.labels, "app.kubernetes.io/component": "test"},
                annotations=dict(annotations or {}) or None,
            ),
            spec=k8s.PodSpec(
                restart_policy="Never",
                automount_service_account_token=False,
                enable_service_links=False,
                image_pull_secrets=pull_secrets or None,
                containers=[
                    k8s.Container(
                        name="check",
                        image=values.image.reference(),
                        image_pull_policy=values.image.pull_policy,
                        command=["python3", "-c", CHECK_SCRIPT],
                        args=[url],
                        resources=k8s.ResourceRequirements(limits=quantities, requests=quantities),
                    )
                ],
            ),
        )
        # Security contexts are written as the workload's, field for field.
        self.pod.add_json_patch(
            cdk8s.JsonPatch.add("/spec/containers/0/securityContext", container_security_context(values)),
            cdk8s.JsonPatch.add("/spec/securityContext", pod_security_context(values)),
        )
