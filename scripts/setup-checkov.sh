#!/usr/bin/env bash
# Install checkov into .tools/checkov-venv from tools/checkov/requirements.txt,
# where every package is pinned to a version and to the sha256 of its wheels.
# checkov gets its own virtual environment because its requirements conflict
# with the project's constraints.txt (see that file's header).
# The virtual environment is rebuilt from scratch whenever the requirements
# file or the python3 version changes. Otherwise the script only compares a
# stamp file with the hash of those inputs and returns.
# Usage: scripts/setup-checkov.sh  (then run tests/test_checkov.py)
set -euo pipefail

cd "$(dirname "$0")/.."

venv=.tools/checkov-venv
requirements=tools/checkov/requirements.txt
stamp=$venv/.setup-checkov.sha256

script_name=setup-checkov
# shellcheck source=scripts/lib/steps.sh
source scripts/lib/steps.sh

step="python"
# numpy 2.4.6, which checkov installs, needs Python 3.11 or newer.
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    log "$(python3 --version 2>&1) is too old; checkov's pinned requirements need Python 3.11 or newer"
    exit 1
fi
python_version=$(python3 --version 2>&1)

step="checkov"
inputs_hash=$(hash_files "$requirements" <(echo "$python_version"))
if stamp_matches "$stamp" "$inputs_hash" \
    && "$venv/bin/python" -c '' 2>/dev/null && [ -x "$venv/bin/checkov" ]; then
    log "up to date"
    exit 0
fi

log "creating $venv with $python_version"
rm -rf "$venv"
python3 -m venv "$venv"

log "installing $requirements (hash-checked wheels only)"
# --no-deps: the requirements file lists every package checkov needs, and
# --require-hashes rejects any file whose sha256 is not listed there.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --require-hashes --no-deps -r "$requirements"

checkov_version=$("$venv/bin/checkov" --version)
log "checkov $checkov_version"
# The stamp is written last, so an interrupted install runs again next time.
echo "$inputs_hash" >"$stamp"
