//go:build tools

// Package etcd pins the etcd server that backs the cluster test tier's API server.
package etcd

import _ "go.etcd.io/etcd/server/v3"
