package run

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/egress"
	"github.com/moatsh/moat/internal/state"
)

// TestProxyHoldsNothingThatOutlivesItsRun: the proxy sidecar, which parses
// hostile traffic, sees only its own directory of the run (never the run
// record, never the user's CA directory), and its stdin carries keys of
// the run's own, certified by the user's, never the user's keys.
func TestProxyHoldsNothingThatOutlivesItsRun(t *testing.T) {
	m, eng := newTestManager(t)
	userKey, err := audit.LoadOrCreateKey(m.Store.KeysDir())
	if err != nil {
		t.Fatal(err)
	}
	m.SigningKey = func() (ed25519.PrivateKey, error) { return userKey, nil }
	res, err := m.Run(context.Background(), Options{Workspace: writeWorkspace(t, ""), Detach: true, Command: []string{"sleep"}})
	if err != nil {
		t.Fatal(err)
	}
	id, spec, ok := proxySpec(t, eng)
	if !ok {
		t.Fatal("no proxy sidecar")
	}
	ownDir := m.Store.Path(res.Run.ID, state.ProxyDir)
	if len(spec.Mounts) != 0 || spec.EngineSocket != "" {
		t.Errorf("the proxy mounts %v (engine socket %q); want only its own directory %s", spec.Mounts, spec.EngineSocket, ownDir)
	}
	for _, f := range spec.MoatFiles {
		if f.Target != proxyBinaryTarget {
			t.Errorf("the proxy gets moat's file %s at %s; want only its binary", f.Source, f.Target)
		}
	}
	for _, mt := range spec.SharedDirs {
		if mt.Source != ownDir {
			t.Errorf("the proxy mounts %s at %s; want only its own directory %s", mt.Source, mt.Target, ownDir)
		}
	}
	stdin := eng.Stdin[id]
	caKey, err := os.ReadFile(filepath.Join(m.caDir(), "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stdin, bytes.TrimSpace(caKey)) || bytes.Contains(stdin, []byte(strings.Split(string(caKey), "\n")[1])) {
		t.Error("the proxy's stdin holds the user's CA key")
	}
	cfg, err := egress.ReadConfig(bytes.NewReader(stdin))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Audit == nil || cfg.Audit.Key.Equal(userKey) {
		t.Fatalf("the proxy's audit key is the user's (or none): %+v", cfg.Audit)
	}
	if len(cfg.CA.Cert) == 0 || len(cfg.CA.Key) == 0 {
		t.Fatal("the proxy got no run CA")
	}
	// The user's key certifies the run's key in the log, before the proxy
	// writes anything.
	f, err := OpenAuditLog(m.Store, res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd := audit.NewReader(f)
	runPub := audit.Fingerprint(cfg.Audit.Key.Public().(ed25519.PublicKey))
	for {
		e, err := rd.Next()
		if err != nil {
			t.Fatalf("no certificate of the run key %s in the log: %v", runPub, err)
		}
		if e.Kind == audit.KindRunKey {
			break
		}
	}
}

// TestRunDirLinksAreNotFollowed: a proxy taken over can replace the
// files of its directory with links to the user's files; moat neither
// writes nor reads through them.
func TestRunDirLinksAreNotFollowed(t *testing.T) {
	m, _ := newTestManager(t)
	userKey, _ := audit.LoadOrCreateKey(m.Store.KeysDir())
	m.SigningKey = func() (ed25519.PrivateKey, error) { return userKey, nil }
	var warnings bytes.Buffer
	m.Warnf = func(f string, a ...any) { fmt.Fprintf(&warnings, f+"\n", a...) }
	res, err := m.Run(context.Background(), Options{Workspace: writeWorkspace(t, ""), Command: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "user-file")
	os.WriteFile(victim, []byte("the user's own\n"), 0o600)
	log := m.Store.Path(res.Run.ID, AuditFile)
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, log); err != nil {
		t.Fatal(err)
	}
	m.record(res.Run, audit.KindRunFinished, map[string]string{"state": "x"}, true)
	if data, _ := os.ReadFile(victim); string(data) != "the user's own\n" {
		t.Fatalf("moat wrote through a link in the run's directory: %q", data)
	}
	if !strings.Contains(warnings.String(), "link") {
		t.Errorf("warnings %q, want one naming the link", warnings.String())
	}
	if f, err := OpenAuditLog(m.Store, res.Run.ID); err == nil {
		f.Close()
		t.Fatal("OpenAuditLog followed a link")
	}
}
