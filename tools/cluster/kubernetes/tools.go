//go:build tools

// Package kubernetes pins the control-plane commands that the cluster test tier
// builds: scripts/setup-cluster.sh runs `go build` on each of them.
package kubernetes

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
