package kube

import "context"

// Options selects the cluster and says where images go.
type Options struct {
	Kubeconfig    string // "" means $KUBECONFIG, else ~/.kube/config
	Context       string // "" means the kubeconfig's current context
	Namespace     string // "" means the context's namespace, else "default"
	Registry      string // where run images are pushed and pulled from (config.yaml registry:)
	Images        ImageSource
	SidecarBinary string // the static moat-sidecar the pods' moat image holds
	// AnnotationKey signs what moat records on its pods and acts on later
	// (where their directories are copied back to): at least 32 secret
	// bytes of the moat home's. Pods signed with another key are listed,
	// stopped and removed, but nothing is copied back from them.
	AnnotationKey []byte
}

// minAnnotationKey is the shortest AnnotationKey New accepts.
const minAnnotationKey = 32

// ImageSource is the local engine that builds images and pushes them.
type ImageSource interface {
	ImageID(ctx context.Context, ref string) (string, error)
	PushImage(ctx context.Context, id, repo string) (string, error)
}
