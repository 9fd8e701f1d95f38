package kube

import (
	"context"
	"io"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// api is the part of the Kubernetes API moat uses: pods (with their log,
// exec and attach), secrets, config maps and service accounts, network
// policies, and the Role and RoleBinding of the proxy's Secret. It is
// client-go's REST client over a scheme of those three groups alone: the
// generated clientset registers every API group in its init, which every
// moat process, most of which never reach a cluster, would pay for.
type api struct {
	core, networking, rbac *rest.RESTClient
	params                 apiruntime.ParameterCodec
}

func newAPI(cfg *rest.Config) (*api, error) {
	scheme := apiruntime.NewScheme()
	for _, add := range []func(*apiruntime.Scheme) error{corev1.AddToScheme, networkingv1.AddToScheme, rbacv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	codecs := serializer.NewCodecFactory(scheme)
	client := func(path string, gv schema.GroupVersion) (*rest.RESTClient, error) {
		c := rest.CopyConfig(cfg)
		c.APIPath, c.GroupVersion = path, &gv
		c.NegotiatedSerializer = codecs.WithoutConversion()
		if c.UserAgent == "" {
			c.UserAgent = "moat"
		}
		return rest.RESTClientFor(c)
	}
	core, err := client("/api", corev1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	networking, err := client("/apis", networkingv1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	rbac, err := client("/apis", rbacv1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	return &api{core: core, networking: networking, rbac: rbac, params: apiruntime.NewParameterCodec(scheme)}, nil
}

// The resources moat uses.
const (
	pods            = "pods"
	secrets         = "secrets"
	configMaps      = "configmaps"
	networkPolicies = "networkpolicies"
	serviceAccounts = "serviceaccounts"
	roles           = "roles"
	roleBindings    = "rolebindings"
	namespaces      = "namespaces" // read only, for what the namespace admits
)

func (a *api) client(resource string) *rest.RESTClient {
	switch resource {
	case networkPolicies:
		return a.networking
	case roles, roleBindings:
		return a.rbac
	}
	return a.core
}

func (a *api) get(ctx context.Context, ns, resource, name string, into apiruntime.Object) error {
	return a.client(resource).Get().Namespace(ns).Resource(resource).Name(name).Do(ctx).Into(into)
}

func (a *api) create(ctx context.Context, ns, resource string, obj, into apiruntime.Object) error {
	return a.client(resource).Post().Namespace(ns).Resource(resource).Body(obj).Do(ctx).Into(into)
}

func (a *api) delete(ctx context.Context, ns, resource, name string, opts *metav1.DeleteOptions) error {
	return a.client(resource).Delete().Namespace(ns).Resource(resource).Name(name).Body(opts).Do(ctx).Error()
}

func (a *api) mergePatch(ctx context.Context, ns, resource, name string, patch []byte) error {
	return a.client(resource).Patch(types.MergePatchType).Namespace(ns).Resource(resource).Name(name).Body(patch).Do(ctx).Error()
}

func (a *api) listPods(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.PodList, error) {
	var list corev1.PodList
	err := a.core.Get().Namespace(ns).Resource(pods).VersionedParams(&opts, a.params).Do(ctx).Into(&list)
	return &list, err
}

func (a *api) watchPods(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return a.core.Get().Namespace(ns).Resource(pods).VersionedParams(&opts, a.params).Watch(ctx)
}

func (a *api) podLogs(ctx context.Context, ns, name string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return a.core.Get().Namespace(ns).Resource(pods).Name(name).SubResource("log").VersionedParams(opts, a.params).Stream(ctx)
}

// streamRequest is a pod's exec or attach subresource with its options.
func (a *api) streamRequest(ns, name, sub string, opts apiruntime.Object) *rest.Request {
	return a.core.Post().Namespace(ns).Resource(pods).Name(name).SubResource(sub).VersionedParams(opts, a.params)
}
