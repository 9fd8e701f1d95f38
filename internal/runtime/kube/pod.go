package kube

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/moatsh/moat/internal/labels"
	"github.com/moatsh/moat/internal/runtime"
)

// The containers of every moat pod (docs/kubernetes.md).
const (
	mainContainer   = "main"
	setupContainer  = "moat-setup"
	keeperContainer = "moat-keeper"
)

// Paths of moat's own inside its pods, under a directory no spec names
// (the proxy's binary is /moat).
const (
	// sidecarInImage is the static moat-sidecar in moat's image.
	sidecarInImage = "/moat-sidecar"
	podDir         = "/moat-pod"
	// sidecarInMain is where the main container finds it (staged by the
	// setup container): its PID 1 runs from there.
	sidecarInMain = podDir + "/bin/moat-sidecar"
	stageDir      = podDir + "/stage"  // the setup container's view of the staged files
	configDir     = podDir + "/config" // the ConfigMap of small files, in the setup container
	ctlDir        = podDir + "/ctl"    // the setup-done and go-ahead files
	stdinDir      = podDir + "/stdin"  // the Secret a sidecar reads as its stdin
	dirsRoot      = podDir + "/d"      // the run's directories, in the setup and keeper containers
	setupDone     = ctlDir + "/setup-done"
	goAhead       = ctlDir + "/go"
	proxyAddrFile = ctlDir + "/proxy-addr"
	stdinFile     = stdinDir + "/stdin"
	sidecarKey    = "moat-sidecar"
)

// Annotations moat writes on its pods.
const (
	annoLabels = "moat.sh/labels" // every label, JSON: some values are no valid label values
	annoDirs   = "moat.sh/dirs"   // the run's directories and their host sources, JSON
	annoCopied = "moat.sh/copied-out"
	// annoSig (annosig.go) signs annoLabels and annoDirs.
)

// hostDir is one of the run's host directories (or files) a pod holds in
// a volume of its own: copied in before the main container starts and,
// unless read-only, out when it ends.
type hostDir struct {
	Volume   string `json:"volume"`
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
	File     bool   `json:"file,omitempty"` // Source is a file: the volume holds it as fileKey
	// Shared is a directory the run shares with moat (SharedDir): copied
	// back without removing what moat keeps there; a Mount (the
	// workspace) is mirrored, so what the agent removed is removed.
	Shared bool `json:"shared,omitempty"`
	// Empty is a host directory that holds nothing but directories when
	// the run starts: nothing to copy in.
	Empty bool `json:"empty,omitempty"`
}

// fileKey is the name a mounted file has in its volume.
const fileKey = "file"

// podPlan is a container spec turned into the objects of one pod.
type podPlan struct {
	id        ID
	spec      runtime.ContainerSpec
	role      string
	pod       *corev1.Pod
	dirs      []hostDir
	files     map[string][]byte // the ConfigMap's data: small moat files
	stdin     bool              // the main container reads its stdin from a Secret
	setup     bool              // the pod has a setup container, which copyIn releases
	waitGo    bool              // the main container waits for moat's go-ahead
	moatImage string
}

// planOptions is what a pod plan needs beside the spec.
type planOptions struct {
	moatImage  string // moat's own image, by digest
	image      string // the spec's image, as the cluster pulls it ("" with moatImage)
	entrypoint []string
	isSidecar  func(source string) bool // whether a MoatFile is the sidecar binary
	hasContent func(source string) bool // whether a host directory holds more than empty directories
	readFile   func(source string) ([]byte, error)
	stdin      bool // deliver the stdin written before start as a Secret
	// waitGo holds the command until moat's go-ahead: a terminal's output
	// comes over the attachment, which must be up before the first byte.
	waitGo        bool
	keeperUser    int64
	annotationKey []byte // signs the pod's annotations (annosig.go)
}

// maxConfigFile bounds a moat file carried in the pod's ConfigMap (whose
// whole size the API limits to 1 MiB).
const maxConfigFile = 256 << 10

var podNameInvalid = regexp.MustCompile(`[^a-z0-9-]+`)

// podName turns a container name into a pod name (a DNS label).
func podName(name string) string {
	n := strings.Trim(podNameInvalid.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(n) > 63 {
		n = strings.TrimRight(n[:63], "-")
	}
	if n == "" {
		n = "moat"
	}
	return n
}

// podLabels keeps the labels Kubernetes accepts as they are; the others
// (a path) live only in the annotation.
func podLabels(in map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		if len(validation.IsQualifiedName(k)) == 0 && len(validation.IsValidLabelValue(v)) == 0 {
			out[k] = v
		}
	}
	return out
}

// newPodPlan maps spec to a pod: the intents of docs/architecture.md as
// docs/kubernetes.md describes.
func newPodPlan(id ID, spec runtime.ContainerSpec, o planOptions) (*podPlan, error) {
	if err := unsupported(spec); err != nil {
		return nil, err
	}
	p := &podPlan{id: id, spec: spec, role: spec.Labels[labels.Role], files: map[string][]byte{}, stdin: o.stdin, waitGo: o.waitGo, moatImage: o.moatImage}
	allLabels, err := json.Marshal(spec.Labels)
	if err != nil {
		return nil, err
	}
	main := corev1.Container{
		Name: mainContainer, Image: o.image, WorkingDir: spec.WorkingDir,
		Env: envVars(spec.Env), TTY: spec.TTY, Stdin: spec.OpenStdin && !o.stdin, StdinOnce: spec.OpenStdin && !o.stdin,
		ImagePullPolicy: corev1.PullIfNotPresent,
		SecurityContext: containerSecurity(spec),
		Resources:       resources(spec),
	}
	entry := o.entrypoint
	if spec.Entrypoint != nil {
		entry = spec.Entrypoint
	}
	cmd := slices.Concat(entry, spec.Cmd)
	if len(cmd) == 0 {
		return nil, fmt.Errorf("container %s: no command and no entrypoint", spec.Name)
	}
	sidecar := sidecarInMain // staged by the setup container
	if o.image == "" {
		// moat's own binary, run from moat's image, where it is already:
		// the command names it there, and nothing needs staging.
		main.Image, sidecar = o.moatImage, sidecarInImage
		for i, a := range cmd {
			for _, f := range spec.MoatFiles {
				if a == f.Target && o.isSidecar(f.Source) {
					cmd[i] = sidecarInImage
				}
			}
		}
	}
	initArgs := []string{sidecar, "kube", "init"}
	if o.stdin {
		initArgs = append(initArgs, "--stdin", stdinFile)
	}
	if o.waitGo {
		initArgs = append(initArgs, "--wait-go", goAhead)
	}
	main.Command = slices.Concat(initArgs, []string{"--"}, cmd)

	setup := corev1.Container{
		Name: setupContainer, Image: o.moatImage, ImagePullPolicy: corev1.PullIfNotPresent,
		Command: []string{sidecarInImage, "kube", "setup", "--self", stageDir + "/" + sidecarKey,
			"--from", configDir, "--stage", stageDir, "--wait", setupDone},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser: ptr(int64(0)), AllowPrivilegeEscalation: ptr(false),
			// Writing the run's files with their owners' IDs.
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"CHOWN", "FOWNER", "DAC_OVERRIDE"}},
		},
		Resources: smallResources(),
	}
	keeper := corev1.Container{
		Name: keeperContainer, Image: o.moatImage, ImagePullPolicy: corev1.PullIfNotPresent,
		Command: []string{sidecarInImage, "kube", "keeper"},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser: ptr(int64(0)), AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true),
			// Reading back every file of the run's directories, whatever
			// mode the agent left it in; nothing else.
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"DAC_READ_SEARCH"}},
		},
		Resources: smallResources(),
	}
	volumes := []corev1.Volume{
		{Name: "moat-files", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "moat-ctl", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "moat-config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: configMapName(id.Pod)}, Optional: ptr(true)}}},
	}
	setup.VolumeMounts = []corev1.VolumeMount{{Name: "moat-files", MountPath: stageDir}, {Name: "moat-config", MountPath: configDir, ReadOnly: true}, {Name: "moat-ctl", MountPath: ctlDir}}
	keeper.VolumeMounts = []corev1.VolumeMount{{Name: "moat-ctl", MountPath: ctlDir}}
	main.VolumeMounts = []corev1.VolumeMount{{Name: "moat-ctl", MountPath: ctlDir, ReadOnly: true}}
	staged := o.image != "" // the main container needs moat-sidecar staged
	if staged {
		main.VolumeMounts = append(main.VolumeMounts, corev1.VolumeMount{Name: "moat-files", MountPath: sidecarInMain, SubPath: sidecarKey, ReadOnly: true})
	}
	for i, f := range spec.MoatFiles {
		key := sidecarKey
		if o.isSidecar(f.Source) && !staged {
			continue // in moat's image, which the command names
		}
		if !o.isSidecar(f.Source) {
			data, err := o.readFile(f.Source)
			if err != nil {
				return nil, fmt.Errorf("reading %s for the pod: %w", f.Source, err)
			}
			if len(data) > maxConfigFile {
				return nil, fmt.Errorf("%s is %d bytes: moat's files other than its binary must be under %d bytes on Kubernetes", f.Source, len(data), maxConfigFile)
			}
			key = "f" + strconv.Itoa(i)
			p.files[key] = data
		}
		staged = true
		main.VolumeMounts = append(main.VolumeMounts, corev1.VolumeMount{Name: "moat-files", MountPath: f.Target, SubPath: key, ReadOnly: true})
	}
	if o.stdin {
		volumes = append(volumes, corev1.Volume{Name: "moat-stdin", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: secretName(id.Pod), DefaultMode: ptr(int32(0o400))}}})
		main.VolumeMounts = append(main.VolumeMounts, corev1.VolumeMount{Name: "moat-stdin", MountPath: stdinDir, ReadOnly: true})
	}
	addDir := func(d hostDir) {
		d.Volume = "d" + strconv.Itoa(len(p.dirs))
		d.Empty = !d.File && (o.hasContent == nil || !o.hasContent(d.Source))
		staged = staged || !d.Empty
		p.dirs = append(p.dirs, d)
		volumes = append(volumes, corev1.Volume{Name: d.Volume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		at := corev1.VolumeMount{Name: d.Volume, MountPath: d.Target, ReadOnly: d.ReadOnly}
		if d.File {
			at.SubPath = fileKey
		}
		main.VolumeMounts = append(main.VolumeMounts, at)
		setup.VolumeMounts = append(setup.VolumeMounts, corev1.VolumeMount{Name: d.Volume, MountPath: path.Join(dirsRoot, d.Volume)})
		keeper.VolumeMounts = append(keeper.VolumeMounts, corev1.VolumeMount{Name: d.Volume, MountPath: path.Join(dirsRoot, d.Volume), ReadOnly: true})
	}
	for _, m := range spec.Mounts {
		addDir(hostDir{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	for _, s := range spec.SharedDirs {
		addDir(hostDir{Source: s.Source, Target: s.Target, ReadOnly: s.ReadOnly, Shared: true})
	}
	dirs, err := json.Marshal(p.dirs)
	if err != nil {
		return nil, err
	}
	p.pod = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: id.Pod, Namespace: id.Namespace, Labels: podLabels(spec.Labels),
			Annotations: map[string]string{annoLabels: string(allLabels), annoDirs: string(dirs),
				annoSig: annotationSig(o.annotationKey, id.Namespace, id.Pod, string(allLabels), string(dirs))},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr(false),
			EnableServiceLinks:            ptr(false),
			TerminationGracePeriodSeconds: ptr(int64(2)),
			// The kubelet starts containers in this order: the keeper
			// first, so that a command that ends at once does not end
			// before the keeper that holds its directories runs.
			Containers:         []corev1.Container{keeper, main},
			Volumes:            volumes,
			HostAliases:        hostAliases(spec.ExtraHosts),
			ServiceAccountName: serviceAccount(id, o.stdin),
			SecurityContext: &corev1.PodSecurityContext{
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
		},
	}
	if staged {
		// Without it the main container starts at once: nothing of moat's
		// or of the host's is to be put in place first.
		p.pod.Spec.InitContainers = []corev1.Container{setup}
		p.setup = true
	}
	if spec.Network == runtime.NetworkNone {
		// Nothing to resolve names with: the agent's names are the proxy's.
		p.pod.Spec.DNSPolicy = corev1.DNSNone
		p.pod.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"127.0.0.1"}}
	} else {
		p.pod.Spec.DNSPolicy = corev1.DNSDefault
	}
	return p, nil
}

// unsupported refuses the intents a pod cannot carry.
func unsupported(spec runtime.ContainerSpec) error {
	refuse := func(what, remedy string) error {
		return &runtime.UnsupportedError{Feature: what, Engine: "Kubernetes", Reason: "a pod cannot provide it", Remedy: remedy}
	}
	switch {
	case spec.EngineSocket != "":
		return refuse("the engine's socket (docker:host)", "Use docker:dind, or run moat against a Docker engine.")
	case spec.Join != nil:
		return refuse("joining another container's namespaces", "Run moat against a Docker engine.")
	case len(spec.Volumes) > 0:
		return refuse("named volumes", "Run moat against a Docker engine.")
	case len(spec.Devices) > 0:
		return refuse("host devices", "Run moat against a Docker engine.")
	case spec.UnmaskSystemPaths:
		return refuse("unmasked /proc and /sys", "Run moat against a Docker engine.")
	case spec.Network == runtime.NetworkDefault:
		return refuse("the engine's default network", "moat's runs always ask for no network or the proxy's.")
	}
	return nil
}

func containerSecurity(spec runtime.ContainerSpec) *corev1.SecurityContext {
	sc := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(!spec.NoNewPrivileges),
		ReadOnlyRootFilesystem:   ptr(spec.ReadOnlyRootfs),
		Capabilities:             &corev1.Capabilities{},
	}
	for _, c := range spec.CapDrop {
		sc.Capabilities.Drop = append(sc.Capabilities.Drop, corev1.Capability(c))
	}
	for _, c := range spec.CapAdd {
		sc.Capabilities.Add = append(sc.Capabilities.Add, corev1.Capability(c))
	}
	if spec.User != "" {
		uid, gid, _ := strings.Cut(spec.User, ":")
		if n, err := strconv.ParseInt(uid, 10, 64); err == nil {
			sc.RunAsUser = &n
		}
		if n, err := strconv.ParseInt(gid, 10, 64); err == nil {
			sc.RunAsGroup = &n
		}
	} else {
		sc.RunAsUser = ptr(int64(0)) // the image's root: moat-init drops to the agent's user
	}
	return sc
}

// resources limits what the spec limits; requests stay small, so a node
// schedules as many runs as it has room for in use, not in limits.
func resources(spec runtime.ContainerSpec) corev1.ResourceRequirements {
	r := smallResources()
	r.Limits = corev1.ResourceList{}
	if spec.Memory > 0 {
		r.Limits[corev1.ResourceMemory] = *resource.NewQuantity(spec.Memory, resource.BinarySI)
	}
	if spec.NanoCPUs > 0 {
		r.Limits[corev1.ResourceCPU] = *resource.NewMilliQuantity(spec.NanoCPUs/1e6, resource.DecimalSI)
	}
	return r
}

func smallResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("10m"),
		corev1.ResourceMemory: resource.MustParse("16Mi"),
	}}
}

func envVars(env []string) []corev1.EnvVar {
	out := make([]corev1.EnvVar, 0, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, corev1.EnvVar{Name: k, Value: v})
	}
	return out
}

// hostAliases maps "name:address" lines to /etc/hosts entries.
func hostAliases(lines []string) []corev1.HostAlias {
	byIP := map[string][]string{}
	var order []string
	for _, l := range lines {
		name, ip, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		if _, seen := byIP[ip]; !seen {
			order = append(order, ip)
		}
		byIP[ip] = append(byIP[ip], name)
	}
	var out []corev1.HostAlias
	for _, ip := range order {
		out = append(out, corev1.HostAlias{IP: ip, Hostnames: byIP[ip]})
	}
	return out
}

func configMapName(pod string) string { return pod + "-files" }
func secretName(pod string) string    { return pod + "-stdin" }

// serviceAccount is the account a pod runs as: the proxy's own (the one
// account its Secret's Role names), or the namespace's default ("").
func serviceAccount(id ID, readsSecret bool) string {
	if readsSecret {
		return accountName(id.Pod)
	}
	return ""
}

// accountName names the service account of a pod that reads a Secret (the
// proxy's), and its Role and RoleBinding.
func accountName(pod string) string { return pod }
func policyName(pod string) string  { return pod }

func ptr[T any](v T) *T { return &v }
