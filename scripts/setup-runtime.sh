#!/usr/bin/env bash
# Install what the runtime tier (tests/test_runtime.py) runs. The real
# llamafactory package from PyPI is installed twice, at the chart's appVersion
# and at the default image tag, each in a virtual environment of its own.
# Debian's chromium takes the LLaMA Board screenshot.
#
# The environments are large (about 6.6 GB each, because PyPI's torch is a
# CUDA build), so they live under $cache_root/runtime outside the work tree,
# where CI's fresh clone finds them again. Each is keyed by the hash of its
# lock file (tools/runtime/llamafactory-VERSION.txt) and the python3 version,
# and carries a stamp that is written last. A warm run only hashes the inputs.
# .tools/runtime/llamafactory-VERSION is a symbolic link to the environment
# that the tests use.
#
# Usage: scripts/setup-runtime.sh             (make setup-runtime)
#        scripts/setup-runtime.sh --print-uv  install uv only and print its path
set -euo pipefail

cd "$(dirname "$0")/.."

script_name=setup-runtime
# shellcheck source=scripts/lib/steps.sh
source scripts/lib/steps.sh

runtime_cache=$cache_root/runtime
links=.tools/runtime
# uv keeps every wheel it downloads here. A venv is then built from hard
# links into this cache in seconds, without a download.
export UV_CACHE_DIR=$runtime_cache/uv-cache
# The interpreter that each venv links to. pyenv's shim is resolved to the
# real interpreter, because a venv based on the shim breaks when the shim
# changes.
python=$(python3 -c 'import sys; print(sys.executable)')
python_version=$("$python" --version 2>&1)

step="uv"
uv_requirements=tools/runtime/uv.txt
uv_hash=$(hash_files "$uv_requirements" <(echo "$python_version"))
uv_venv=$runtime_cache/uv-${uv_hash:0:16}
if stamp_matches "$uv_venv/.setup-runtime.sha256" "$uv_hash" && [ -x "$uv_venv/bin/uv" ]; then
    log "up to date"
else
    log "installing $uv_requirements into $uv_venv (hash-checked wheels only)"
    rm -rf "$uv_venv"
    mkdir -p "$runtime_cache"
    "$python" -m venv "$uv_venv"
    "$uv_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --require-hashes --no-deps -r "$uv_requirements"
    echo "$uv_hash" >"$uv_venv/.setup-runtime.sha256"
    log "$("$uv_venv/bin/uv" --version)"
fi
uv=$uv_venv/bin/uv
if [ "${1:-}" = "--print-uv" ]; then
    echo "$uv"
    exit 0
fi

step="versions"
# The chart's appVersion and the default image tag, read from the values
# model. The same version twice is installed once.
mapfile -t versions < <(.venv/bin/python -c '
from llamafactory_cdk8s.values import APP_VERSION, ImageValues
for version in dict.fromkeys([APP_VERSION, ImageValues().tag]):
    print(version)
')
log "llamafactory ${versions[*]}"

mkdir -p "$links"
for version in "${versions[@]}"; do
    step="llamafactory $version"
    lock=tools/runtime/llamafactory-$version.txt
    if [ ! -f "$lock" ]; then
        log "$lock not found; write it with tools/runtime/lock.sh $version CUTOFF (see that script) and commit it"
        exit 1
    fi
    lock_hash=$(hash_files "$lock" <(echo "$python_version"))
    venv=$runtime_cache/llamafactory-$version-${lock_hash:0:16}
    stamp=$venv/.setup-runtime.sha256
    if stamp_matches "$stamp" "$lock_hash" && [ -x "$venv/bin/llamafactory-cli" ]; then
        log "up to date"
    else
        log "building $venv from $lock with $python_version"
        rm -rf "$venv"
        "$uv" venv --quiet --python "$python" "$venv"
        # sync installs exactly the lock's packages and removes any other.
        # Every file must match one of the lock's sha256 hashes.
        VIRTUAL_ENV=$venv "$uv" pip sync --quiet --require-hashes --compile-bytecode "$lock"
        installed=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("llamafactory"))')
        if [ "$installed" != "$version" ]; then
            log "expected llamafactory $version in $venv but found $installed"
            exit 1
        fi
        echo "$lock_hash" >"$stamp"
        log "installed llamafactory $installed ($(du -sh "$venv" | cut -f1))"
    fi
    ln -sfn "$venv" "$links/llamafactory-$version"

    # Older builds of the same version take several GB each, so only this one is kept.
    for old in "$runtime_cache/llamafactory-$version-"*; do
        if [ "$old" != "$venv" ] && [ -d "$old" ]; then
            log "removing the outdated $old"
            rm -rf "$old"
        fi
    done
done

step="chromium"
if command -v chromium >/dev/null; then
    log "$(chromium --version 2>/dev/null)"
elif [ "$(id -u)" -eq 0 ]; then
    log "installing Debian's chromium with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    log "$(chromium --version 2>/dev/null)"
else
    log "chromium is missing and only root can install it; run: sudo apt-get install chromium"
    exit 1
fi
