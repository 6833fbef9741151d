"""ShmVolume: a memory-backed ``/dev/shm`` for PyTorch DataLoader workers and NCCL."""

from __future__ import annotations

import logging

import cdk8s
import cdk8s_plus_27 as kplus
from constructs import Construct

from .errors import ConstructError
from .values import _quantity_to_float

logger = logging.getLogger(__name__)

SHM_PATH = "/dev/shm"


class ShmVolume(Construct):
    """A memory-backed emptyDir mounted at ``/dev/shm``.

    Container runtimes give a container 64 MB of shared memory, which makes PyTorch
    DataLoader workers and NCCL fail with "bus error". Upstream's compose file uses
    16 GB. Pages in a memory-backed emptyDir count against the container's memory
    limit, so a limit below the size is reported: a full ``/dev/shm`` would get the
    container OOM-killed.

    Args:
        size_gi: size limit in GiB. Must be positive; callers that want no volume
            create none (the chart does so for ``shmSizeGi: 0``).
        memory_limit: the container's memory limit as a Kubernetes quantity, or None
            when it has none. Only used for the check above.
        name: the volume's name in the pod. Defaults to ``shm``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        size_gi: int,
        memory_limit: str | None = None,
        name: str = "shm",
    ) -> None:
        super().__init__(scope, id)

        if isinstance(size_gi, bool) or not isinstance(size_gi, int):
            raise ConstructError(f"ShmVolume size_gi={size_gi!r} must be a whole number of GiB, such as 16")
        if size_gi <= 0:
            raise ConstructError(
                f"ShmVolume size_gi={size_gi!r} must be positive; create no ShmVolume to go without one"
            )

        self.size_gi = size_gi
        self.size_limit = f"{size_gi}Gi"
        self.warnings: list[str] = []
        if memory_limit is not None and _quantity_to_float(memory_limit) < size_gi * 2**30:
            self.warnings.append(
                f"memory limit {memory_limit} is below the {self.size_limit} /dev/shm; "
                "memory-backed volumes count against it, so raise the limit or shrink /dev/shm"
            )
            logger.warning("%s", self.warnings[-1])

        # kplus renders Size in MiB ("16384Mi"); the workload rewrites it to the
        # quantity written here so the manifest reads "16Gi".
        self.volume = kplus.Volume.from_empty_dir(
            self,
            "volume",
            name,
            medium=kplus.EmptyDirMedium.MEMORY,
            size_limit=cdk8s.Size.gibibytes(size_gi),
        )

    def mount(self, container: kplus.Container) -> None:
        """Mount the volume at ``/dev/shm`` in ``container``."""
        container.mount(SHM_PATH, self.volume)
