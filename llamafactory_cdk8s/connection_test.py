"""ConnectionTest: a Job that checks the release's Service responds on the probe path."""

from __future__ import annotations

from collections.abc import Mapping

import cdk8s
from cdk8s_plus_27 import k8s
from constructs import Construct

from .naming import ReleaseNames
from .values import Values
from .workload import PROBE_PATHS

CHECK_SCRIPT = """\
import sys, time, urllib.request
url = sys.argv[1]
for attempt in range(1, 7):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            print(f"{url}: HTTP {response.status}")
            sys.exit(0)
    except Exception as error:
        print(f"attempt {attempt}: {url}: {error}", file=sys.stderr)
        time.sleep(5)
sys.exit(1)
"""
"""Request the URL up to six times, 5 s apart; exit 0 on the first 2xx response."""

CHECK_RESOURCES = {"cpu": "100m", "memory": "128Mi"}

NOBODY = 65534
"""The check needs no file of its own, so it runs as the unprivileged ``nobody``."""


class ConnectionTest(Construct):
    """A one-shot Job that requests the mode's probe path from the Service.

    It runs the application's own image, whose layers are already on the node, with
    its Python interpreter, so the check downloads nothing new. It requests no GPU and
    sets a CPU limit, as PCAI's admission rules require of every container. It runs
    as ``nobody`` on a read-only root filesystem with no capabilities, whatever the
    application's own security settings are.

    Its pod carries the release's selector labels, so the NetworkPolicy admits it.
    The Service selects it too, but targets the port named ``http``, which this
    container does not declare, so no traffic is ever routed to the check.

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
        labels = {**names.labels, "app.kubernetes.io/component": "test"}
        self.job = k8s.KubeJob(
            self,
            "job",
            metadata=k8s.ObjectMeta(
                name=names.object_name("connection-test"),
                labels=labels,
                annotations=dict(annotations or {}) or None,
            ),
            spec=k8s.JobSpec(
                backoff_limit=0,
                template=k8s.PodTemplateSpec(
                    metadata=k8s.ObjectMeta(labels=labels),
                    spec=k8s.PodSpec(
                        restart_policy="Never",
                        automount_service_account_token=False,
                        enable_service_links=False,
                        image_pull_secrets=pull_secrets or None,
                        security_context=k8s.PodSecurityContext(
                            run_as_user=NOBODY,
                            run_as_group=NOBODY,
                            run_as_non_root=True,
                            seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault"),
                        ),
                        containers=[
                            k8s.Container(
                                name="check",
                                image=values.image.reference(),
                                image_pull_policy=values.image.pull_policy,
                                command=["python3", "-c", CHECK_SCRIPT],
                                args=[url],
                                resources=k8s.ResourceRequirements(limits=quantities, requests=quantities),
                                security_context=k8s.SecurityContext(
                                    allow_privilege_escalation=False,
                                    privileged=False,
                                    read_only_root_filesystem=True,
                                    capabilities=k8s.Capabilities(drop=["ALL"]),
                                ),
                            )
                        ],
                    ),
                ),
            ),
        )
