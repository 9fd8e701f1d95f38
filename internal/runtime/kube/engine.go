package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/plural"
	"github.com/moatsh/moat/internal/runtime"
)

// Engine runs containers as pods of one namespace of one cluster.
type Engine struct {
	opts      Options
	context   string // the context's name, as IDs carry it
	namespace string
	api       *api
	rest      *rest.Config

	mu      sync.Mutex
	pending map[string]*pending    // created, not yet started: the pod is made at start
	sizes   map[string]*lazyStream // attachments with a terminal, for ResizeTTY

	imageMu       sync.Mutex
	moatRef       string // moat's own image, pushed: made on first use
	sidecarSum    func() (string, error)
	fileSums      sync.Map // host path -> sha256, for isSidecar
	entrypointFor func(ctx context.Context, ref string) ([]string, error)
}

// pending is a container created but not started.
type pending struct {
	id     ID
	spec   runtime.ContainerSpec
	attach *lazyStream // an attach made before start
	stdin  *stdinSecret
	start  chan struct{} // closed when started
	once   sync.Once
	err    error
	done   chan struct{} // closed when the pod exists (or failed to)
	// image and entrypoint are the spec's image as the cluster pulls it
	// and its entrypoint, resolved when the container is created ("" and
	// nil for moat's own image).
	image      string
	entrypoint []string
}

// New connects to the cluster o selects.
func New(ctx context.Context, o Options) (*Engine, error) {
	if len(o.AnnotationKey) < minAnnotationKey {
		return nil, fmt.Errorf("kube.Options.AnnotationKey holds %s, want at least %d", plural.Count(len(o.AnnotationKey), "byte"), minAnnotationKey)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, &runtime.UnreachableError{Engine: "Kubernetes", Host: kubeconfigName(rules), Err: err}
	}
	restCfg, err := cc.ClientConfig()
	if err != nil {
		return nil, &runtime.UnreachableError{Engine: "Kubernetes", Host: kubeconfigName(rules), Err: err}
	}
	ns := o.Namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			ns = "default"
		}
	}
	name := o.Context
	if name == "" {
		name = raw.CurrentContext
	}
	restCfg.QPS, restCfg.Burst = 50, 100
	a, err := newAPI(restCfg)
	if err != nil {
		return nil, err
	}
	e := &Engine{opts: o, context: name, namespace: ns, api: a, rest: restCfg, pending: map[string]*pending{}}
	e.sidecarSum = sync.OnceValues(func() (string, error) { return fileSum(o.SidecarBinary) })
	if ep, ok := o.Images.(entrypointSource); ok {
		e.entrypointFor = ep.ImageEntrypoint
	}
	return e, nil
}

// moatImage is moat's own image as the cluster pulls it, built and pushed
// on first use.
func (e *Engine) moatImage(ctx context.Context) (string, error) {
	e.imageMu.Lock()
	defer e.imageMu.Unlock()
	if e.moatRef == "" {
		ref, err := e.ensureMoatImage(ctx)
		if err != nil {
			return "", err
		}
		e.moatRef = ref
	}
	return e.moatRef, nil
}

func kubeconfigName(rules *clientcmd.ClientConfigLoadingRules) string {
	if rules.ExplicitPath != "" {
		return rules.ExplicitPath
	}
	return strings.Join(rules.Precedence, ":")
}

// entrypointSource is an image source that can tell an image's entrypoint,
// which a pod's command replaces.
type entrypointSource interface {
	ImageEntrypoint(ctx context.Context, ref string) ([]string, error)
}

// Context is the kubeconfig context the engine uses, as its IDs name it.
func (e *Engine) Context() string { return e.context }

// Namespace is where the engine's pods go.
func (e *Engine) Namespace() string { return e.namespace }

// StatusCommand shows whether the cluster answers.
func (e *Engine) StatusCommand() string {
	return "kubectl --context " + e.context + " -n " + e.namespace + " get pods"
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// isSidecar reports whether a host file is moat's sidecar binary, which
// moat's image already holds.
func (e *Engine) isSidecar(source string) bool {
	if source == e.opts.SidecarBinary {
		return true
	}
	want, err := e.sidecarSum()
	if err != nil {
		return false
	}
	if s, ok := e.fileSums.Load(source); ok {
		return s == want
	}
	s, err := fileSum(source)
	if err != nil {
		return false
	}
	e.fileSums.Store(source, s)
	return s == want
}

func (e *Engine) podID(name string) ID {
	return ID{Context: e.context, Namespace: e.namespace, Pod: podName(name)}
}

// own checks that id names this engine's cluster and namespace.
func (e *Engine) own(s string) (ID, error) {
	id, err := ParseID(s)
	if err != nil {
		return ID{}, fmt.Errorf("%w: %v", runtime.ErrNotFound, err)
	}
	if id.Context != e.context || id.Namespace != e.namespace {
		return ID{}, fmt.Errorf("container %s is in another cluster or namespace than %s/%s: %w", s, e.context, e.namespace, runtime.ErrNotFound)
	}
	return id, nil
}

// CreateContainer records spec: its pod is made when it starts, once
// moat knows whether a client attached and, for the agent, where its
// proxy is.
func (e *Engine) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) (string, error) {
	if err := unsupported(spec); err != nil {
		return "", err
	}
	id := e.podID(spec.Name)
	err := e.api.get(ctx, id.Namespace, pods, id.Pod, &corev1.Pod{})
	switch {
	case err == nil:
		return "", fmt.Errorf("pod %s/%s exists: %w", id.Namespace, id.Pod, runtime.ErrConflict)
	case !apierrors.IsNotFound(err):
		return "", e.apiError(err)
	}
	p := &pending{id: id, spec: spec, start: make(chan struct{}), done: make(chan struct{})}
	if !e.runsMoatImage(spec) {
		// Pushed now, as the engine's create pins its image: from here
		// on the run no longer needs the local image, which a 'moat clean'
		// elsewhere may remove before the pod is made.
		if p.image, err = e.pushImage(ctx, spec.Image); err != nil {
			return "", err
		}
		if p.entrypoint, err = e.entrypoint(ctx, spec); err != nil {
			return "", err
		}
	}
	if stdinAsSecret(spec) {
		p.stdin = &stdinSecret{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.pending[id.String()]; dup {
		return "", fmt.Errorf("container %s exists: %w", spec.Name, runtime.ErrConflict)
	}
	e.pending[id.String()] = p
	return id.String(), nil
}

// stdinAsSecret: a sidecar's stdin carries its configuration (the proxy's
// grants and keys), written once before it runs: on a cluster it is a
// Secret of the run's, mounted into that pod alone.
func stdinAsSecret(spec runtime.ContainerSpec) bool {
	return spec.OpenStdin && spec.Labels[labels.Role] != labels.RoleAgent && !spec.TTY
}

func (e *Engine) pendingFor(id string) *pending {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pending[id]
}

// StartContainer makes the container's pod and returns once its command
// may run (with the run's directories copied in). A sidecar whose stdin is
// a Secret starts once its stdin is closed.
func (e *Engine) StartContainer(ctx context.Context, s string) error {
	p := e.pendingFor(s)
	if p == nil {
		if _, err := e.own(s); err != nil {
			return err
		}
		return fmt.Errorf("container %s was not created by this process or has started: %w", s, runtime.ErrConflict)
	}
	if p.stdin != nil {
		p.stdin.started(func(data []byte) error { return e.launch(context.WithoutCancel(ctx), p, data) })
		return nil
	}
	return e.launch(ctx, p, nil)
}

// launch makes p's pod and its objects, waits for the setup container,
// copies the run's directories in and lets the main container start.
func (e *Engine) launch(ctx context.Context, p *pending, stdin []byte) (err error) {
	p.once.Do(func() {
		defer close(p.done)
		p.err = e.makePod(ctx, p, stdin)
	})
	<-p.done
	if p.err == nil && p.attach != nil {
		go p.attach.connect()
	}
	return p.err
}

func (e *Engine) makePod(ctx context.Context, p *pending, stdin []byte) error {
	moatImage, err := e.moatImage(ctx)
	if err != nil {
		return err
	}
	o := planOptions{
		moatImage: moatImage, isSidecar: e.isSidecar, readFile: os.ReadFile,
		stdin: p.stdin != nil, waitGo: p.attach != nil && p.attach.opts.TTY,
	}
	o.image, o.entrypoint = p.image, p.entrypoint
	o.hasContent = hasContent
	o.annotationKey = e.opts.AnnotationKey
	plan, err := newPodPlan(p.id, p.spec, o)
	if err != nil {
		return err
	}
	if needsProxy(p.spec) {
		// The proxy's pod, made alongside, may have no address yet: the
		// relay waits for the file moat writes once it has.
		setEnv(plan.pod, mainContainer, envProxyAddr, proxyAddrFile)
	}
	if p.spec.ServesPort > 0 {
		setEnv(plan.pod, mainContainer, envProxyListen, fmt.Sprintf("0.0.0.0:%d", p.spec.ServesPort))
	}
	if err := e.createObjects(ctx, plan, stdin); err != nil {
		return err
	}
	e.mu.Lock()
	delete(e.pending, p.id.String())
	e.mu.Unlock()
	var beforeStart func() error
	if needsProxy(p.spec) {
		// Written by the setup container, before the command's container
		// starts: its relay finds the address at once.
		beforeStart = func() error { return e.tellProxyAddress(ctx, p, setupContainer) }
		if !plan.setup {
			beforeStart = nil
		}
	}
	if err := e.copyIn(ctx, plan, beforeStart); err != nil {
		return err
	}
	if needsProxy(p.spec) && !plan.setup {
		return e.tellProxyAddress(ctx, p, keeperContainer)
	}
	return nil
}

// tellProxyAddress writes the run's proxy's address, once the proxy's pod
// has one, where the agent's relay waits for it, through container (which
// mounts the file's volume writable and runs).
func (e *Engine) tellProxyAddress(ctx context.Context, p *pending, container string) error {
	addr, err := e.proxyAddress(ctx, p.spec)
	if err != nil {
		return err
	}
	if _, err := e.waitContainer(ctx, p.id, func(pod *corev1.Pod) (bool, error) {
		st := containerStatus(pod, container)
		_, ended := mainEnded(pod)
		return st != nil && st.State.Running != nil || ended, stuck(pod, container)
	}); err != nil {
		return err
	}
	args := []string{sidecarInImage, "kube", "done", "--content", addr, proxyAddrFile}
	if err := e.exec(ctx, p.id, container, args, nil, io.Discard); err != nil {
		return fmt.Errorf("telling the agent's pod where its proxy is: %w", err)
	}
	return nil
}

// runsMoatImage reports whether spec's command is moat's own binary (the
// proxy): its pod runs moat's image, not the spec's.
func (e *Engine) runsMoatImage(spec runtime.ContainerSpec) bool {
	if len(spec.Cmd) == 0 || spec.Entrypoint != nil {
		return false
	}
	for _, f := range spec.MoatFiles {
		if f.Target == spec.Cmd[0] && e.isSidecar(f.Source) {
			return true
		}
	}
	return false
}

func (e *Engine) entrypoint(ctx context.Context, spec runtime.ContainerSpec) ([]string, error) {
	if spec.Entrypoint != nil || e.entrypointFor == nil {
		return nil, nil
	}
	return e.entrypointFor(ctx, spec.Image)
}

// Environment the adapter adds (docs/kubernetes.md, Egress).
const (
	envProxyAddr   = "MOAT_PROXY_ADDR"
	envProxyListen = "MOAT_PROXY_LISTEN"
	envProxyPort   = "MOAT_PROXY_PORT"
)

// needsProxy reports whether spec is an agent that reaches its run's proxy.
func needsProxy(spec runtime.ContainerSpec) bool {
	return spec.Network == runtime.NetworkNone && slices.ContainsFunc(spec.Env, func(kv string) bool {
		return strings.HasPrefix(kv, envProxyPort+"=")
	})
}

func setEnv(pod *corev1.Pod, container, name, value string) {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == container {
			pod.Spec.Containers[i].Env = append(pod.Spec.Containers[i].Env, corev1.EnvVar{Name: name, Value: value})
		}
	}
}

// proxyWait bounds the wait for a run's proxy pod to have an address.
const proxyWait = 60 * time.Second

// proxyAddress waits for the run's proxy pod (made alongside) to have an
// address and returns IP:PORT.
func (e *Engine) proxyAddress(ctx context.Context, agent runtime.ContainerSpec) (string, error) {
	run := agent.Labels[labels.RunID]
	sel := labels.RunID + "=" + run + "," + labels.Role + "=" + labels.RoleProxy
	ctx, cancel := context.WithTimeout(ctx, proxyWait)
	defer cancel()
	var port int
	var proxy *pending
	e.mu.Lock()
	for _, p := range e.pending {
		if p.spec.Labels[labels.RunID] == run && p.spec.ServesPort > 0 {
			port, proxy = p.spec.ServesPort, p
		}
	}
	e.mu.Unlock()
	if proxy != nil {
		// Made by this process: if its pod cannot be made (a quota, a
		// refusal), that is the answer, not a wait for the deadline.
		var stop context.CancelCauseFunc
		ctx, stop = context.WithCancelCause(ctx)
		defer stop(nil)
		go func() {
			select {
			case <-proxy.done:
				if proxy.err != nil {
					stop(fmt.Errorf("the run's proxy pod: %w", proxy.err))
				}
			case <-ctx.Done():
			}
		}()
	}
	pod, err := e.waitPod(ctx, sel, func(p *corev1.Pod) bool { return p.Status.PodIP != "" })
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
			return "", cause
		}
		return "", fmt.Errorf("waiting for the run's proxy pod to have an address: %w", err)
	}
	if port == 0 {
		port = proxyPortOf(pod)
	}
	if port == 0 {
		return "", errors.New("the run's proxy pod names no port")
	}
	return fmt.Sprintf("%s:%d", pod.Status.PodIP, port), nil
}

func proxyPortOf(pod *corev1.Pod) int {
	for _, c := range pod.Spec.Containers {
		for _, env := range c.Env {
			if env.Name == envProxyListen {
				_, port, _ := strings.Cut(env.Value, ":")
				var n int
				fmt.Sscan(port, &n)
				return n
			}
		}
	}
	return 0
}

func (e *Engine) apiError(err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if d := status.Status().Details; apierrors.IsNotFound(err) && d != nil && d.Kind == "namespaces" {
			return &NamespaceError{Namespace: d.Name, Err: err}
		}
	}
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%v: %w", err, runtime.ErrNotFound)
	case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err):
		return fmt.Errorf("%v: %w", err, runtime.ErrConflict)
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota"):
		return &QuotaError{Namespace: e.namespace, Err: err}
	case apierrors.IsForbidden(err):
		return &PermissionError{Namespace: e.namespace, Err: err}
	}
	var netErr interface{ Timeout() bool }
	if errors.As(err, &netErr) || strings.Contains(err.Error(), "connection refused") {
		return &runtime.UnreachableError{Engine: "Kubernetes", Host: e.rest.Host, Err: err}
	}
	return err
}

// NamespaceError reports that the namespace runs go to does not exist.
type NamespaceError struct {
	Namespace string
	Err       error
}

func (e *NamespaceError) Error() string {
	return fmt.Sprintf("the cluster has no namespace %s", e.Namespace)
}

func (e *NamespaceError) Unwrap() error { return e.Err }

// Hint says how to make or choose one.
func (e *NamespaceError) Hint() string {
	return "Create it ('kubectl create namespace " + e.Namespace + "'), or choose another with --namespace\n" +
		"or config.yaml's kubernetes: {namespace: NAME}."
}

// QuotaError reports that the namespace's ResourceQuota refused an
// object: moat may make it, but not now.
type QuotaError struct {
	Namespace string
	Err       error
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("namespace %s is at its quota: %v", e.Namespace, e.Err)
}

func (e *QuotaError) Unwrap() error { return e.Err }

// Hint says what a run takes and where to look.
func (e *QuotaError) Hint() string {
	return "A run takes two pods (its command's and its proxy's). Wait for other runs to end, or raise the quota\n" +
		"('kubectl describe resourcequota -n " + e.Namespace + "' shows it)."
}

// PermissionError reports that moat's user may not do something in the
// namespace.
type PermissionError struct {
	Namespace string
	Err       error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("the cluster refused moat in namespace %s: %v", e.Namespace, e.Err)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// Hint names the permissions moat needs.
func (e *PermissionError) Hint() string {
	return "moat needs, in namespace " + e.Namespace + ", to create, get, list, watch and delete pods,\n" +
		"pods/exec, pods/attach, pods/log, secrets, configmaps, serviceaccounts, networkpolicies, roles and\n" +
		"rolebindings (docs/kubernetes.md, RBAC)."
}
