package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
)

// createObjects makes the pod's NetworkPolicy, ConfigMap and Secret, then
// the pod, and makes the pod their owner so the cluster removes them with
// it. The policy comes first: the pod never runs without it.
func (e *Engine) createObjects(ctx context.Context, plan *podPlan, stdin []byte) (err error) {
	// A refusal part way (a quota, a permission) leaves nothing behind:
	// what is not yet owned by a pod would stay for good.
	podMade := false
	defer func() {
		if err != nil {
			if podMade {
				e.deletePod(context.WithoutCancel(ctx), plan.id)
			} else {
				e.deleteRunObjects(context.WithoutCancel(ctx), plan.id)
			}
		}
	}()
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: plan.id.Namespace, Labels: plan.pod.Labels}
	}
	var owned []func(metav1.OwnerReference) error
	pol := networkPolicy(plan, meta(policyName(plan.id.Pod)))
	if err := e.api.create(ctx, plan.id.Namespace, networkPolicies, pol, &networkingv1.NetworkPolicy{}); err != nil {
		return e.apiError(fmt.Errorf("creating the pod's network policy: %w", err))
	}
	owned = append(owned, func(ref metav1.OwnerReference) error {
		return e.setOwner(ctx, networkPolicies, pol.Name, ref)
	})
	if len(plan.files) > 0 {
		cm := &corev1.ConfigMap{ObjectMeta: meta(configMapName(plan.id.Pod)), BinaryData: plan.files}
		if err := e.api.create(ctx, plan.id.Namespace, configMaps, cm, &corev1.ConfigMap{}); err != nil {
			return e.apiError(fmt.Errorf("creating the pod's files: %w", err))
		}
		owned = append(owned, func(ref metav1.OwnerReference) error { return e.setOwner(ctx, configMaps, cm.Name, ref) })
	}
	if plan.stdin {
		sec := &corev1.Secret{ObjectMeta: meta(secretName(plan.id.Pod)), Data: map[string][]byte{"stdin": stdin}, Type: corev1.SecretTypeOpaque}
		sec.Immutable = ptr(true)
		if err := e.api.create(ctx, plan.id.Namespace, secrets, sec, &corev1.Secret{}); err != nil {
			return e.apiError(fmt.Errorf("creating the pod's secret: %w", err))
		}
		owned = append(owned, func(ref metav1.OwnerReference) error { return e.setOwner(ctx, secrets, sec.Name, ref) })
		for _, obj := range secretAccess(plan, meta) {
			if err := e.api.create(ctx, plan.id.Namespace, obj.resource, obj.object, obj.into); err != nil {
				return e.apiError(fmt.Errorf("creating the pod's %s: %w", obj.what, err))
			}
			owned = append(owned, func(ref metav1.OwnerReference) error { return e.setOwner(ctx, obj.resource, obj.name, ref) })
		}
	}
	var created corev1.Pod
	if err := e.api.create(ctx, plan.id.Namespace, pods, plan.pod, &created); err != nil {
		return e.apiError(fmt.Errorf("creating the pod: %w", err))
	}
	podMade = true
	ref := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: created.Name, UID: created.UID}
	for _, set := range owned {
		if err := set(ref); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) setOwner(ctx context.Context, resource, name string, ref metav1.OwnerReference) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": []metav1.OwnerReference{ref}}})
	if err := e.api.mergePatch(ctx, e.namespace, resource, name, patch); err != nil {
		return e.apiError(fmt.Errorf("tying %s %s to its pod: %w", resource, name, err))
	}
	return nil
}

// deleteRunObjects removes the objects made for pod id (its owner
// reference removes them too, once the pod is gone; a pod never made
// owns nothing).
func (e *Engine) deleteRunObjects(ctx context.Context, id ID) {
	opts := &metav1.DeleteOptions{}
	e.api.delete(ctx, id.Namespace, networkPolicies, policyName(id.Pod), opts)
	e.api.delete(ctx, id.Namespace, configMaps, configMapName(id.Pod), opts)
	e.api.delete(ctx, id.Namespace, secrets, secretName(id.Pod), opts)
	// Only a pod that read a Secret has these; for the others the calls
	// find nothing, which costs less than knowing.
	e.api.delete(ctx, id.Namespace, roleBindings, accountName(id.Pod), opts)
	e.api.delete(ctx, id.Namespace, roles, accountName(id.Pod), opts)
	e.api.delete(ctx, id.Namespace, serviceAccounts, accountName(id.Pod), opts)
}

// apiObject is an object to create, with where it goes.
type apiObject struct {
	what, resource, name string
	object, into         apiruntime.Object
}

// secretAccess is the service account a pod that reads its Secret runs
// as, the Role that lets it get that one Secret, and the binding between:
// the account is the only one the namespace's RBAC names for the Secret.
// It gets no token (the proxy needs no API: the kubelet mounts the
// Secret), and all three are owned by the pod, so they go with it.
func secretAccess(plan *podPlan, meta func(string) metav1.ObjectMeta) []apiObject {
	name := accountName(plan.id.Pod)
	sa := &corev1.ServiceAccount{ObjectMeta: meta(name), AutomountServiceAccountToken: ptr(false)}
	role := &rbacv1.Role{ObjectMeta: meta(name), Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{""}, Resources: []string{secrets}, ResourceNames: []string{secretName(plan.id.Pod)}, Verbs: []string{"get"},
	}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: meta(name),
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: plan.id.Namespace}},
	}
	return []apiObject{
		{"service account", serviceAccounts, name, sa, &corev1.ServiceAccount{}},
		{"role", roles, name, role, &rbacv1.Role{}},
		{"role binding", roleBindings, name, binding, &rbacv1.RoleBinding{}},
	}
}

// networkPolicy is the pod's only network: the agent reaches its run's
// proxy's port and nothing else, nothing reaches it; the proxy is reached
// by its run's agent alone and dials out.
func networkPolicy(plan *podPlan, meta metav1.ObjectMeta) *networkingv1.NetworkPolicy {
	run := plan.spec.Labels[labels.RunID]
	self := metav1.LabelSelector{MatchLabels: map[string]string{labels.RunID: run, labels.Role: plan.spec.Labels[labels.Role]}}
	pol := &networkingv1.NetworkPolicy{ObjectMeta: meta, Spec: networkingv1.NetworkPolicySpec{
		PodSelector: self,
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
	}}
	tcp := corev1.ProtocolTCP
	switch plan.spec.Network {
	case runtime.NetworkNone:
		if needsProxy(plan.spec) {
			port := intstr.FromInt32(int32(proxyPortFromEnv(plan.spec.Env)))
			pol.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labels.RunID: run, labels.Role: labels.RoleProxy}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
			}}
		}
	case runtime.NetworkOutbound:
		port := intstr.FromInt32(int32(plan.spec.ServesPort))
		pol.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{
			From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labels.RunID: run, labels.Role: labels.RoleAgent}}}},
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
		}}
		pol.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}} // anywhere: the proxy applies the run's policy
	}
	return pol
}

func proxyPortFromEnv(env []string) int {
	for _, kv := range env {
		if v, ok := cutPrefix(kv, envProxyPort+"="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}

// waitPod watches the namespace's pods matching selector until one
// satisfies ok, and returns it.
func (e *Engine) waitPod(ctx context.Context, selector string, ok func(*corev1.Pod) bool) (*corev1.Pod, error) {
	for {
		list, err := e.api.listPods(ctx, e.namespace, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return nil, e.apiError(err)
		}
		for i := range list.Items {
			if ok(&list.Items[i]) {
				return &list.Items[i], nil
			}
		}
		w, err := e.api.watchPods(ctx, e.namespace, metav1.ListOptions{LabelSelector: selector, ResourceVersion: list.ResourceVersion})
		if err != nil {
			return nil, e.apiError(err)
		}
		found, err := func() (*corev1.Pod, error) {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil, context.Cause(ctx)
				case ev, open := <-w.ResultChan():
					if !open {
						return nil, nil // the watch ended: list again
					}
					if pod, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type != watch.Deleted && ok(pod) {
						return pod, nil
					}
				}
			}
		}()
		if found != nil || err != nil {
			return found, err
		}
	}
}

// waitContainer waits until container name of pod id satisfies ok.
func (e *Engine) waitContainer(ctx context.Context, id ID, ok func(*corev1.Pod) (bool, error)) (*corev1.Pod, error) {
	var failed error
	pod, err := e.waitPod(ctx, "", func(p *corev1.Pod) bool {
		if p.Name != id.Pod {
			return false
		}
		done, err := ok(p)
		if err != nil {
			failed = err
			return true
		}
		return done
	})
	if failed != nil {
		return nil, failed
	}
	return pod, err
}

func containerStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// stuck reports a container that cannot start: its image cannot be
// pulled, or its pod failed before it ran.
func stuck(pod *corev1.Pod, name string) error {
	if pod.Status.Phase == corev1.PodFailed {
		return fmt.Errorf("pod %s failed: %s %s", pod.Name, pod.Status.Reason, pod.Status.Message)
	}
	st := containerStatus(pod, name)
	if st == nil || st.State.Waiting == nil {
		return nil
	}
	switch st.State.Waiting.Reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
		return fmt.Errorf("pod %s: container %s cannot start: %s: %s", pod.Name, name, st.State.Waiting.Reason, st.State.Waiting.Message)
	}
	return nil
}
