module llamafactory-cdk8s/tools/cluster/crds

go 1.24.0

require (
	github.com/kubeflow/training-operator v1.9.3
	istio.io/api v1.24.2
)
