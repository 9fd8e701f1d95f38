package run

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/image"
)

// initScript is what the contract is checked against: what moat-init
// defines, calls from main, reads and assigns itself.
type initScript struct {
	funcs, mainCalls, reads, assigns map[string]bool
}

var (
	shellFunc = regexp.MustCompile(`(?m)^([a-z_]+)\(\) \{`)
	shellRead = regexp.MustCompile(`\$\{?(MOAT_[A-Z0-9_]+)`)
	// shellUnset finds the variables moat-init keeps from what it starts
	// later (MOAT_ATTEST, which the relay reads): handled as a read is.
	shellUnset   = regexp.MustCompile(`(?m)^\s*unset (MOAT_[A-Z0-9_]+)$`)
	shellAssign  = regexp.MustCompile(`(?m)^\s*(MOAT_[A-Z0-9_]+)=`)
	shellWord    = regexp.MustCompile(`[a-z_]+`)
	goEnvMoatVar = regexp.MustCompile(`^(MOAT_[A-Z0-9_]+)=`)
)

// testHookPrefix names the test hooks, read only by binaries built with
// the moattest tag (testhook_*.go), never by moat-init.
const testHookPrefix = "MOAT_TEST_"

func parseInitScript(t *testing.T) initScript {
	t.Helper()
	src := string(image.InitScript)
	s := initScript{funcs: map[string]bool{}, mainCalls: map[string]bool{}, reads: map[string]bool{}, assigns: map[string]bool{}}
	for _, m := range shellFunc.FindAllStringSubmatch(src, -1) {
		s.funcs[m[1]] = true
	}
	start := strings.Index(src, "\nmain() {\n")
	end := strings.Index(src[start+1:], "\n}\n")
	if start < 0 || end < 0 {
		t.Fatal("moat-init.sh has no main() { ... } function")
	}
	for _, w := range shellWord.FindAllString(src[start+len("\nmain() {\n"):start+1+end], -1) {
		if s.funcs[w] && w != "main" {
			s.mainCalls[w] = true
		}
	}
	for _, m := range shellRead.FindAllStringSubmatch(src, -1) {
		if !strings.HasPrefix(m[1], testHookPrefix) {
			s.reads[m[1]] = true
		}
	}
	for _, m := range shellUnset.FindAllStringSubmatch(src, -1) {
		s.reads[m[1]] = true
	}
	for _, m := range shellAssign.FindAllStringSubmatch(src, -1) {
		s.assigns[m[1]] = true
	}
	return s
}

// declared is every contract by its owner: the base one and each
// feature's.
func declared() map[string]initContract {
	c := map[string]initContract{"base": baseInit}
	for _, f := range allFeatures() {
		c[fmt.Sprintf("%T", f)] = f.initContract()
	}
	return c
}

// TestInitContractMatchesTheScript ties what the features declare to
// moat-init.sh: every MOAT_* variable the script reads (other than those
// it sets itself for its own second pass) is declared, every declared
// variable for moat-init is read (or unset: one only what moat-init
// starts first may hold), and every step the script's main runs
// is declared by the base contract or a feature (die is the script's own
// error exit), and every declared step is one main runs.
func TestInitContractMatchesTheScript(t *testing.T) {
	script := parseInitScript(t)
	if len(script.reads) < 10 || len(script.mainCalls) < 10 {
		t.Fatalf("parsed %d variables and %d steps from moat-init.sh: the parser no longer understands it", len(script.reads), len(script.mainCalls))
	}
	vars, steps := map[string]string{}, map[string]string{}
	for owner, c := range declared() {
		for _, v := range c.env {
			if prev, ok := vars[v.name]; ok {
				t.Errorf("%s is declared by both %s and %s", v.name, prev, owner)
			}
			vars[v.name] = owner
			if v.meaning == "" {
				t.Errorf("%s (%s) has no meaning", v.name, owner)
			}
			switch {
			case strings.HasPrefix(v.name, testHookPrefix):
				t.Errorf("%s (%s) is a test hook: moattest builds read those, not moat-init", v.name, owner)
			case v.forAgent && script.reads[v.name]:
				t.Errorf("%s (%s) is declared as the agent's, but moat-init reads it", v.name, owner)
			case !v.forAgent && !script.reads[v.name]:
				t.Errorf("%s (%s) is set for moat-init, which never reads it", v.name, owner)
			}
		}
		for _, s := range c.steps {
			steps[s] = owner
			if !script.mainCalls[s] {
				t.Errorf("step %s (%s) is not a function moat-init's main runs", s, owner)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(script.reads)) {
		if _, ok := vars[name]; !ok && !script.assigns[name] {
			t.Errorf("moat-init reads %s, which no feature declares", name)
		}
	}
	for _, s := range slices.Sorted(maps.Keys(script.mainCalls)) {
		if _, ok := steps[s]; !ok && s != "die" {
			t.Errorf("moat-init's main runs %s, which no feature declares as its step", s)
		}
	}
}

// TestFeaturesSetOnlyTheirDeclaredVariables runs plans that between them
// enable every feature on the fake engine, and checks the containers they
// create: no MOAT_* variable that is not declared, and every variable of
// each enabled feature set on the agent.
func TestFeaturesSetOnlyTheirDeclaredVariables(t *testing.T) {
	vars := map[string]bool{}
	for _, c := range declared() {
		for _, v := range append(c.env, c.sidecar...) {
			vars[v.name] = true
		}
	}
	for _, tt := range []struct{ name, yaml string }{
		{"egress, docker:dind and BuildKit", "dependencies: [docker:dind]\n"},
		{"egress and docker:host", "dependencies: [docker:host]\ndocker: {host_bypasses_egress: true}\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, vf := newBuildkitManager(t, nil)
			vf.AddImage(DefaultBuildkitImage)
			m.Engine = socketFake{vf, listenUnix(t)}
			ws := writeWorkspace(t, tt.yaml)
			p, err := m.resolve(context.Background(), Options{Workspace: ws})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Run(context.Background(), Options{Workspace: ws, Detach: true, Command: []string{"true"}}); err != nil {
				t.Fatal(err)
			}
			for _, c := range vf.Containers {
				for _, kv := range c.Spec.Env {
					if m := goEnvMoatVar.FindStringSubmatch(kv); m != nil && !vars[m[1]] {
						t.Errorf("container %s sets %s, which no feature declares", c.Spec.Name, m[1])
					}
				}
			}
			agent := agentSpec(t, vf.Engine)
			want := append([]initContract{baseInit}, contractsOf(p.features)...)
			for _, c := range want {
				for _, v := range c.env {
					if !hasEnv(agent.Env, v.name) {
						t.Errorf("the agent's container does not set %s, declared by an enabled feature", v.name)
					}
				}
			}
		})
	}
}

func contractsOf(fs []feature) []initContract {
	var cs []initContract
	for _, f := range fs {
		cs = append(cs, f.initContract())
	}
	return cs
}

// socketFake is the fake engine with a unix socket to share, so that
// docker:host runs on it.
type socketFake struct {
	*volumeFake
	path string
}

func (s socketFake) SocketPath() (string, error) { return s.path, nil }

// listenUnix returns the path of a unix socket that listens until the test
// ends, in a directory short enough for a socket's path.
func listenUnix(t *testing.T) string {
	dir, err := os.MkdirTemp("", "moat-sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("unix", filepath.Join(dir, "docker.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}
