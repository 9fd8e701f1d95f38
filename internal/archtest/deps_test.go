package archtest

import (
	"encoding/json"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/moatsh/moat/"

// forbidden lists, per package, the moat packages it must not import
// (directly or not), each with the reason.
var forbidden = map[string]map[string]string{
	// moat-sidecar, and what it is built of, starts in every run's
	// containers: nothing that reaches an engine, or its clients' init.
	"cmd/moat-sidecar":      inContainer,
	"internal/cmd/sidecar":  inContainer,
	"internal/cmd/proxy":    inContainer,
	"internal/cmd/initwait": inContainer,
	"internal/cmd/userns":   inContainer,
	"internal/cmd/kubepod":  inContainer,
	"internal/deps": {
		"internal/runtime": "deps is pure data and parsing",
		"internal/image":   "image depends on deps, not the reverse",
		"internal/run":     "the orchestrator consumes deps",
	},
	"internal/config": {
		"internal/run":     "the orchestrator consumes config",
		"internal/runtime": "config knows nothing of engines",
		"internal/cmd":     "config is not CLI-specific",
	},
	"internal/image": {
		"internal/run":       "the orchestrator consumes images",
		"internal/cmd":       "images know nothing of the CLI",
		"internal/iostreams": "image emits events; it never prints",
	},
	"internal/runtime": {
		"internal/run":    "engines are below the orchestrator",
		"internal/config": "engines know nothing of agent.yaml",
		"internal/cmd":    "engines know nothing of the CLI",
	},
	"internal/runtime/kube": {
		"internal/run":    "the cluster adapter is below the orchestrator",
		"internal/config": "engines know nothing of agent.yaml",
		"internal/cmd":    "engines know nothing of the CLI",
	},
	"internal/run": {
		"internal/cmd":           "the CLI drives the orchestrator, not the reverse",
		"internal/cmdutil":       "the orchestrator returns errors; the CLI maps them",
		"internal/iostreams":     "the orchestrator takes writers, never the terminal",
		"github.com/spf13/cobra": "the orchestrator is not a CLI",
	},
	"internal/audit": {
		"internal/run":     "the orchestrator records into the audit log, not the reverse",
		"internal/runtime": "the audit log knows nothing of engines",
		"internal/cmd":     "the audit log is not CLI-specific",
	},
	"internal/proxy": {
		"internal/run":     "the orchestrator starts the proxy, not the reverse",
		"internal/runtime": "the proxy knows nothing of engines",
		"internal/grant":   "the proxy takes a small credential interface, not the store",
		"internal/cmd":     "the proxy is not CLI-specific",
	},
	"internal/grant": {
		"internal/sshagent":       "the store's metadata is read with the standard library; internal/sshgrant makes keys of it",
		"golang.org/x/crypto/ssh": "every moat process links the store; only what signs links SSH (internal/sshgrant)",
		"internal/proxy":          "the proxy takes a small credential interface; the store does not know it",
		"internal/run":            "the orchestrator consumes grants",
		"internal/cmd":            "the store is not CLI-specific",
	},
	"internal/policy": {
		"internal/run":     "policy is pure: the proxy and the orchestrator consume it",
		"internal/runtime": "policy is pure",
		"internal/config":  "policy is pure; config passes it plain values",
		"internal/cmd":     "policy is pure",
	},
	"internal/trust": {
		"internal/run":     "the orchestrator consults approvals, not the reverse",
		"internal/config":  "approvals compare permissions, not agent.yaml's schema",
		"internal/runtime": "approvals know nothing of engines",
		"internal/cmd":     "approvals are not CLI-specific",
	},
	"internal/agent": {
		"internal/run":           "the CLI applies a profile to the config it hands the orchestrator; profiles are data",
		"internal/runtime":       "profiles know nothing of engines",
		"internal/image":         "a profile's install list is dependency specs; images are built from the config",
		"internal/buildkit":      "profiles know nothing of builders",
		"internal/egress":        "a profile's hosts are network.allow rules; egress enforces them",
		"internal/proxy":         "a profile's hosts are network.allow rules; the proxy enforces them",
		"internal/cmd":           "launchers are built from profiles, not the reverse",
		"internal/cmdutil":       "profiles are not CLI-specific",
		"internal/iostreams":     "profiles are data; they never print",
		"github.com/spf13/cobra": "profiles are data, not commands",
	},
	"internal/buildkit": {
		"internal/run":    "the orchestrator and moat inside a run drive builds, not the reverse",
		"internal/config": "a build takes a Dockerfile and a context, not agent.yaml",
		"internal/cmd":    "builds are not CLI-specific",
	},
	"internal/egress": {
		"internal/run":     "the orchestrator starts the sidecar and hands it its configuration, not the reverse",
		"internal/runtime": "the sidecar runs inside a container and knows nothing of engines",
		"internal/cmd":     "the sidecar is not CLI-specific",
	},
	"internal/trace": {
		"internal/run":     "trace reads a run's log; the orchestrator does not use it",
		"internal/runtime": "trace reads files, not engines",
		"internal/cmd":     "trace is not CLI-specific",
	},
	"internal/suggest": {
		"internal/run":     "suggest works on a trace and agent.yaml's bytes; the command finds them",
		"internal/runtime": "suggest knows nothing of engines",
		"internal/cmd":     "suggest is not CLI-specific",
	},
	"internal/routerctl": {
		"internal/run":     "runs start the router through the CLI; the router reads their records",
		"internal/runtime": "finding and starting the router knows nothing of engines",
		"internal/cmd":     "launch and 'moat router' share it, not the reverse",
	},
	"internal/cmdutil":          {"internal/cmd": "command packages use cmdutil, not the reverse"},
	"internal/run/runtest":      {"internal/cmd": "the fake engine is below the commands it serves"},
	"internal/testutil":         {"internal": "test fixtures are a leaf: whatever they test imports them"},
	"internal/testutil/npmreg":  {"internal": "the tests' npm registry is a leaf: only the standard library"},
	"internal/testutil/fakeapi": {"internal": "fakes of public APIs are a leaf: only the standard library"},
	"internal/testutil/goproxy": {"internal": "the tests' Go module proxy is a leaf: only the standard library"},
	"internal/testutil/pyindex": {"internal": "the tests' Python index is a leaf: only the standard library"},
	"internal/fsutil":           {"internal": "crash-safe writes are a leaf every store uses"},
	"internal/initwait":         {"internal": "what moat-init waits for is a leaf: it runs in the agent's container"},
	"internal/userns":           {"internal": "the user-namespace starter is a leaf: it runs inside a run's container"},
	"internal/ociwrap":          {"internal": "the inner daemon's runtime wrapper is a leaf: it runs inside a run's container"},
	"internal/podfs":            {"internal": "the pod's directory copy is a leaf: it runs in pods and on the host"},
	"internal/textdist":         {"internal": "string distance is a leaf"},
	"internal/sshagent":         {"internal": "the run's SSH agent is a leaf: grants hand it keys, the proxy serves it and records its events"},
	"internal/sshwatch":         {"internal": "the proxy's view of SSH tunnels is a leaf: the proxy feeds it, the run's SSH agent asks it"},
	"internal/sshgrant": {
		"internal/proxy":   "ssh grants become keys for the run's SSH agent; the proxy never sees them",
		"internal/run":     "the orchestrator consumes ssh grants",
		"internal/runtime": "ssh grants know nothing of engines",
		"internal/cmd":     "ssh grants are not CLI-specific: 'moat grant ssh' and runs both use them",
	},
	"internal/state":     {"internal/run": "the store is below the orchestrator", "internal/runtime": "the store knows nothing of engines"},
	"internal/labels":    {"internal/run": "labels are leaf data", "internal/runtime": "labels are leaf data"},
	"internal/iostreams": {"internal/run": "streams are leaf utilities"},
	"internal/termtext": {
		"internal/run":       "termtext is a leaf: the orchestrator quotes paths with it",
		"internal/runtime":   "termtext is a leaf",
		"internal/config":    "termtext is a leaf",
		"internal/cmd":       "termtext is a leaf: commands render with it",
		"internal/cmdutil":   "termtext is a leaf",
		"internal/iostreams": "termtext is a leaf",
	},
	"internal/plural": {"internal": "plural is a leaf: every package words its counts with it, leaves too"},
}

// leafImports are the moat packages a leaf (a package whose rule forbids
// all of "internal") may still import, each with the reason: they import
// nothing of moat themselves, so the leaf stays a leaf.
var leafImports = map[string]string{
	"internal/plural": "the counts in a leaf's messages, worded for one and for many",
}

// inContainer is what moat's in-container commands must not import.
var inContainer = map[string]string{
	"internal/run":             "the orchestrator, and with it the Engine client",
	"internal/runtime":         "the engine adapter and the Engine client",
	"internal/image":           "image builds happen outside containers",
	"internal/buildkit":        "the BuildKit client",
	"internal/cmdutil":         "the CLI's Factory, and with it the orchestrator",
	"github.com/docker/docker": "the Engine client's init costs every process that links it",
	"github.com/moby/buildkit": "the BuildKit client's init costs every process that links it",
	"google.golang.org/grpc":   "gRPC comes with the BuildKit client",
}

// allowedImports lists, for the packages that build run commands (and the
// benchmarks' floor program), all
// they may import directly besides the standard library, each with the
// reason: what a CLI command needs, and never another command package.
var allowedImports = map[string]map[string]string{
	"internal/testutil/npmreg/cmd/npmreg": {"internal/testutil/npmreg": "the registry cache it fills and serves"},
	"internal/cmd/launch": {
		"internal/cmdutil":       "errors, exit codes, approval prompts",
		"internal/iostreams":     "the user's terminal",
		"internal/run":           "the orchestrator it launches the run through",
		"internal/state":         "the run record the orchestrator hands back",
		"internal/grant":         "the grant store, whose hosts the summary of refused requests leaves out",
		"internal/trace":         "the requests a foreground run's proxy refused, read from its audit log for the summary",
		"internal/suggest":       "the rules that would allow them, as 'moat policy suggest' gives them",
		"internal/termtext":      "the agent's host names and paths in that summary, shown safely",
		"internal/plural":        "the counts in that summary, worded for one and for many",
		"internal/routerctl":     "the router a run that publishes ports starts, and the names it reaches them by",
		"github.com/spf13/cobra": "the commands it sets up",
	},
	"bench/directcli": {
		"internal/runtime": "the engine adapter whose floor it measures, and nothing of moat's above it",
	},
	"internal/cmd/agentcmd": {
		"internal/agent":         "the profiles it builds launchers for",
		"internal/cmd/launch":    "the run flag set and launching, shared with 'moat run'",
		"internal/cmdutil":       "the Factory",
		"internal/run":           "the opened workspace a profile is applied to",
		"github.com/spf13/cobra": "the commands",
	},
}

func TestRunCommandsImportOnlyWhatACommandNeeds(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module)
		allowed, ok := allowedImports[rel]
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			first, _, _ := strings.Cut(imp, "/")
			if !strings.Contains(first, ".") {
				continue // the standard library
			}
			if _, ok := allowed[strings.TrimPrefix(imp, module)]; !ok {
				t.Errorf("%s imports %s: it may import only %v and the standard library", rel, imp, slices.Sorted(maps.Keys(allowed)))
			}
		}
	}
}

type pkg struct {
	ImportPath string
	Deps       []string
	Imports    []string
	Doc        string
	Name       string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestDependenciesPointOneWay(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module)
		rules := forbidden[rel]
		for _, d := range p.Deps {
			target := d
			if strings.HasPrefix(d, module) {
				target = strings.TrimPrefix(d, module)
			} else if strings.HasPrefix(d, "internal/") {
				continue // the standard library's own internal packages
			}
			for bad, why := range rules {
				if _, ok := leafImports[target]; ok && bad == "internal" {
					continue
				}
				if target == bad || strings.HasPrefix(target, bad+"/") {
					t.Errorf("%s imports %s: %s", rel, d, why)
				}
			}
		}
		if strings.HasPrefix(rel, "internal/cmd/") && !strings.HasPrefix(rel, "internal/cmd/factory") && !strings.HasPrefix(rel, "internal/cmd/root") {
			for _, d := range p.Imports {
				if strings.HasPrefix(d, module+"internal/runtime") {
					t.Errorf("%s imports %s: commands reach engines through the Factory", rel, d)
				}
			}
		}
	}
}

// mainImports is all cmd/moat may import from moat: main only wires the CLI.
var mainImports = map[string]bool{
	module + "internal/cmd/root": true, module + "internal/cmd/factory": true, module + "internal/cmdutil": true,
}

func TestMainOnlyWiresTheCLI(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.ImportPath != module+"cmd/moat" {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module) && !mainImports[imp] {
				t.Errorf("cmd/moat imports %s; main only wires the CLI", imp)
			}
		}
	}
}

func TestEveryPackageSaysWhatItOwns(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.Doc == "" {
			t.Errorf("%s has no package doc comment", p.ImportPath)
		}
	}
}

// TestEveryPackageHasARule fails for a package no rule above covers: each
// new package says which way its dependencies point. Commands are covered
// by the rule that they reach engines through the Factory, cmd/moat by
// mainImports.
func TestEveryPackageHasARule(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module)
		_, ruled := forbidden[rel]
		_, allowed := allowedImports[rel]
		covered := ruled || allowed || strings.HasPrefix(rel, "internal/cmd/") || rel == "cmd/moat" || rel == "internal/archtest"
		if !covered {
			t.Errorf("%s has no rule: add what it must not import to forbidden (or its allowed imports to allowedImports)", rel)
		}
	}
}
