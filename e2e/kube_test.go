//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/policy"
)

// The cluster tests run against the single-node cluster scripts/kube-testbed.sh
// starts ('make test' does): MOAT_TEST_KUBECONFIG names its kubeconfig.
// Without it they are skipped, unless MOAT_TEST_KUBE=required (CI), which
// makes a missing cluster a failure.

// kubeTestRegistry is where the tests' images go: the registry
// scripts/registry.sh serves on the host, which the cluster's containerd
// pulls from.
const kubeTestRegistry = "127.0.0.1:5000"

// kubeTestBridge is the test cluster's bridge (scripts/kube-testbed.sh).
const kubeTestBridge = "moatkube0"

// kubeEnv is a moatEnv whose config.yaml sends runs to a namespace of the
// test cluster of its own, checked empty of moat's objects at the end.
type kubeEnv struct {
	*moatEnv
	ns         string
	kubeconfig string
}

func newKubeMoat(t *testing.T) *kubeEnv {
	t.Helper()
	kc := os.Getenv("MOAT_TEST_KUBECONFIG")
	if kc == "" {
		if os.Getenv("MOAT_TEST_KUBE") == "required" {
			t.Fatal("MOAT_TEST_KUBE=required but MOAT_TEST_KUBECONFIG is not set: 'make test' starts the cluster (scripts/kube-testbed.sh)")
		}
		t.Skip("no test cluster: set MOAT_TEST_KUBECONFIG (scripts/kube-testbed.sh up)")
	}
	b := make([]byte, 4)
	rand.Read(b)
	k := &kubeEnv{moatEnv: newMoat(t), ns: "moat-e2e-" + hex.EncodeToString(b), kubeconfig: kc}
	if out, err := k.kubectl("create", "namespace", k.ns); err != nil {
		t.Fatalf("creating namespace %s: %v\n%s", k.ns, err, out)
	}
	t.Cleanup(k.checkEmptyAndDelete)
	cfg := "buildkit_image: " + buildkitImageID + "\nruntime: kubernetes\nregistry: " + kubeTestRegistry +
		"\nkubernetes: {kubeconfig: " + kc + ", namespace: " + k.ns + "}\n"
	if err := os.WriteFile(filepath.Join(k.home, "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k *kubeEnv) kubectl(args ...string) (string, error) {
	bin := "kubectl"
	if dir := os.Getenv("MOAT_TEST_KUBE_BIN"); dir != "" {
		bin = filepath.Join(dir, "kubectl")
	}
	out, err := exec.Command(bin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...).CombinedOutput()
	return string(out), err
}

// kubeRunObjects are the kinds of object moat makes for a run.
const kubeRunObjects = "pods,networkpolicies,secrets,configmaps,serviceaccounts,roles,rolebindings"

// moatObjects lists what moat made in the namespace, by kind.
func (k *kubeEnv) moatObjects() string {
	out, err := k.kubectl("-n", k.ns, "get", kubeRunObjects, "-l", "moat.managed=true", "-o", "name")
	if err != nil {
		k.t.Errorf("listing moat's objects: %v\n%s", err, out)
	}
	return strings.TrimSpace(out)
}

// checkEmptyAndDelete fails the test if a finished run left anything in
// the namespace (the objects of a run still active, whose CLI the test
// killed, are the next moat command's to finish, as on Docker), then
// deletes the namespace and all in it.
func (k *kubeEnv) checkEmptyAndDelete() {
	recs := k.records()
	var left string
	deadline := time.Now().Add(30 * time.Second)
	for {
		left = k.leftBehind(recs)
		if left == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if left != "" {
		k.t.Errorf("moat left objects of finished runs in namespace %s:\n%s", k.ns, left)
	}
	k.kubectl("delete", "namespace", k.ns, "--wait=false")
}

// leftBehind lists moat's objects in the namespace whose run is not
// active (or kept with --keep), or unknown.
func (k *kubeEnv) leftBehind(recs map[string]runRecord) string {
	out, err := k.kubectl("-n", k.ns, "get", kubeRunObjects, "-l", "moat.managed=true",
		"-o", `jsonpath={range .items[*]}{.kind}/{.metadata.name} {.metadata.labels.moat\.run-id}{"\n"}{end}`)
	if err != nil {
		k.t.Errorf("listing moat's objects: %v\n%s", err, out)
		return ""
	}
	var left []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, run, _ := strings.Cut(line, " ")
		if rec, known := recs[run]; line != "" && (!known || !rec.active() && !rec.Keep) {
			left = append(left, name)
		}
	}
	return strings.Join(left, "\n")
}

// nodeIP is the host's address on its default route: the cluster's node,
// where the tests' servers listen for the proxy's pod.
func nodeIP(t *testing.T) string {
	t.Helper()
	c, err := net.Dial("udp", "192.0.2.1:9")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

// TestKubeRunWorkspaceAndExitCode: a run on the cluster reads the
// workspace, writes and removes files that come back to the host with the
// user's ownership, runs as the workspace's owner, and exits with the
// command's code; nothing stays in the namespace.
func TestKubeRunWorkspaceAndExitCode(t *testing.T) {
	t.Parallel()
	k := newKubeMoat(t)
	ws := k.workspace(map[string]string{"in.txt": "from-the-host\n", "gone.txt": "x", "sub/keep.txt": "k"})
	if err := os.Chown(ws, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(ws, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 1000, 1000) })
	res := k.run("run", ws, "--", "sh", "-c", "cat in.txt; echo made-in-pod > out.txt; mkdir -p new/dir; echo n > new/dir/f; rm gone.txt; id -u; echo to-stderr >&2; exit 3")
	if res.code != 3 {
		t.Fatalf("exit %d, want the command's 3:\n%s", res.code, res)
	}
	mustContain(t, "stdout", res.stdout, "from-the-host", "1000")
	mustContain(t, "output", res.stdout+res.stderr, "to-stderr")
	if got := readFile(t, ws, "out.txt"); got != "made-in-pod\n" {
		t.Errorf("out.txt %q", got)
	}
	if readFile(t, ws, "new/dir/f") != "n\n" || readFile(t, ws, "sub/keep.txt") != "k" {
		t.Error("the run's new directory or an untouched file did not come back")
	}
	if exists(filepath.Join(ws, "gone.txt")) {
		t.Error("gone.txt, removed in the run, is still on the host")
	}
	fi, err := os.Stat(filepath.Join(ws, "out.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 {
		t.Errorf("out.txt belongs to uid %d, want the workspace owner's 1000", st.Uid)
	}
}

// TestKubeEgressGrantAndBypasses: on the cluster, a grant is injected by
// the run's proxy pod, a host outside the policy is refused, and every way
// around the proxy from inside the agent's pod fails: the node, the API
// server, the metadata address, DNS, the proxy's pod without the token.
// The agent's pod holds no trace of the secret, and the run's audit log
// (the proxy's events come back into it) verifies.
func TestKubeEgressGrantAndBypasses(t *testing.T) {
	t.Parallel()
	needImage(t, "curl", "python")
	k := newKubeMoat(t)
	node := nodeIP(t)
	s := newAPIServerAt(t, map[string]string{egressSecret: "granted"}, "0.0.0.0:0")
	k.grantAPI(s, "testapi", egressSecret)
	ws := k.workspace(map[string]string{
		"agent.yaml": "dependencies: [curl, python]\n" +
			"network:\n  hosts: {api.test: " + node + "}\n  ca: api-ca.pem\ngrants: [testapi]\n",
		"api-ca.pem": s.caPEM,
	})
	os.Chown(ws, 1000, 1000)
	api := "https://api.test:" + s.port + "/hello"
	denied := []string{"HTTP/1.1 403", policy.HeaderName + ":"}
	apiHost := os.Getenv("MOAT_TEST_KUBE_APISERVER") // host:port of the API server, as the node sees it
	if apiHost == "" {
		apiHost = node + ":6443"
	}
	checks := []bypassCheck{
		{"noproxy-flag", `curl -sS -m 5 --noproxy '*' ` + api, []int{6}, []string{"Could not resolve host: api.test"}},
		{"direct-node-address", `curl -sS -m 3 --noproxy '*' -k https://` + node + `:` + s.port + `/hello`, []int{7, 28}, nil},
		{"api-server", `curl -sS -m 3 --noproxy '*' -k https://` + apiHost + `/version`, []int{7, 28}, nil},
		{"api-service", `curl -sS -m 3 --noproxy '*' -k https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/version`, []int{7, 28}, nil},
		{"kubelet", `curl -sS -m 3 --noproxy '*' -k https://` + node + `:10250/pods`, []int{7, 28}, nil},
		{"metadata", `curl -sS -m 3 --noproxy '*' http://169.254.169.254/latest/meta-data/`, []int{7, 28}, nil},
		{"metadata-via-proxy", `curl -sS -m 5 -i http://169.254.169.254/latest/meta-data/`, []int{0}, denied},
		{"node-via-proxy", `curl -sS -m 5 -i http://` + node + `:` + s.port + `/`, []int{0}, denied},
		{"blocked-host", `curl -sS -m 5 -i https://blocked.test:` + s.port + `/hello`, []int{56}, denied},
		{"dns", `getent hosts kubernetes.default.svc.cluster.local`, []int{2}, nil},
		{"service-account-token", `ls /var/run/secrets/kubernetes.io/serviceaccount/token`, []int{2}, nil},
		{"proxy-without-token", `curl -sS -m 5 -i -x "http://$(cat $MOAT_PROXY_ADDR)" ` + api, []int{0, 56}, []string{"HTTP/1.1 407"}},
	}
	script := append(probeScript(checks), `curl -sS -m 10 `+api)
	// The agent looks for the secret everywhere it can: every process's
	// environment and command line, and every file it can read. The needle
	// comes base64-encoded, so that no command line of the search holds it.
	needle := base64.StdEncoding.EncodeToString([]byte(egressSecret))
	script = append(script, `echo `+needle+` | base64 -d > /tmp/needle`,
		`if grep -rIl -F -f /tmp/needle --exclude-dir=proc --exclude-dir=sys --exclude=needle / 2>/dev/null; then echo SECRET-IN-FILES; fi`,
		`if cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | grep -a -q -F -f /tmp/needle; then echo SECRET-IN-PROCESSES; fi`,
		// The control: the same search finds a value the agent does have.
		`printf %s "$HTTP_PROXY" | cut -d@ -f1 | cut -d: -f3 > /tmp/needle`,
		`if cat /proc/[0-9]*/environ 2>/dev/null | grep -a -q -F -f /tmp/needle; then echo CONTROL-FOUND; fi`)
	name := uniqueName(t)
	res := k.run("run", "-n", name, ws, "--", "sh", "-c", strings.Join(script, "\n"))
	if res.code != 0 {
		t.Fatalf("exit %d:\n%s", res.code, res)
	}
	checkProbes(t, res.stdout, checks)
	mustContain(t, "stdout", res.stdout, "api-ok granted", "CONTROL-FOUND")
	if strings.Contains(res.stdout, "SECRET-IN-") || strings.Contains(res.stdout+res.stderr, egressSecret) {
		t.Errorf("the agent found the secret:\n%s", res)
	}
	r := k.find(name)
	kinds := auditKinds(t, k.moatEnv, r.ID)
	if !slices.Contains(kinds, "credential.injected") || !slices.Contains(kinds, "net.denied") || !slices.Contains(kinds, "egress.attested") {
		t.Errorf("audit events %v: want the proxy's injection, denial and attestation", kinds)
	}
	out := k.mustRun(0, "audit", name)
	mustContain(t, "audit", out.stdout, ": OK\n", "credential.injected")
	trace := k.mustRun(0, "trace", name, "--json")
	var reqs []struct{ Host, Grant string }
	if err := json.Unmarshal([]byte(trace.stdout), &reqs); err != nil || !slices.ContainsFunc(reqs, func(q struct{ Host, Grant string }) bool { return q.Grant == "testapi" }) {
		t.Errorf("trace --json: %v\n%s", err, trace.stdout)
	}
}

// TestKubeDetachedLogsStop: a detached run on the cluster outlives the
// CLI; 'moat logs -f' streams it from the pod, 'moat list' shows it,
// 'moat stop' ends it and removes its pods.
func TestKubeDetachedLogsStop(t *testing.T) {
	t.Parallel()
	k := newKubeMoat(t)
	ws := k.workspace(map[string]string{"x": "y"})
	name := uniqueName(t)
	k.mustRun(0, "run", "-d", "-n", name, ws, "--", "sh", "-c", "echo started-in-pod; trap 'echo got-term; exit 0' TERM; while :; do sleep 1; done")
	follow := k.start("logs", "-f", name)
	waitForDetail(t, 60*time.Second, "the run's output through logs -f", func() bool {
		return strings.Contains(follow.stdout.String(), "started-in-pod")
	}, follow.stdout.String)
	if r := k.find(name); r.State != "running" {
		t.Fatalf("list says %s, want running", r.State)
	}
	pods, _ := k.kubectl("-n", k.ns, "get", "pods", "-l", "moat.run-name="+name, "-o", "name")
	if !strings.Contains(pods, "pod/") {
		t.Errorf("no pod carries the run's name label:\n%s", pods)
	}
	k.checkSecretAccess(name)
	k.mustRun(0, "stop", name)
	res := follow.wait(30 * time.Second)
	mustContain(t, "logs -f", res.stdout, "got-term")
	if r := k.find(name); r.active() {
		t.Errorf("after stop the run is %s", r.State)
	}
	waitForDetail(t, 30*time.Second, "no moat pod left", func() bool { return k.moatObjects() == "" }, k.moatObjects)
	id := k.find(name).ID
	k.mustRun(0, "destroy", name)
	if exists(filepath.Join(k.runsDir(), id)) {
		t.Error("after destroy the run's directory is still there")
	}
}

// checkSecretAccess checks, while run name goes, that of the namespace's
// service accounts only its proxy's may read its proxy's Secret: not the
// agent pod's, not the namespace's default, and that the proxy's account
// may read no other Secret.
func (k *kubeEnv) checkSecretAccess(name string) {
	k.t.Helper()
	out, err := k.kubectl("-n", k.ns, "get", "pods", "-l", "moat.run-name="+name,
		"-o", `jsonpath={range .items[*]}{.metadata.labels.moat\.role} {.metadata.name} {.spec.serviceAccountName}{"\n"}{end}`)
	if err != nil {
		k.t.Fatalf("listing the run's pods: %v\n%s", err, out)
	}
	accounts := map[string][2]string{} // role: pod, account
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			accounts[f[0]] = [2]string{f[1], f[2]}
		} else if len(f) == 2 {
			accounts[f[0]] = [2]string{f[1], "default"}
		}
	}
	proxy, agent := accounts["proxy"], accounts["agent"]
	if proxy[0] == "" || agent[0] == "" {
		k.t.Fatalf("the run's pods: %q, want an agent and a proxy", out)
	}
	secret := "secret/" + proxy[0] + "-stdin"
	canI := func(account, what string) string {
		out, _ := k.kubectl("-n", k.ns, "auth", "can-i", "get", what, "--as=system:serviceaccount:"+k.ns+":"+account)
		return strings.TrimSpace(out)
	}
	if proxy[1] == "default" || proxy[1] == agent[1] {
		k.t.Errorf("the proxy's pod runs as service account %q, the agent's as %q: want one of the proxy's own", proxy[1], agent[1])
	}
	for _, c := range []struct{ account, what, want string }{
		{proxy[1], secret, "yes"},
		{proxy[1], "secret/some-other-secret", "no"},
		{agent[1], secret, "no"},
		{"default", secret, "no"},
	} {
		if got := canI(c.account, c.what); got != c.want {
			k.t.Errorf("can service account %s get %s: %q, want %q", c.account, c.what, got, c.want)
		}
	}
	// And the account has no token to use it with.
	tokens, _ := k.kubectl("-n", k.ns, "get", "pod", proxy[0], "-o", "jsonpath={.spec.automountServiceAccountToken}")
	if strings.TrimSpace(tokens) != "false" {
		k.t.Errorf("the proxy's pod mounts a service account token (automountServiceAccountToken %q)", tokens)
	}
}

// TestKubeCLICrash: a run whose moat process died is finished by the next
// moat command, on the cluster as on Docker: exit code recorded, logs
// kept, the workspace's changes back, nothing left in the namespace.
func TestKubeCLICrash(t *testing.T) {
	t.Parallel()
	k := newKubeMoat(t)
	ws := k.workspace(map[string]string{"x": "y"})
	os.Chown(ws, 1000, 1000)
	name := uniqueName(t)
	p := k.start("run", "-n", name, ws, "--", "sh", "-c", "echo before-crash; until [ -e /workspace/release ]; do sleep 0.2; done; echo after > after.txt; exit 5")
	k.waitState(name, "running")
	waitForDetail(t, 60*time.Second, "the command's first output", func() bool {
		return strings.Contains(p.stdout.String(), "before-crash")
	}, p.stderr.String)
	p.signal(syscall.SIGKILL)
	p.wait(waitTimeout)
	if !p.killedBySignal() {
		t.Fatalf("moat ended before it was killed; the test proves nothing:\n%s", p.stderr)
	}
	// The release reaches the pod as the agent's files do: through the pod,
	// as the agent's user (root there has no DAC_OVERRIDE).
	pod := "moat-" + k.find(name).ID
	if out, err := k.kubectl("-n", k.ns, "exec", pod, "-c", "main", "--", "setpriv", "--reuid=1000", "--regid=1000", "--clear-groups", "touch", "/workspace/release"); err != nil {
		t.Fatalf("releasing the command: %v\n%s", err, out)
	}
	waitForDetail(t, 60*time.Second, "the orphaned command to end", func() bool {
		out, _ := k.kubectl("-n", k.ns, "get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[?(@.name==\"main\")].state.terminated.exitCode}")
		return strings.TrimSpace(out) == "5"
	}, func() string { out, _ := k.kubectl("-n", k.ns, "get", "pod", pod, "-o", "yaml"); return out })
	got := k.find(name)
	if got.State != "exited" || got.exitCode() != "5" {
		t.Errorf("after the crash, list shows state %s, exit code %s; want exited, 5", got.State, got.exitCode())
	}
	if out := k.mustRun(0, "logs", name).stdout; out != "before-crash\n" {
		t.Errorf("logs after the crash: %q, want %q", out, "before-crash\n")
	}
	if readFile(t, ws, "after.txt") != "after\n" {
		t.Error("the workspace's change after the crash did not come back")
	}
	waitForDetail(t, 30*time.Second, "no moat object left", func() bool { return k.moatObjects() == "" }, k.moatObjects)
}

// TestCleanKubeRemovesOrphansByLabel: pods moat's labels mark as its own,
// left by a crash with no record of them, and a --keep run's pod, go with
// 'moat clean -f'. Not parallel, and named TestClean* so that 'make
// test-e2e' runs it after the others: 'moat clean' removes every moat image
// no container uses, engine-wide, which would make runs starting meanwhile
// in other tests rebuild theirs.
func TestCleanKubeRemovesOrphansByLabel(t *testing.T) {
	k := newKubeMoat(t)
	orphanRun := "e2eorphan-" + uniqueName(t)
	k.track(orphanRun)
	out, err := k.kubectl("-n", k.ns, "run", "moat-"+orphanRun, "--restart=Never", "--image="+kubeTestRegistry+"/"+baseImage,
		"--labels=moat.managed=true,moat.run-id="+orphanRun+",moat.role=agent", "--command", "--", "true")
	if err != nil {
		t.Fatalf("creating the orphan: %v\n%s", err, out)
	}
	ws := k.workspace(map[string]string{"x": "y"})
	name := uniqueName(t)
	k.mustRun(0, "run", "--keep", "-n", name, ws, "--", "echo", "kept")
	if !strings.Contains(k.moatObjects(), "pod/moat-"+k.find(name).ID) {
		t.Fatalf("the --keep run's pod is not there:\n%s", k.moatObjects())
	}
	dry := k.mustRun(0, "clean", "--dry-run")
	mustContain(t, "clean --dry-run's list", dry.stdout, k.find(name).ID, orphanRun)
	k.mustRun(0, "clean", "-f")
	waitForDetail(t, 30*time.Second, "no moat object left", func() bool { return k.moatObjects() == "" }, k.moatObjects)
}

// TestKubeHostileWorkspaceCopyOut: what the agent leaves in the workspace
// comes back to the host, which makes it hostile input there: a symlink
// to a host directory is kept as a link and never written through, a
// directory the agent turned into such a link is replaced, not followed,
// set-user-ID bits are dropped, and nothing outside the workspace changes.
func TestKubeHostileWorkspaceCopyOut(t *testing.T) {
	t.Parallel()
	k := newKubeMoat(t)
	victim := t.TempDir()
	os.WriteFile(filepath.Join(victim, "keep"), []byte("victim\n"), 0o644)
	ws := k.workspace(map[string]string{"sub/a": "a", "plain": "p"})
	filepath.Walk(ws, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 1000, 1000) })
	script := strings.Join([]string{
		"ln -s " + victim + " out-link",
		"rm -rf sub && ln -s " + victim + " sub",
		"mkdir -p " + victim + " && echo planted > " + victim + "/keep && echo planted > " + victim + "/new", // the pod's own path
		"echo s > suid && chmod 4755 suid",
		"mkfifo fifo",
	}, " && ")
	k.mustRun(0, "run", ws, "--", "sh", "-c", script)
	if b, _ := os.ReadFile(filepath.Join(victim, "keep")); string(b) != "victim\n" {
		t.Errorf("the host directory behind the agent's link was written: keep holds %q", b)
	}
	if exists(filepath.Join(victim, "new")) {
		t.Error("a file appeared in the host directory behind the agent's link")
	}
	for _, link := range []string{"out-link", "sub"} {
		fi, err := os.Lstat(filepath.Join(ws, link))
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s: %v, want the agent's symlink, kept as a link", link, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(ws, "suid")); err != nil || fi.Mode()&os.ModeSetuid != 0 {
		t.Errorf("suid: %v %v, want it back without its set-user-ID bit", fi.Mode(), err)
	}
	if _, err := os.Lstat(filepath.Join(ws, "fifo")); err == nil {
		t.Error("the agent's FIFO came back")
	}
	if readFile(t, ws, "plain") != "p" {
		t.Error("an untouched file changed")
	}
}

// TestKubeInteractive: 'moat run -it' on a real terminal (tmux) with the
// run on the cluster: typed input reaches the pod's shell, its output
// comes back as a terminal shows it (lines start at the left margin), the
// terminal's size and a resize reach it, and moat exits with the shell's
// code.
func TestKubeInteractive(t *testing.T) {
	t.Parallel()
	k := newKubeMoat(t)
	ws := k.workspace(map[string]string{"x": "y"})
	term := k.newTmux(ws, moatBin, "run", "-it", ws, "--", "bash", "--norc")
	term.waitFor(90*time.Second, "the pod's shell prompt", "bash-")
	term.keys("echo typed-$((6*7)); tput cols", "Enter")
	term.waitFor(30*time.Second, "the command's output", "typed-42\n160\n")
	term.tmux("resize-window", "-t", "main", "-x", "100", "-y", "30")
	term.keys("tput cols; exit 4", "Enter")
	term.waitFor(30*time.Second, "moat to exit with the shell's code", "command-exit=4")
	mustContain(t, "screen", term.screen(), "\n100\n")
}

// TestKubeRefusedPodLeavesNothing: a namespace quota refuses part of a
// run: the agent's objects while its proxy's pod runs (a quota of
// ConfigMaps, which only the agent's pod has), then one of the run's two
// pods, made together (a quota of one pod). Each run fails as a run that
// could not start (125), saying that the quota is why, and nothing of it
// stays: no pod, policy, Secret or ConfigMap, and no run record.
func TestKubeRefusedPodLeavesNothing(t *testing.T) {
	t.Parallel()
	k := newKubeMoat(t)
	ws := k.workspace(map[string]string{"x": "y"})
	os.Chown(ws, 1000, 1000)
	// Every namespace has one ConfigMap already (kube-root-ca.crt).
	for _, quota := range []string{"count/configmaps=1", "pods=1"} {
		k.kubectl("-n", k.ns, "delete", "quota", "--all")
		if out, err := k.kubectl("-n", k.ns, "create", "quota", "moat-test", "--hard="+quota); err != nil {
			t.Fatalf("creating the quota: %v\n%s", err, out)
		}
		for i := range 2 {
			res := k.run("run", ws, "--", "true")
			if res.code != 125 {
				t.Fatalf("%s, attempt %d: exit %d, want 125 (the run could not start):\n%s", quota, i, res.code, res)
			}
			mustContain(t, "stderr", res.stderr, "namespace "+k.ns+" is at its quota", "two pods")
			// The run is over: what it made must be gone already.
			if left := k.leftBehind(k.records()); left != "" {
				t.Fatalf("%s, attempt %d: the failed run left:\n%s", quota, i, left)
			}
		}
	}
	if ids := k.runDirs(); len(ids) != 0 {
		t.Errorf("failed runs left records: %v", ids)
	}
}

// TestKubeRefusesDockerFeaturesUpFront: docker:host and docker:dind are
// refused on the cluster before anything is built or made, each saying
// why in the cluster's terms (docker:dind: what its pod would need, and
// the namespace's Pod Security level); nothing stays behind.
func TestKubeRefusesDockerFeaturesUpFront(t *testing.T) { // and ssh grants
	t.Parallel()
	k := newKubeMoat(t)
	if out, err := k.kubectl("label", "namespace", k.ns, "pod-security.kubernetes.io/enforce=baseline"); err != nil {
		t.Fatalf("labelling the namespace: %v\n%s", err, out)
	}
	for dep, want := range map[string][]string{
		"docker:host": {"docker:host is not available", "cannot reach a Docker engine on this machine", "--runtime docker"},
		"docker:dind": {"docker:dind is not available on Kubernetes", "privileged pod",
			`namespace ` + k.ns + ` enforces Pod Security level "baseline"`, "/dev/net/tun", "--runtime docker"},
	} {
		ws := k.workspace(map[string]string{"agent.yaml": "dependencies: [" + dep + "]\n"})
		res := k.run("run", ws, "--", "true")
		if res.code == 0 {
			t.Fatalf("%s: the run succeeded on the cluster:\n%s", dep, res)
		}
		mustContain(t, dep, res.stderr, want...)
		if strings.Contains(res.stderr, "Building image") {
			t.Errorf("%s: refused only after building the image:\n%s", dep, res.stderr)
		}
	}
	// An ssh grant: the run's SSH agent is not built for pods.
	key := newSSHKey(t)
	k.mustRun(0, "grant", "ssh", "deploy", "--host", "git.test", "--key", key.path, "--host-key", "git.test "+key.blob())
	res := k.run("run", k.workspace(map[string]string{"agent.yaml": "grants: [deploy]\n"}), "--", "true")
	if res.code == 0 {
		t.Fatalf("a run with an ssh grant succeeded on the cluster:\n%s", res)
	}
	mustContain(t, "ssh grant", res.stderr, "SSH through an ssh grant is not available with Kubernetes", "--runtime docker")
	if strings.Contains(res.stderr, "Building image") {
		t.Errorf("ssh grant: refused only after building the image:\n%s", res.stderr)
	}
	if objs := k.moatObjects(); objs != "" {
		t.Errorf("a refused run made objects:\n%s", objs)
	}
	if ids := k.runDirs(); len(ids) != 0 {
		t.Errorf("refused runs left records: %v", ids)
	}
}

// TestKubeChangedDirsRecordCopiesNothing: the pod's record of where the
// run's directories go back to (annotation moat.sh/dirs) is signed by the
// moat home; someone who may patch pods in the namespace points the
// workspace at another host directory, and 'moat stop' copies nothing
// there (nor to the workspace), says why, and still removes the pod.
// stop itself succeeds (exit 0): the run is stopped, and the refusal is
// its warning.
func TestKubeChangedDirsRecordCopiesNothing(t *testing.T) {
	t.Parallel()
	k := newKubeMoat(t)
	victim := t.TempDir()
	os.WriteFile(filepath.Join(victim, "keep"), []byte("victim\n"), 0o644)
	ws := k.workspace(map[string]string{"x": "y"})
	filepath.Walk(ws, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 1000, 1000) })
	name := uniqueName(t)
	k.mustRun(0, "run", "-d", "-n", name, ws, "--", "sh", "-c", "echo planted > planted; echo changed > x; echo ready; exec sleep 300")
	waitForDetail(t, 60*time.Second, "the command's files written", func() bool {
		return strings.Contains(k.run("logs", name).stdout, "ready")
	}, func() string { return k.run("logs", name).String() })
	pod := "moat-" + k.find(name).ID
	out, err := k.kubectl("-n", k.ns, "get", "pod", pod, "-o", `jsonpath={.metadata.annotations.moat\.sh/dirs}`)
	if err != nil {
		t.Fatalf("reading the pod's record: %v\n%s", err, out)
	}
	var dirs []map[string]any
	if err := json.Unmarshal([]byte(out), &dirs); err != nil {
		t.Fatalf("the pod's record %q: %v", out, err)
	}
	pointed := false
	for _, d := range dirs {
		if d["target"] == "/workspace" {
			d["source"], pointed = victim, true
		}
	}
	if !pointed {
		t.Fatalf("the pod's record %q has no workspace", out)
	}
	changed, _ := json.Marshal(dirs)
	if out, err := k.kubectl("-n", k.ns, "annotate", "pod", pod, "--overwrite", "moat.sh/dirs="+string(changed)); err != nil {
		t.Fatalf("changing the pod's record: %v\n%s", err, out)
	}
	res := k.mustRun(0, "stop", name)
	mustContain(t, "stop's warning", res.stderr, pod, "was changed after moat made it", "not copied back", "the pod was removed")
	if got := readFile(t, victim, "keep"); got != "victim\n" {
		t.Errorf("the directory the changed record names was written: keep holds %q", got)
	}
	for _, f := range []string{"planted", "x"} {
		if exists(filepath.Join(victim, f)) {
			t.Errorf("%s from the pod appeared in the directory the changed record names", f)
		}
	}
	if exists(filepath.Join(ws, "planted")) || readFile(t, ws, "x") != "y" {
		t.Error("the workspace changed: nothing should come back from a pod whose record was changed")
	}
	waitForDetail(t, 30*time.Second, "no moat object left", func() bool { return k.moatObjects() == "" }, k.moatObjects)
	k.mustRun(0, "destroy", name)
}
