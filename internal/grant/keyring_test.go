package grant

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeTool writes an executable shell script called name into a fresh
// directory placed first on PATH, and returns that directory. The tests
// that use it change PATH and D-Bus variables with t.Setenv, so they do
// not run in parallel.
func fakeTool(t *testing.T, name, script string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake keyring tools are shell scripts")
	}
	dir := t.TempDir()
	body := "#!/bin/sh\nD=" + dir + "\necho \"$@\" >> \"$D/calls\"\n" + script
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(dir, "bus"))
	return dir
}

// fakeSecretTool keeps one secret in $D/secret, as libsecret would.
const fakeSecretTool = `case "$1" in
lookup) [ -f "$D/secret" ] || exit 1; cat "$D/secret" ;;
store) cat > "$D/secret" ;;
*) echo "unexpected: $*" >&2; exit 2 ;;
esac
`

// fakeSecurity keeps one password in $D/secret, as the macOS keychain would.
const fakeSecurity = `case "$1" in
find-generic-password) [ -f "$D/secret" ] || { echo "security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain." >&2; exit 44; }; cat "$D/secret"; echo ;;
-i) read -r cmd rest; [ "$cmd" = add-generic-password ] || exit 2; printf %s "${rest##*-w }" > "$D/secret" ;;
*) exit 2 ;;
esac
`

func calls(t *testing.T, dir string) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, "calls"))
	return string(b)
}

func TestOSKeyringCreatesAndReadsKey(t *testing.T) {
	for _, tt := range []struct{ goos, tool, script, desc string }{
		{"linux", "secret-tool", fakeSecretTool, "OS keyring (Secret Service)"},
		{"darwin", "security", fakeSecurity, "OS keyring (macOS keychain)"},
	} {
		t.Run(tt.goos, func(t *testing.T) {
			dir := fakeTool(t, tt.tool, tt.script)
			k := newKeyring(tt.goos)
			key, err := k.Key()
			if err != nil || len(key) != keySize {
				t.Fatalf("Key() = %d bytes, %v; want a new %d-byte key", len(key), err, keySize)
			}
			stored, _ := os.ReadFile(filepath.Join(dir, "secret"))
			if got, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(stored))); !bytes.Equal(got, key) {
				t.Fatalf("the keyring holds %q, not the key", stored)
			}
			if strings.Contains(calls(t, dir), strings.TrimSpace(string(stored))) {
				t.Fatalf("the key was passed on a command line: %s", calls(t, dir))
			}
			if again, err := newKeyring(tt.goos).Key(); err != nil || !bytes.Equal(again, key) {
				t.Fatalf("a new keyring source read another key (%v)", err)
			}
			before := calls(t, dir)
			if again, err := k.Key(); err != nil || !bytes.Equal(again, key) || calls(t, dir) != before {
				t.Fatalf("second Key() = %v, or the tool was run again; want the cached key", err)
			}
			if got := k.Describe(); got != tt.desc {
				t.Errorf("Describe() = %q, want %q", got, tt.desc)
			}
		})
	}
}

func TestOSKeyringUnusable(t *testing.T) {
	tests := []struct {
		name   string
		script string // "" means no secret-tool on PATH
		setup  func(t *testing.T)
		why    string
	}{
		{name: "not installed", why: "secret-tool is not installed"},
		{name: "no D-Bus session", script: fakeSecretTool, setup: func(t *testing.T) {
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
			t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
		}, why: "no D-Bus session bus"},
		{name: "lookup fails", script: "echo 'Cannot autolaunch D-Bus without X11 $DISPLAY' >&2; exit 1\n",
			why: "secret-tool lookup: Cannot autolaunch D-Bus without X11 $DISPLAY"},
		{name: "store does not stick", script: `[ "$1" = lookup ] && exit 1; exit 0` + "\n",
			why: "the Secret Service did not keep the key"},
		{name: "hangs up", script: "kill -9 $$\n", why: "secret-tool lookup: signal: killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.script != "" {
				fakeTool(t, "secret-tool", tt.script)
			} else {
				t.Setenv("PATH", t.TempDir())
			}
			if tt.setup != nil {
				tt.setup(t)
			}
			key, err := newKeyring("linux").Key()
			if !errors.Is(err, ErrNoKeyring) || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("Key() = %d bytes, %v; want ErrNoKeyring saying %q", len(key), err, tt.why)
			}
		})
	}
	if _, err := newKeyring("plan9").Key(); !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("Key() on an OS without a keyring = %v, want ErrNoKeyring", err)
	}
}

func TestOSKeyringRefusesMalformedItem(t *testing.T) {
	dir := fakeTool(t, "secret-tool", fakeSecretTool)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("not-a-key-at-all"), 0o600)
	_, err := newKeyring("linux").Key()
	var ke *KeyError
	if !errors.As(err, &ke) || errors.Is(err, ErrNoKeyring) || !strings.Contains(ke.Hint(), "delete it with 'secret-tool clear service moat account grants-key'") {
		t.Fatalf("Key() error = %v, want a *KeyError (no fallback) saying how to clear the item", err)
	}
	if strings.Contains(err.Error(), "not-a-key-at-all") {
		t.Fatal("the error repeats the item's content")
	}
}

func TestKeyringOrFile(t *testing.T) {
	t.Run("keyring", func(t *testing.T) {
		fakeTool(t, "secret-tool", fakeSecretTool)
		path := filepath.Join(t.TempDir(), "keys", "grants.key")
		ks := keyringOrFileFor("linux", path)
		if _, err := ks.Key(); err != nil {
			t.Fatal(err)
		}
		if p, _, ok := KeyFileInUse(ks); ok || ks.Describe() != "OS keyring (Secret Service)" {
			t.Fatalf("KeyFileInUse = %q, %v; Describe %q; want the keyring in use", p, ok, ks.Describe())
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a key file was created beside the keyring (%v)", err)
		}
	})
	t.Run("fallback when the keyring fails", func(t *testing.T) {
		fakeTool(t, "secret-tool", "echo 'org.freedesktop.secrets was not provided' >&2; exit 1\n")
		path := filepath.Join(t.TempDir(), "keys", "grants.key")
		ks := keyringOrFileFor("linux", path)
		key, err := ks.Key()
		if err != nil {
			t.Fatal(err)
		}
		onDisk, _ := os.ReadFile(path)
		if !bytes.Equal(key, onDisk) {
			t.Fatal("the key is not the key file's")
		}
		assertPrivateFileMode(t, path)
		if p, reused, ok := KeyFileInUse(ks); !ok || reused || p != path {
			t.Fatalf("KeyFileInUse = %q, reused %v, %v; want %q, not reused", p, reused, ok, path)
		}
		if want := "key file " + path + " (no OS keyring found)"; ks.Describe() != want {
			t.Fatalf("Describe() = %q, want %q", ks.Describe(), want)
		}
	})
	t.Run("an existing key file wins", func(t *testing.T) {
		dir := fakeTool(t, "secret-tool", fakeSecretTool)
		path := filepath.Join(t.TempDir(), "grants.key")
		want := bytes.Repeat([]byte{9}, keySize)
		os.WriteFile(path, want, 0o600)
		ks := keyringOrFileFor("linux", path)
		if key, err := ks.Key(); err != nil || !bytes.Equal(key, want) {
			t.Fatalf("Key() = %v; want the key file's key", err)
		}
		if p, reused, ok := KeyFileInUse(ks); !ok || !reused || p != path {
			t.Fatalf("KeyFileInUse = %q, reused %v, %v; want %q, reused", p, reused, ok, path)
		}
		if c := calls(t, dir); c != "" {
			t.Fatalf("the keyring was asked (%q) although the key file exists", c)
		}
	})
	t.Run("not used yet", func(t *testing.T) {
		if _, _, ok := KeyFileInUse(KeyringOrFile(filepath.Join(t.TempDir(), "k"))); ok {
			t.Fatal("KeyFileInUse before any Key() says a file is in use")
		}
	})
}

func keyringOrFileFor(goos, path string) KeySource {
	return WithFallback(&fileFirst{path: path, keyring: newKeyring(goos)}, FileKey(path))
}

func assertPrivateFileMode(t *testing.T, path string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode of %s = %v, %v; want 0600", path, info.Mode().Perm(), err)
	}
}
