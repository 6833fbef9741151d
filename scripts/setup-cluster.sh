#!/usr/bin/env bash
# Build the test cluster's programs from their upstream Go modules and link them
# into .tools/cluster. The programs are kube-apiserver, kube-controller-manager and
# kube-scheduler (Kubernetes 1.33), etcd and kwok. The upstream CRD files of Istio
# and of the Kubeflow training operator come from their Go modules too.
#
# The pins are the go.mod and go.sum files under tools/cluster. The Go module and
# build caches and the built programs live under $cache_root (see
# scripts/lib/steps.sh), outside the work tree, so a fresh clone reuses them: a
# warm run only hashes the inputs. A cold build takes several minutes and about
# 4 GB of build cache.
set -euo pipefail

cd "$(dirname "$0")/.."

script_name=setup-cluster
# shellcheck source=scripts/lib/steps.sh
source scripts/lib/steps.sh

kubernetes_version=v1.33.13
modules=tools/cluster
link_dir=.tools/cluster

step="prerequisites"
for command in go openssl; do
    if ! command -v "$command" >/dev/null; then
        log "$command is missing; the cluster tier needs Go 1.24 or newer and openssl on PATH"
        exit 1
    fi
done

export GOMODCACHE=$cache_root/go/mod
export GOCACHE=$cache_root/go/build
export GOFLAGS="-mod=readonly -trimpath"
export GOTOOLCHAIN=local
export CGO_ENABLED=0

# Without these, the API server's /version reports v0.0.0 instead of the release.
version_package=k8s.io/component-base/version
client_version_package=k8s.io/client-go/pkg/version
minor=${kubernetes_version#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for package in "$version_package" "$client_version_package"; do
    ldflags+=" -X $package.gitVersion=$kubernetes_version -X $package.gitMajor=1"
    ldflags+=" -X $package.gitMinor=$minor -X $package.gitTreeState=clean"
    ldflags+=" -X $package.buildDate=1970-01-01T00:00:00Z"
done

step="programs"
inputs_hash=$(hash_files "$modules"/*/go.mod "$modules"/*/go.sum "$modules"/*/tools.go \
    <(go version) <(echo "$ldflags"))
bin_dir=$cache_root/cluster/bin-${inputs_hash:0:16}
programs=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok)

mkdir -p "$cache_root/cluster"
# Two set-up runs at once (two clones, or CI beside a developer) build once.
exec 9>"$cache_root/cluster/.lock"
flock 9

build() {
    local module=$1 package=$2 output=$3
    (cd "$modules/$module" && go build -ldflags="$ldflags" -o "$output" "$package")
}

if [ -f "$bin_dir/.complete" ]; then
    log "up to date ($bin_dir)"
else
    log "building ${programs[*]} with $(go version | cut -d' ' -f3) into $bin_dir"
    start=$SECONDS
    partial=$bin_dir.partial
    rm -rf "$partial"
    mkdir -p "$partial"
    for program in kube-apiserver kube-controller-manager kube-scheduler; do
        build kubernetes "k8s.io/kubernetes/cmd/$program" "$partial/$program"
    done
    build etcd go.etcd.io/etcd/server/v3 "$partial/etcd"
    build kwok sigs.k8s.io/kwok/cmd/kwok "$partial/kwok"
    "$partial/kube-apiserver" --version
    "$partial/etcd" --version | head -1
    "$partial/kwok" --version
    touch "$partial/.complete"
    # Programs built from older pins are not needed any more.
    find "$cache_root/cluster" -mindepth 1 -maxdepth 1 -name 'bin-*' \
        ! -name "$(basename "$bin_dir")*" -exec rm -rf {} +
    mv "$partial" "$bin_dir"
    log "built in $((SECONDS - start))s"
fi

step="crd files"
module_dir() {
    (cd "$modules/crds" && go mod download "$1" && go list -m -f '{{.Dir}}' "$1")
}
istio_crds=$(module_dir istio.io/api)/kubernetes/customresourcedefinitions.gen.yaml
kubeflow_crds=$(module_dir github.com/kubeflow/training-operator)/manifests/base/crds/kubeflow.org_pytorchjobs.yaml

step="links"
rm -rf "$link_dir"
mkdir -p "$link_dir/bin" "$link_dir/crds"
for program in "${programs[@]}"; do
    ln -s "$bin_dir/$program" "$link_dir/bin/$program"
done
ln -s "$istio_crds" "$link_dir/crds/istio.yaml"
ln -s "$kubeflow_crds" "$link_dir/crds/kubeflow-pytorchjobs.yaml"
for file in "$link_dir"/crds/*.yaml; do
    [ -s "$file" ] || { log "missing CRD file $(readlink "$file")"; exit 1; }
done
log "programs and CRD files linked into $link_dir"
