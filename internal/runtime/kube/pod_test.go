package kube

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
)

func agentSpec(t *testing.T) runtime.ContainerSpec {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, []byte("CERT"), 0o644)
	lbl := labels.ForRun("abc123", "brave-otter", labels.RoleAgent, "v1")
	lbl[labels.Workspace] = "/home/me/project with space"
	return runtime.ContainerSpec{
		Name: "moat-abc123", Image: "sha256:feed", Cmd: []string{"--", "sh", "-c", "echo hi"},
		Env: []string{"MOAT_UID=1000", "MOAT_PROXY_PORT=3128"}, WorkingDir: "/workspace",
		Mounts:  []runtime.Mount{{Source: dir, Target: "/workspace"}},
		Labels:  lbl,
		Init:    true,
		CapDrop: []string{"ALL"}, CapAdd: []string{"CHOWN", "SETUID"}, NoNewPrivileges: true,
		Network:    runtime.NetworkNone,
		ExtraHosts: []string{"proxy:127.0.0.1"},
		MoatFiles:  []runtime.MoatFile{{Source: ca, Target: "/run/moat/proxy-ca.pem"}, {Source: "/usr/bin/moat-sidecar", Target: "/run/moat/bin/moat"}},
		SharedDirs: []runtime.SharedDir{{Source: filepath.Join(dir, "sock"), Target: "/run/moat/sock", ReadOnly: true}},
		Memory:     1 << 30, NanoCPUs: 2e9,
	}
}

func planFor(t *testing.T, spec runtime.ContainerSpec, o planOptions) *podPlan {
	t.Helper()
	if o.moatImage == "" {
		o.moatImage = "reg/moat@sha256:aa"
	}
	if o.isSidecar == nil {
		o.isSidecar = func(s string) bool { return s == "/usr/bin/moat-sidecar" }
	}
	if o.readFile == nil {
		o.readFile = os.ReadFile
	}
	if o.hasContent == nil {
		o.hasContent = hasContent
	}
	if o.annotationKey == nil {
		o.annotationKey = testKey
	}
	p, err := newPodPlan(ID{Context: "c", Namespace: "ns", Pod: podName(spec.Name)}, spec, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func container(t *testing.T, pod *corev1.Pod, name string) corev1.Container {
	t.Helper()
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("pod has no container %s", name)
	return corev1.Container{}
}

func TestAgentPodHasNoWayOutButItsProxy(t *testing.T) {
	spec := agentSpec(t)
	p := planFor(t, spec, planOptions{image: "reg/moat@sha256:bb", entrypoint: []string{"/usr/local/bin/moat-init"}})
	pod := p.pod
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("the agent's pod mounts a service account token")
	}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		t.Error("the agent's pod gets service links")
	}
	if pod.Spec.DNSPolicy != corev1.DNSNone || !slices.Equal(pod.Spec.DNSConfig.Nameservers, []string{"127.0.0.1"}) {
		t.Errorf("DNS: %s %+v, want none with loopback only", pod.Spec.DNSPolicy, pod.Spec.DNSConfig)
	}
	if pod.Spec.HostNetwork || pod.Spec.HostPID || pod.Spec.HostIPC {
		t.Error("the agent's pod shares a host namespace")
	}
	main := container(t, pod, mainContainer)
	if !p.setup || len(pod.Spec.InitContainers) != 1 {
		t.Error("the agent's pod, with files to stage and a workspace to copy in, has no setup container")
	}
	want := []string{sidecarInMain, "kube", "init", "--", "/usr/local/bin/moat-init", "--", "sh", "-c", "echo hi"}
	if !slices.Equal(main.Command, want) {
		t.Errorf("command %q, want %q", main.Command, want)
	}
	sc := main.SecurityContext
	if *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 2 {
		t.Errorf("security context %+v", sc)
	}
	if main.Resources.Limits.Memory().Value() != 1<<30 || main.Resources.Limits.Cpu().MilliValue() != 2000 {
		t.Errorf("limits %v", main.Resources.Limits)
	}

	pol := networkPolicy(p, metav1.ObjectMeta{Name: "x"})
	if !slices.Contains(pol.Spec.PolicyTypes, "Egress") || !slices.Contains(pol.Spec.PolicyTypes, "Ingress") {
		t.Fatalf("policy types %v", pol.Spec.PolicyTypes)
	}
	if len(pol.Spec.Ingress) != 0 {
		t.Errorf("the agent accepts ingress: %+v", pol.Spec.Ingress)
	}
	if len(pol.Spec.Egress) != 1 || len(pol.Spec.Egress[0].To) != 1 || pol.Spec.Egress[0].To[0].IPBlock != nil ||
		pol.Spec.Egress[0].To[0].PodSelector.MatchLabels[labels.Role] != labels.RoleProxy ||
		pol.Spec.Egress[0].To[0].PodSelector.MatchLabels[labels.RunID] != "abc123" ||
		pol.Spec.Egress[0].Ports[0].Port.IntValue() != 3128 {
		t.Errorf("egress %+v, want the run's proxy pod on 3128 alone", pol.Spec.Egress)
	}
	if pol.Spec.PodSelector.MatchLabels[labels.Role] != labels.RoleAgent {
		t.Errorf("the policy selects %v", pol.Spec.PodSelector.MatchLabels)
	}
}

func TestAgentWithoutProxyGetsNoEgressAtAll(t *testing.T) {
	spec := agentSpec(t)
	spec.Env = []string{"MOAT_UID=1000"}
	p := planFor(t, spec, planOptions{image: "img"})
	pol := networkPolicy(p, metav1.ObjectMeta{})
	if len(pol.Spec.Egress) != 0 || len(pol.Spec.Ingress) != 0 {
		t.Errorf("policy none: egress %+v ingress %+v, want neither", pol.Spec.Egress, pol.Spec.Ingress)
	}
}

func TestProxyPodRunsMoatsImageAndReadsItsSecret(t *testing.T) {
	spec := runtime.ContainerSpec{
		Name: "moat-abc123-proxy", Cmd: []string{"/moat", "proxy", "serve"},
		Labels:    labels.ForRun("abc123", "n", labels.RoleProxy, "v1"),
		MoatFiles: []runtime.MoatFile{{Source: "/usr/bin/moat-sidecar", Target: "/moat"}},
		OpenStdin: true, User: "1000:1000", CapDrop: []string{"ALL"}, NoNewPrivileges: true, ReadOnlyRootfs: true,
		Network: runtime.NetworkOutbound, ServesPort: 3128,
	}
	p := planFor(t, spec, planOptions{stdin: true})
	main := container(t, p.pod, mainContainer)
	if main.Image != "reg/moat@sha256:aa" {
		t.Errorf("image %q, want moat's", main.Image)
	}
	if main.Stdin {
		t.Error("the proxy's stdin is attached: it must come from its Secret")
	}
	// moat's binary is in moat's image: nothing to stage, no setup
	// container, the command names the binary there.
	want := []string{sidecarInImage, "kube", "init", "--stdin", stdinFile, "--", sidecarInImage, "proxy", "serve"}
	if !slices.Equal(main.Command, want) {
		t.Errorf("command %q, want %q", main.Command, want)
	}
	if len(p.pod.Spec.InitContainers) != 0 || p.setup {
		t.Errorf("the proxy's pod has a setup container: %+v", p.pod.Spec.InitContainers)
	}
	for _, m := range main.VolumeMounts {
		if m.Name == "moat-files" {
			t.Errorf("the proxy mounts a staged file: %+v", m)
		}
	}
	if *main.SecurityContext.RunAsUser != 1000 || !*main.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("security %+v", main.SecurityContext)
	}
	var secretVol bool
	for _, v := range p.pod.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == secretName(p.id.Pod) {
			secretVol = true
		}
	}
	if !secretVol {
		t.Error("no Secret volume")
	}
	pol := networkPolicy(p, metav1.ObjectMeta{})
	if len(pol.Spec.Ingress) != 1 || pol.Spec.Ingress[0].From[0].PodSelector.MatchLabels[labels.Role] != labels.RoleAgent ||
		pol.Spec.Ingress[0].Ports[0].Port.IntValue() != 3128 {
		t.Errorf("ingress %+v, want the run's agent on 3128 alone", pol.Spec.Ingress)
	}
	// It runs as its own account, which alone may get its Secret.
	if p.pod.Spec.ServiceAccountName != accountName(p.id.Pod) || *p.pod.Spec.AutomountServiceAccountToken {
		t.Errorf("service account %q, token %v; want its own, no token", p.pod.Spec.ServiceAccountName, *p.pod.Spec.AutomountServiceAccountToken)
	}
	objs := secretAccess(p, func(n string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: n} })
	sa, role, binding := objs[0].object.(*corev1.ServiceAccount), objs[1].object.(*rbacv1.Role), objs[2].object.(*rbacv1.RoleBinding)
	if sa.Name != p.pod.Spec.ServiceAccountName || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("service account %+v, want the pod's, without a token", sa)
	}
	if len(role.Rules) != 1 || !slices.Equal(role.Rules[0].Verbs, []string{"get"}) || !slices.Equal(role.Rules[0].Resources, []string{"secrets"}) ||
		!slices.Equal(role.Rules[0].ResourceNames, []string{secretName(p.id.Pod)}) {
		t.Errorf("role rules %+v, want get on the pod's Secret alone", role.Rules)
	}
	if binding.RoleRef.Name != role.Name || len(binding.Subjects) != 1 || binding.Subjects[0].Name != sa.Name ||
		binding.Subjects[0].Kind != "ServiceAccount" || binding.Subjects[0].Namespace != p.id.Namespace {
		t.Errorf("binding %+v, want the role bound to the account alone", binding)
	}
}

func TestAgentPodRunsAsTheDefaultAccountWithoutAToken(t *testing.T) {
	p := planFor(t, agentSpec(t), planOptions{})
	if p.pod.Spec.ServiceAccountName != "" || *p.pod.Spec.AutomountServiceAccountToken {
		t.Errorf("service account %q, token %v; want the default, no token", p.pod.Spec.ServiceAccountName, *p.pod.Spec.AutomountServiceAccountToken)
	}
}

func TestLabelsKeptWhereKubernetesRefusesThem(t *testing.T) {
	spec := agentSpec(t)
	p := planFor(t, spec, planOptions{image: "img"})
	if _, ok := p.pod.Labels[labels.Workspace]; ok {
		t.Error("a path became a label value")
	}
	if p.pod.Labels[labels.RunID] != "abc123" || p.pod.Labels[labels.Managed] != "true" {
		t.Errorf("labels %v", p.pod.Labels)
	}
	back := podLabelsOf(testKey, p.pod)
	if back[labels.Workspace] != spec.Labels[labels.Workspace] {
		t.Errorf("workspace label read back as %q", back[labels.Workspace])
	}
}

func TestMoatFilesStagedAndDirsRecorded(t *testing.T) {
	spec := agentSpec(t)
	p := planFor(t, spec, planOptions{image: "img"})
	if string(p.files["f0"]) != "CERT" || len(p.files) != 1 {
		t.Errorf("ConfigMap data %v, want the CA alone (the binary comes from moat's image)", p.files)
	}
	main := container(t, p.pod, mainContainer)
	var ca, bin bool
	for _, m := range main.VolumeMounts {
		switch m.MountPath {
		case "/run/moat/proxy-ca.pem":
			ca = m.SubPath == "f0" && m.ReadOnly
		case "/run/moat/bin/moat":
			bin = m.SubPath == sidecarKey && m.ReadOnly
		}
	}
	if !ca || !bin {
		t.Errorf("moat files not mounted read-only from the stage: %+v", main.VolumeMounts)
	}
	var dirs []hostDir
	if err := json.Unmarshal([]byte(p.pod.Annotations[annoDirs]), &dirs); err != nil || len(dirs) != 2 {
		t.Fatalf("dirs annotation %q: %v", p.pod.Annotations[annoDirs], err)
	}
	if dirs[0].Target != "/workspace" || dirs[0].ReadOnly || dirs[0].Shared || !dirs[1].Shared || !dirs[1].ReadOnly {
		t.Errorf("dirs %+v", dirs)
	}
	if got := writable(dirs); len(got) != 1 || got[0].Target != "/workspace" {
		t.Errorf("writable %+v, want the workspace alone", got)
	}
}

func TestRefusesWhatAPodCannotCarry(t *testing.T) {
	for name, mod := range map[string]func(*runtime.ContainerSpec){
		"engine socket": func(s *runtime.ContainerSpec) { s.EngineSocket = "/var/run/docker.sock" },
		"join":          func(s *runtime.ContainerSpec) { s.Join = &runtime.Join{Container: "x"} },
		"volume":        func(s *runtime.ContainerSpec) { s.Volumes = []runtime.VolumeMount{{Name: "v", Target: "/v"}} },
		"device":        func(s *runtime.ContainerSpec) { s.Devices = []string{"/dev/net/tun"} },
		"unmasked":      func(s *runtime.ContainerSpec) { s.UnmaskSystemPaths = true },
		"default net":   func(s *runtime.ContainerSpec) { s.Network = runtime.NetworkDefault },
	} {
		spec := agentSpec(t)
		mod(&spec)
		_, err := newPodPlan(ID{Pod: "p"}, spec, planOptions{moatImage: "m", image: "i"})
		var ue *runtime.UnsupportedError
		if !errors.As(err, &ue) || ue.Engine != "Kubernetes" {
			t.Errorf("%s: %v, want an UnsupportedError", name, err)
		}
	}
}

func TestPodNames(t *testing.T) {
	for in, want := range map[string]string{
		"moat-abc123":           "moat-abc123",
		"moat-abc123-proxy":     "moat-abc123-proxy",
		"Moat_ABC.x":            "moat-abc-x",
		"---":                   "moat",
		strings.Repeat("a", 80): strings.Repeat("a", 63),
	} {
		if got := podName(in); got != want {
			t.Errorf("podName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHostAliases(t *testing.T) {
	got := hostAliases([]string{"proxy:127.0.0.1", "moat-proxy:127.0.0.1", "x:10.0.0.1", "bad"})
	if len(got) != 2 || !slices.Equal(got[0].Hostnames, []string{"proxy", "moat-proxy"}) || got[1].IP != "10.0.0.1" {
		t.Errorf("%+v", got)
	}
}

func TestCRLFWriter(t *testing.T) {
	var b strings.Builder
	w := &crlfWriter{w: &b}
	for _, chunk := range []string{"a\nb\r", "\nc\n", "\n"} {
		w.Write([]byte(chunk))
	}
	if got, want := b.String(), "a\r\nb\r\nc\r\n\r\n"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestMainStartedAndEnded(t *testing.T) {
	status := func(s corev1.ContainerState) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: mainContainer, State: s}}}}
	}
	started := metav1.Now()
	for name, c := range map[string]struct {
		pod            *corev1.Pod
		started, ended bool
		code           int
	}{
		"never scheduled": {&corev1.Pod{}, false, false, 0},
		"waiting":         {status(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}), false, false, 0},
		"running":         {status(corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}), true, false, 0},
		"exited 3":        {status(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, StartedAt: started}}), true, true, 3},
		"never started":   {status(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError"}}), false, true, 128},
	} {
		code, ended := mainEnded(c.pod)
		if got := mainStarted(c.pod); got != c.started || ended != c.ended || code != c.code {
			t.Errorf("%s: started %v ended %v code %d; want %v %v %d", name, got, ended, code, c.started, c.ended, c.code)
		}
	}
}

func TestMissingNamespaceIsNamed(t *testing.T) {
	e := &Engine{namespace: "agents"}
	err := e.apiError(fmt.Errorf("creating the pod: %w", apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "agents")))
	var ne *NamespaceError
	if !errors.As(err, &ne) || ne.Namespace != "agents" || !strings.Contains(ne.Hint(), "kubectl create namespace agents") {
		t.Errorf("%v (%T), want a NamespaceError naming agents", err, err)
	}
	err = e.apiError(apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "moat-x"))
	if !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("a missing pod: %v, want ErrNotFound", err)
	}
}

// A quota's refusal is a Forbidden too, but not a missing permission:
// the error says which it is, and the other stays a PermissionError.
func TestQuotaRefusalIsNotAPermissionError(t *testing.T) {
	e := &Engine{namespace: "agents"}
	gr := schema.GroupResource{Resource: "pods"}
	err := e.apiError(apierrors.NewForbidden(gr, "moat-x", errors.New("exceeded quota: one-pod, requested: pods=1, used: pods=1, limited: pods=1")))
	var qe *QuotaError
	if !errors.As(err, &qe) || !strings.Contains(qe.Hint(), "kubectl describe resourcequota -n agents") {
		t.Errorf("%v (%T), want a QuotaError naming the namespace", err, err)
	}
	err = e.apiError(apierrors.NewForbidden(gr, "moat-x", errors.New(`User "ci" cannot create resource "pods"`)))
	var pe *PermissionError
	if !errors.As(err, &pe) {
		t.Errorf("%v (%T), want a PermissionError", err, err)
	}
}
