package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/moatsh/moat/internal/runtime"
)

// mainEnded reports whether pod's main container has ended, and how.
func mainEnded(pod *corev1.Pod) (code int, ended bool) {
	if st := containerStatus(pod, mainContainer); st != nil && st.State.Terminated != nil {
		return int(st.State.Terminated.ExitCode), true
	}
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		return 128 + 9, true
	}
	return 0, false
}

// WaitContainer waits for the main container to end, copies the run's
// directories back, and returns its exit code.
func (e *Engine) WaitContainer(ctx context.Context, s string) (int, error) {
	id, err := e.own(s)
	if err != nil {
		return -1, err
	}
	if p := e.pendingFor(s); p != nil {
		select {
		case <-p.done:
		case <-ctx.Done():
			return -1, context.Cause(ctx)
		}
	}
	pod, err := e.waitContainer(ctx, id, func(p *corev1.Pod) (bool, error) {
		_, ended := mainEnded(p)
		return ended, nil
	})
	if err != nil {
		return -1, err
	}
	code, _ := mainEnded(pod)
	if err := e.copyOut(context.WithoutCancel(ctx), pod); err != nil {
		return code, err
	}
	return code, nil
}

// StopContainer ends the main container's command: SIGTERM through its
// init, SIGKILL after grace.
func (e *Engine) StopContainer(ctx context.Context, s string, grace time.Duration) error {
	id, err := e.own(s)
	if err != nil {
		return err
	}
	if p := e.pendingFor(s); p != nil {
		e.forget(s)
		return nil
	}
	pod, err := e.getPod(ctx, id)
	if err != nil {
		return err
	}
	if _, ended := mainEnded(pod); ended {
		return nil
	}
	var out strings.Builder
	args := []string{initBinary(pod), "kube", "stop", "--grace", grace.String()}
	// The exec ends with the container when the command stops in time
	// (the container's end kills it): its own status says nothing then.
	execErr := e.exec(ctx, id, mainContainer, args, nil, &out)
	wctx, cancel := context.WithTimeout(ctx, grace+10*time.Second)
	defer cancel()
	_, err = e.waitContainer(wctx, id, func(p *corev1.Pod) (bool, error) {
		_, ended := mainEnded(p)
		return ended, nil
	})
	if err != nil && execErr != nil {
		return fmt.Errorf("stopping %s: %v %s", id.Pod, execErr, strings.TrimSpace(out.String()))
	}
	return err
}

// initBinary is where pod's main container has moat-sidecar, as its
// init names it: staged, or in moat's own image (the proxy's pod).
func initBinary(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name == mainContainer && len(c.Command) > 0 {
			return c.Command[0]
		}
	}
	return sidecarInMain
}

func (e *Engine) forget(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.pending, s)
}

func (e *Engine) getPod(ctx context.Context, id ID) (*corev1.Pod, error) {
	var pod corev1.Pod
	if err := e.api.get(ctx, id.Namespace, pods, id.Pod, &pod); err != nil {
		return nil, e.apiError(err)
	}
	return &pod, nil
}

// RemoveContainer removes a container as the engine's forced removal
// does: a running command is stopped first, and what it changed copied
// back, then the pod and its objects go. A command that never started
// (its pod still setting up, or refused) changed nothing to copy.
func (e *Engine) RemoveContainer(ctx context.Context, s string) error {
	id, err := e.own(s)
	if err != nil {
		return err
	}
	if e.pendingFor(s) != nil {
		e.forget(s)
		return nil
	}
	pod, err := e.getPod(ctx, id)
	if errors.Is(err, runtime.ErrNotFound) {
		e.deleteRunObjects(ctx, id)
		return nil
	}
	if err != nil {
		return err
	}
	if st := containerStatus(pod, mainContainer); st != nil && st.State.Running != nil {
		// A command that does not stop is killed with its pod: removal
		// is forced, as the engine's is.
		e.StopContainer(ctx, s, removeGrace)
		if pod, err = e.getPod(ctx, id); err != nil {
			return err
		}
	}
	if mainStarted(pod) {
		if err := e.copyOut(ctx, pod); err != nil {
			var changed *RecordChangedError
			if !errors.As(err, &changed) {
				return err
			}
			// Nothing can be copied back from it, now or later: keeping
			// it would only leave it behind.
			if err := e.deletePod(ctx, id); err != nil {
				return err
			}
			changed.Removed = true
			return changed
		}
	}
	return e.deletePod(ctx, id)
}

// removeGrace is how long a command removed while it runs gets to stop.
const removeGrace = 2 * time.Second

// mainStarted reports whether pod's main container ever ran.
func mainStarted(pod *corev1.Pod) bool {
	st := containerStatus(pod, mainContainer)
	return st != nil && (st.State.Running != nil || st.State.Terminated != nil && !st.State.Terminated.StartedAt.IsZero())
}

func (e *Engine) deletePod(ctx context.Context, id ID) error {
	err := e.api.delete(ctx, id.Namespace, pods, id.Pod, &metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
	e.deleteRunObjects(ctx, id)
	if err != nil && !apierrors.IsNotFound(err) {
		return e.apiError(err)
	}
	return nil
}

// WaitRemoved waits for a container that removes itself (the proxy) to
// end; its pod goes then, once its directories are back.
func (e *Engine) WaitRemoved(ctx context.Context, s string) error {
	id, err := e.own(s)
	if err != nil {
		return err
	}
	pod, err := e.waitContainer(ctx, id, func(p *corev1.Pod) (bool, error) {
		_, ended := mainEnded(p)
		return ended, nil
	})
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := e.copyOut(ctx, pod); err != nil {
		return err
	}
	return e.deletePod(ctx, id)
}

// InspectContainer reports the main container.
func (e *Engine) InspectContainer(ctx context.Context, s string) (runtime.ContainerInfo, error) {
	id, err := e.own(s)
	if err != nil {
		return runtime.ContainerInfo{}, err
	}
	if p := e.pendingFor(s); p != nil {
		return runtime.ContainerInfo{ID: s, Name: p.spec.Name, Image: p.spec.Image, Labels: p.spec.Labels, State: "created"}, nil
	}
	pod, err := e.getPod(ctx, id)
	if err != nil {
		return runtime.ContainerInfo{}, err
	}
	return e.info(pod), nil
}

func (e *Engine) info(pod *corev1.Pod) runtime.ContainerInfo {
	info := runtime.ContainerInfo{
		ID: ID{Context: e.context, Namespace: pod.Namespace, Pod: pod.Name}.String(), Name: pod.Name,
		Labels: podLabelsOf(e.opts.AnnotationKey, pod), State: "created",
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == mainContainer {
			info.Image = c.Image
		}
	}
	st := containerStatus(pod, mainContainer)
	if st != nil {
		info.ImageID = st.ImageID
		switch {
		case st.State.Running != nil:
			info.State, info.Running, info.StartedAt = "running", true, st.State.Running.StartedAt.Time
		case st.State.Terminated != nil:
			t := st.State.Terminated
			info.State, info.ExitCode, info.StartedAt, info.FinishedAt = "exited", int(t.ExitCode), t.StartedAt.Time, t.FinishedAt.Time
		}
	}
	if pod.DeletionTimestamp != nil && !info.Running {
		info.State = "removing"
	}
	return info
}

// ListContainers lists the namespace's pods with label ("key=value" or
// "key").
func (e *Engine) ListContainers(ctx context.Context, label string) ([]runtime.ContainerInfo, error) {
	list, err := e.api.listPods(ctx, e.namespace, metav1.ListOptions{LabelSelector: label})
	if err != nil {
		return nil, e.apiError(err)
	}
	out := make([]runtime.ContainerInfo, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, e.info(&list.Items[i]))
	}
	return out, nil
}

// markCopied records on the pod that its directories are back.
func (e *Engine) markCopied(ctx context.Context, id ID) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{annoCopied: "true"}}})
	if err := e.api.mergePatch(ctx, id.Namespace, pods, id.Pod, patch); err != nil {
		return e.apiError(err)
	}
	return nil
}
