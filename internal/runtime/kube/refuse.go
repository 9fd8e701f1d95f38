package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/moatsh/moat/internal/runtime"
)

// podSecurityEnforce is the namespace label of Pod Security admission's
// enforced level.
const podSecurityEnforce = "pod-security.kubernetes.io/enforce"

// DindError reports that a run asks for docker:dind on a cluster. A nested
// Docker daemon needs, in the pod, what only a privileged pod has; moat
// makes no privileged pods (docs/kubernetes.md, docker:dind).
type DindError struct {
	Namespace string
	// Enforce is the namespace's Pod Security level ("" when unset or
	// when moat may not read the namespace).
	Enforce string
}

func (e *DindError) Error() string {
	msg := "docker:dind is not available on Kubernetes: a nested Docker daemon needs a privileged pod, which moat does not make"
	if e.Enforce != "" {
		msg += fmt.Sprintf(" (namespace %s enforces Pod Security level %q)", e.Namespace, e.Enforce)
	}
	return msg
}

// Hint says what the pod would need, and what to do instead.
func (e *DindError) Hint() string {
	return "The daemon needs the capability SYS_ADMIN until it starts, the device /dev/net/tun, a seccomp profile that\n" +
		"allows mounts and user namespaces, and setuid binaries. On a cluster only 'privileged: true' gives a pod a device,\n" +
		"only Pod Security level 'privileged' admits that, and such a pod is root on its node if the agent escapes it.\n" +
		"Run this agent on a Docker engine (--runtime docker, where docker:dind needs none of that), or drop docker:dind."
}

// RefuseFeature says why the cluster cannot give a run feature, or nil if
// nothing is known against it.
func (e *Engine) RefuseFeature(ctx context.Context, feature string) error {
	if feature == "ssh grants" {
		return &runtime.UnsupportedError{Feature: "SSH through an ssh grant", Engine: "Kubernetes",
			Reason: "the run's SSH agent is served by its proxy, and a key kept by your ssh-agent cannot reach a pod on another node; SSH on a cluster is not built yet",
			Remedy: "Run this agent on a Docker engine (--runtime docker) to use ssh grants, or use an https remote with a github or http grant."}
	}
	if feature != "docker:dind" {
		return nil
	}
	de := &DindError{Namespace: e.namespace}
	var ns corev1.Namespace
	if err := e.api.core.Get().Resource(namespaces).Name(e.namespace).Do(ctx).Into(&ns); err == nil {
		de.Enforce = ns.Labels[podSecurityEnforce]
	}
	return de
}
