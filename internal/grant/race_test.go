package grant

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// slowSecretTool is fakeSecretTool with a store that takes a while and
// replaces the item, as secret-tool does: first uses that race both store.
const slowSecretTool = `case "$1" in
lookup) [ -f "$D/secret" ] || exit 1; cat "$D/secret" ;;
store) sleep 0.2; cat > "$D/secret.$$" && mv "$D/secret.$$" "$D/secret" ;;
*) echo "unexpected: $*" >&2; exit 2 ;;
esac
`

// raceEnv names the grant directory a re-executed test binary stores a
// grant in (see TestHelperPutGrant).
const raceEnv = "MOAT_GRANT_RACE_HOME"

// TestHelperPutGrant is not a test: TestFirstGrantsRace runs the test
// binary again with raceEnv set, so that several processes store their
// first grant at once.
func TestHelperPutGrant(t *testing.T) {
	home := os.Getenv(raceEnv)
	if home == "" {
		t.Skip("run by TestFirstGrantsRace")
	}
	putRacer(t, home, os.Getenv(raceEnv+"_NAME"))
}

func putRacer(t *testing.T, home, name string) {
	t.Helper()
	s := NewStore(filepath.Join(home, "grants"), KeyringOrFile(filepath.Join(home, "keys", "grants.key")))
	if err := s.Put(httpGrant(name), NewSecret([]byte("token-"+name))); err != nil {
		t.Errorf("storing %s: %v", name, err)
	}
}

// TestFirstGrantsRace stores the first grants of a moat home from several
// goroutines and several processes at once, with an OS keyring (a fake
// secret-tool that replaces its item, slowly) and with a key file only;
// afterwards every grant must open.
func TestFirstGrantsRace(t *testing.T) {
	for _, keyring := range []bool{true, false} {
		t.Run(fmt.Sprintf("keyring=%v", keyring), func(t *testing.T) {
			fakeTool(t, "secret-tool", slowSecretTool)
			if !keyring {
				t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
				t.Setenv("XDG_RUNTIME_DIR", "")
			}
			home := t.TempDir()
			var names []string
			var procs []*exec.Cmd
			for i := range 4 {
				name := fmt.Sprintf("proc%d", i)
				cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPutGrant$", "-test.count=1")
				cmd.Env = append(os.Environ(), raceEnv+"="+home, raceEnv+"_NAME="+name)
				procs, names = append(procs, cmd), append(names, name)
			}
			for _, cmd := range procs {
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			for i := range 4 {
				name := fmt.Sprintf("goroutine%d", i)
				names = append(names, name)
				wg.Go(func() { putRacer(t, home, name) })
			}
			wg.Wait()
			for _, cmd := range procs {
				if err := cmd.Wait(); err != nil {
					t.Errorf("a racing process: %v", err)
				}
			}
			s := NewStore(filepath.Join(home, "grants"), KeyringOrFile(filepath.Join(home, "keys", "grants.key")))
			for _, name := range names {
				if _, sec, err := s.Get(name); err != nil || !strings.HasSuffix(string(sec.Reveal()), name) {
					t.Errorf("grant %s: %v", name, err)
				}
			}
		})
	}
}

// TestNoKeyringDoesNotShadowKeyringGrants stores a grant under the OS
// keyring's key, then stores one where the keyring cannot be reached (no
// D-Bus session, as over ssh): that must be refused, saying why, without
// creating a key file; back with the keyring, both work.
func TestNoKeyringDoesNotShadowKeyringGrants(t *testing.T) {
	fakeTool(t, "secret-tool", fakeSecretTool)
	home := t.TempDir()
	keyFile := filepath.Join(home, "keys", "grants.key")
	open := func() *Store { return NewStore(filepath.Join(home, "grants"), KeyringOrFile(keyFile)) }
	if err := open().Put(httpGrant("mine"), NewSecret([]byte("ghp_1"))); err != nil {
		t.Fatal(err)
	}

	bus := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	err := open().Put(httpGrant("other"), NewSecret([]byte("tok")))
	var ke *KeyError
	if !errors.As(err, &ke) || !strings.Contains(err.Error(), "OS keyring") || !strings.Contains(ke.Hint(), "DBUS_SESSION_BUS_ADDRESS") {
		t.Fatalf("got %v (hint %q), want a KeyError naming the OS keyring, with a remedy", err, hint(err))
	}
	if _, _, err := open().Get("mine"); !errors.As(err, &ke) {
		t.Fatalf("Get without the keyring: got %v, want a KeyError", err)
	}
	if _, err := os.Lstat(keyFile); err == nil {
		t.Fatalf("a key file %s was created: it would shadow the keyring from now on", keyFile)
	}

	t.Setenv("DBUS_SESSION_BUS_ADDRESS", bus)
	if _, sec, err := open().Get("mine"); err != nil || string(sec.Reveal()) != "ghp_1" {
		t.Fatalf("Get with the keyring again: %v", err)
	}
	if err := open().Put(httpGrant("other"), NewSecret([]byte("tok"))); err != nil {
		t.Fatal(err)
	}
}

// TestStoreRefusesAnotherKey checks that a store whose key file was
// replaced says so, naming the key that sealed it, before any grant is
// opened or sealed under the new key.
func TestStoreRefusesAnotherKey(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	if err := s.Put(httpGrant("mine"), NewSecret([]byte("tok"))); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(filepath.Dir(s.dir), "keys", "grants.key")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte{1}, keySize), 0o600); err != nil {
		t.Fatal(err)
	}
	s = NewStore(s.dir, FileKey(keyFile))
	for _, op := range []func() error{
		func() error { _, _, err := s.Get("mine"); return err },
		func() error { return s.Put(httpGrant("other"), NewSecret([]byte("tok"))) },
	} {
		err := op()
		var ke *KeyError
		if !errors.As(err, &ke) || !strings.Contains(err.Error(), "sealed with another key, from key file "+keyFile) || ke.Hint() == "" {
			t.Fatalf("got %v, want a KeyError naming the key that sealed the store", err)
		}
	}
}

func httpGrant(name string) Grant {
	return Grant{Name: name, Kind: HTTP, Hosts: []string{"api.example.com"}, Header: "x-api-key"}
}

func hint(err error) string {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}
