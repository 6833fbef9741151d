"""LlamaFactoryChart: every object of one release, composed from the values model."""

from __future__ import annotations

import logging

import cdk8s
from constructs import Construct

from .ingress import EzuaIngress
from .naming import ReleaseNames
from .network_policy import AppNetworkPolicy
from .shm import ShmVolume
from .storage import StorageConstruct
from .training import TrainingRun
from .values import Values
from .workload import PORT_NAME, LlamaFactoryWorkload

logger = logging.getLogger(__name__)


class LlamaFactoryChart(cdk8s.Chart):
    """A cdk8s chart with the storage, workload, ingress and training run of one LLaMA Factory release.

    Object names and ``app.kubernetes.io`` labels derive from ``values.releaseName``,
    so two releases never collide. Namespaced objects are placed in
    ``values.namespace``.

    Args:
        values: the release's settings. Defaults to the defaults.
    """

    def __init__(self, scope: Construct, id: str, *, values: Values | None = None) -> None:
        values = values if values is not None else Values()
        names = ReleaseNames.from_values(values)
        super().__init__(scope, id, namespace=names.namespace, disable_resource_name_hashes=True)

        self.values = values
        self.names = names
        for finding in values.warnings():
            logger.warning("%s", finding)

        self.storage = StorageConstruct(
            self,
            "storage",
            names=names,
            persistence=values.persistence,
            hf_cache_mount_path=values.hf_cache_mount_path,
        )
        # Values.warnings(), logged above, already reports a memory limit below the
        # shm size, so the volume is not given the limit to check a second time.
        self.shm = ShmVolume(self, "shm", size_gi=values.shm_size_gi) if values.shm_size_gi > 0 else None
        self.workload = LlamaFactoryWorkload(self, "workload", values=values, names=names, storage=self.storage, shm=self.shm)
        self.network_policy = (
            AppNetworkPolicy(
                self, "network-policy", names=names, port_name=PORT_NAME, namespaces=values.network_policy.allowed_namespaces
            )
            if values.network_policy.enabled
            else None
        )
        self.training = (
            TrainingRun(self, "training", values=values, names=names, storage=self.storage, shm=self.shm)
            if values.training.enabled
            else None
        )
        self.ingress = EzuaIngress(
            self,
            "ingress",
            names=names,
            ezua=values.ezua,
            service_port=values.service_port,
            api_key_protected=values.mode == "api" and values.api.has_key,
        )
