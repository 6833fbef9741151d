# Shared by the set-up scripts: step names in failures and logs, and input stamps.
# Source it after setting script_name; each script then sets step before each step.

step="start"

report_failure() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "$script_name: step \"$step\" failed (exit status $rc); see the output above" >&2
    fi
}
trap report_failure EXIT

log() { echo "$script_name: $step: $*" >&2; }

hash_files() { cat "$@" | sha256sum | cut -d' ' -f1; }

# Succeed when the stamp file $1 exists and contains the hash $2.
stamp_matches() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# Heavy downloads and builds (Go modules and binaries, the runtime tier's virtual
# environments) live outside the work tree, so that CI's fresh clone reuses them.
# Each user of it keys its entries by a hash of their inputs.
cache_root=$(realpath -m "${LLAMAFACTORY_CDK8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llamafactory-cdk8s}")
