#!/usr/bin/env bash
# Write tools/runtime/llamafactory-VERSION.txt: the fully pinned, hash-checked
# requirements from which scripts/setup-runtime.sh builds the runtime tier's
# virtual environment for LLaMA Factory VERSION.
#
# Usage: tools/runtime/lock.sh VERSION CUTOFF
#   VERSION  a llamafactory release on PyPI, e.g. 0.9.2
#   CUTOFF   RFC 3339 time; uv ignores every file uploaded after it
#
# The cutoff matters for old releases, because their own requirements are
# open-ended. llamafactory 0.9.2, resolved with today's PyPI, gets pyarrow 21
# (which needs NumPy 2, while 0.9.2 excludes it) and a pydantic newer than
# 2.10.6 (which breaks its Gradio UI). With the cutoff 2025-03-12T00:00:00Z,
# shortly after that release, uv picks the set it was released with. For the
# newest release, the cutoff is the day the lock was written, so running the
# script again gives the same file.
#
# The lock is for CPython 3.11 on x86_64 Linux, the Python of this project's CI.
# PyPI's torch wheels for Linux are CUDA builds, so the lock includes the
# nvidia-* packages (about 3 GB to download). They run on CPU without a GPU.
set -euo pipefail

cd "$(dirname "$0")/../.."

if [ $# -ne 2 ]; then
    echo "usage: tools/runtime/lock.sh VERSION CUTOFF (e.g. 0.9.2 2025-03-12T00:00:00Z)" >&2
    exit 2
fi
version=$1
cutoff=$2

script_name=lock
# shellcheck source=scripts/lib/steps.sh
source scripts/lib/steps.sh

step="uv"
uv=$(bash scripts/setup-runtime.sh --print-uv)
log "$("$uv" --version)"

step="compile"
lock=tools/runtime/llamafactory-$version.txt
log "resolving llamafactory==$version with files uploaded before $cutoff into $lock"
export UV_CACHE_DIR=$cache_root/runtime/uv-cache
# The header that uv writes records this command, including the cutoff.
echo "llamafactory==$version" | (cd tools/runtime && "$uv" pip compile - \
    --quiet --generate-hashes --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 --exclude-newer "$cutoff" \
    --custom-compile-command "tools/runtime/lock.sh $version $cutoff" \
    -o "llamafactory-$version.txt")
log "$(grep -c '^[a-z0-9]' "$lock") packages pinned"
