"""Object names and labels derived from the release name.

Names follow the rules of ``helm create``'s helpers, so the plain manifests and the
Helm chart name every object the same way: the full name is the release name when it
already contains the chart name, ``<release>-<chart>`` otherwise, and
``fullnameOverride`` replaces it. Kubernetes limits names and label values to 63
characters, so each name is cut to fit together with its suffix.

Selectors use only ``app.kubernetes.io/name`` and ``app.kubernetes.io/instance``:
both derive from the release, never from a construct path, so a refactored cdk8s
app or a changed mode never alters a Deployment's immutable selector.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .values import APP_VERSION, CHART_NAME, Values

MAX_NAME_LENGTH = 63


def truncate(name: str, length: int = MAX_NAME_LENGTH) -> str:
    """Cut ``name`` to ``length`` characters and drop the trailing dashes that leaves."""
    return name[:length].rstrip("-")


@dataclass(frozen=True)
class ReleaseNames:
    """Every name and label set of one release."""

    release: str
    namespace: str
    name: str
    """Chart name, or ``nameOverride``: the ``app.kubernetes.io/name`` label."""

    fullname: str
    """Prefix of every object name."""

    @classmethod
    def from_values(cls, values: Values) -> ReleaseNames:
        name = truncate(values.name_override or CHART_NAME)
        if values.fullname_override:
            fullname = truncate(values.fullname_override)
        elif name in values.release_name:
            fullname = truncate(values.release_name)
        else:
            fullname = truncate(f"{values.release_name}-{name}")
        return cls(release=values.release_name, namespace=values.namespace, name=name, fullname=fullname)

    def object_name(self, suffix: str = "") -> str:
        """Return ``<fullname>-<suffix>`` within 63 characters, cutting the full name."""
        if not suffix:
            return self.fullname
        return f"{truncate(self.fullname, MAX_NAME_LENGTH - len(suffix) - 1)}-{suffix}"

    def gateway_object_name(self, suffix: str) -> str:
        """Return a name that is unique across namespaces, for objects kept in the gateway's namespace.

        Two releases with the same full name in different namespaces would otherwise
        share one object there; an eight-digit hash of ``namespace/fullname`` keeps
        them apart.
        """
        digest = hashlib.sha256(f"{self.namespace}/{self.fullname}".encode()).hexdigest()[:8]
        return f"{truncate(self.fullname, MAX_NAME_LENGTH - len(suffix) - 10)}-{digest}-{suffix}"

    @property
    def selector_labels(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": self.name,
            "app.kubernetes.io/instance": truncate(self.release),
        }

    @property
    def labels(self) -> dict[str, str]:
        return {
            **self.selector_labels,
            "app.kubernetes.io/version": APP_VERSION,
            "app.kubernetes.io/part-of": CHART_NAME,
        }

    def service_host(self) -> str:
        """Return the Service's cluster-local DNS name."""
        return f"{self.fullname}.{self.namespace}.svc.cluster.local"
