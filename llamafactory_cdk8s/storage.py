"""StorageConstruct: the model cache, datasets, outputs and LLaMA Board's state."""

from __future__ import annotations

from dataclasses import dataclass

import cdk8s
import cdk8s_plus_27 as kplus
from cdk8s_plus_27 import k8s
from constructs import Construct

from .naming import ReleaseNames
from .values import WEBUI_STATE_DIRECTORIES, ClaimValues, PersistenceValues

KEEP_ANNOTATION = {"helm.sh/resource-policy": "keep"}

ACCESS_MODES = {
    "ReadWriteOnce": kplus.PersistentVolumeAccessMode.READ_WRITE_ONCE,
    "ReadWriteMany": kplus.PersistentVolumeAccessMode.READ_WRITE_MANY,
    "ReadOnlyMany": kplus.PersistentVolumeAccessMode.READ_ONLY_MANY,
    "ReadWriteOncePod": kplus.PersistentVolumeAccessMode.READ_WRITE_ONCE_POD,
}

@dataclass(frozen=True)
class Mount:
    """One volume mount of the workload's container."""

    path: str
    volume: kplus.Volume
    sub_path: str | None = None


class StorageConstruct(Construct):
    """Claims (or emptyDirs) for the model cache, datasets, outputs and WebUI state.

    Claims are ordinary objects annotated ``helm.sh/resource-policy: keep``, not
    Helm hooks. On a test cluster, Helm 3.18 ignored a hook claim's new size on
    upgrade, and on reinstall deleted the kept hook claim (its default hook delete
    policy is ``before-hook-creation``, which does not consult ``keep``) and bound an
    empty one in its place; ``docs/design-volumes.md`` has the details. As ordinary
    objects with ``keep``, the claims are upgraded in place, survive
    ``helm uninstall`` and are adopted again by a reinstall under the same name.

    "Storage ready before the app starts" needs no sleeping Job: Helm creates
    claims before Deployments, and the pod is not scheduled until its claims can
    be bound (with ``WaitForFirstConsumer``, they bind on the pod's node).

    Args:
        names: names and labels of the release.
        persistence: the four claims' settings. A claim with ``enabled: false``
            becomes an emptyDir; one with ``existingClaim`` is mounted, not created.
        hf_cache_mount_path: where the model cache is mounted (it depends on
            whether the container runs as root).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        names: ReleaseNames,
        persistence: PersistenceValues,
        hf_cache_mount_path: str,
    ) -> None:
        super().__init__(scope, id)

        self.claims: dict[str, kplus.PersistentVolumeClaim] = {}
        self.mounts: list[Mount] = []
        self._names = names

        hf_cache = self._volume("hf-cache", persistence.hf_cache)
        self.mounts.append(Mount(hf_cache_mount_path, hf_cache))

        data = self._volume("data", persistence.data)
        self.mounts.append(Mount(persistence.data.mount_path or "", data))

        output = self._volume("output", persistence.output)
        self.mounts.append(Mount(persistence.output.mount_path or "", output))

        state = self._volume("webui-state", persistence.webui_state)
        base = (persistence.webui_state.mount_path or "").rstrip("/")
        for directory in WEBUI_STATE_DIRECTORIES:
            self.mounts.append(Mount(f"{base}/{directory}", state, sub_path=directory))

    def _volume(self, key: str, claim: ClaimValues) -> kplus.Volume:
        if not claim.enabled:
            return kplus.Volume.from_empty_dir(self, f"{key}-empty", key)

        if claim.existing_claim is not None:
            existing = kplus.PersistentVolumeClaim.from_claim_name(self, f"{key}-existing", claim.existing_claim)
            return kplus.Volume.from_persistent_volume_claim(self, f"{key}-volume", existing, name=key)

        created = kplus.PersistentVolumeClaim(
            self,
            key,
            metadata=cdk8s.ApiObjectMetadata(
                name=self._names.object_name(key),
                labels={**self._names.labels, "app.kubernetes.io/component": "storage"},
                annotations=dict(KEEP_ANNOTATION),
            ),
            access_modes=[ACCESS_MODES[claim.access_mode]],
            # kplus takes a Size and renders binary units only; the patch below keeps
            # the quantity exactly as the operator wrote it ("200Gi", "1T", …). Patch
            # values must be typed k8s objects: the typed toJson of kplus objects
            # drops plain strings in Quantity fields without a word.
            storage=cdk8s.Size.gibibytes(1),
            storage_class_name=self._storage_class(claim.storage_class),
            volume_mode=kplus.PersistentVolumeMode.FILE_SYSTEM,
        )
        cdk8s.ApiObject.of(created).add_json_patch(
            cdk8s.JsonPatch.replace("/spec/resources/requests/storage", k8s.Quantity.from_string(claim.size))
        )
        if claim.storage_class == "-":
            cdk8s.ApiObject.of(created).add_json_patch(cdk8s.JsonPatch.add("/spec/storageClassName", ""))
        self.claims[key] = created
        return kplus.Volume.from_persistent_volume_claim(self, f"{key}-volume", created, name=key)

    @staticmethod
    def _storage_class(storage_class: str) -> str | None:
        # Empty: leave the field out so the cluster's default class applies. "-" is
        # the Helm convention for an explicit empty class, patched in afterwards
        # because kplus drops an empty string.
        if storage_class in ("", "-"):
            return None
        return storage_class
