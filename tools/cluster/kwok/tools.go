//go:build tools

// Package kwok pins kwok, which replaces kubelets in the cluster test tier:
// it runs fake nodes and moves their pods to Running, or to Succeeded for Job pods.
package kwok

import _ "sigs.k8s.io/kwok/cmd/kwok"
