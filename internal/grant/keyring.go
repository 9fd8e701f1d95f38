package grant

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// The key's item in the OS keyring: base64 of the 32-byte key.
const (
	keyringService = "moat"
	keyringAccount = "grants-key"
	keyringLabel   = "moat grant key"
	// keyringTimeout bounds one call of the keyring's CLI, long enough for
	// the user to answer an unlock prompt.
	keyringTimeout = 30 * time.Second
)

// keyringBackend drives one OS keyring through its command-line tool, so
// moat needs no cgo or D-Bus library.
type keyringBackend struct {
	name string // for Describe: "macOS keychain"
	tool string // looked up on PATH
	// ready returns why the tool cannot be tried here, or nil.
	ready  func() error
	lookup []string
	// missing reports whether a failed lookup means "no such item".
	missing func(code int, stderr string) bool
	// store returns the arguments and stdin that store value. The value
	// goes on stdin, never on a command line other users can read.
	store func(value string) (args []string, stdin string)
	clear string // the command that deletes the item, for hints
}

var keyringBackends = map[string]keyringBackend{
	"darwin": {
		name: "macOS keychain", tool: "security",
		lookup:  []string{"find-generic-password", "-s", keyringService, "-a", keyringAccount, "-w"},
		missing: func(code int, _ string) bool { return code == 44 }, // errSecItemNotFound
		store: func(value string) ([]string, string) {
			// security -i reads commands from stdin. Without -U an item that
			// another moat stored meanwhile is kept; Key reads back either way.
			return []string{"-i"}, fmt.Sprintf("add-generic-password -s %s -a %s -w %s\n", keyringService, keyringAccount, value)
		},
		clear: "security delete-generic-password -s " + keyringService + " -a " + keyringAccount,
	},
	"linux": {
		name: "Secret Service", tool: "secret-tool", ready: dbusSession,
		lookup: []string{"lookup", "service", keyringService, "account", keyringAccount},
		// secret-tool exits 1 without a word when nothing matches.
		missing: func(code int, stderr string) bool { return code == 1 && strings.TrimSpace(stderr) == "" },
		store: func(value string) ([]string, string) {
			return []string{"store", "--label", keyringLabel, "service", keyringService, "account", keyringAccount}, value
		},
		clear: "secret-tool clear service " + keyringService + " account " + keyringAccount,
	},
}

// dbusSession reports why the Secret Service cannot be reached: it lives on
// the D-Bus session bus, which headless hosts, containers and CI lack.
func dbusSession() error {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return nil
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "bus")); err == nil {
			return nil
		}
	}
	return errors.New("no D-Bus session bus")
}

// OSKeyring returns the OS keyring as a KeySource: the macOS keychain
// through the security CLI, the Secret Service (GNOME Keyring, KWallet)
// through libsecret's secret-tool on Linux. The key is the item with
// service "moat" and account "grants-key"; Key creates it on first use.
//
// Key returns an error matching ErrNoKeyring when the keyring cannot be
// used here (no such tool, no D-Bus session, locked without a prompt,
// access denied, a store that does not stick) and a *KeyError when it
// holds an item that is not a key: falling back then would silently
// switch keys. A key once read is cached.
func OSKeyring() KeySource { return newKeyring(runtime.GOOS) }

func newKeyring(goos string) *osKeyring {
	b, ok := keyringBackends[goos]
	if !ok {
		return &osKeyring{}
	}
	return &osKeyring{b: &b}
}

type osKeyring struct {
	b   *keyringBackend // nil where moat knows no keyring
	mu  sync.Mutex
	key []byte
}

func (k *osKeyring) Describe() string {
	if k.b == nil {
		return "OS keyring"
	}
	return "OS keyring (" + k.b.name + ")"
}

func (k *osKeyring) Key() ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key == nil {
		key, err := k.load()
		if err != nil {
			return nil, err
		}
		k.key = key
	}
	return append([]byte(nil), k.key...), nil
}

// load reads the key, creating it when the keyring has none.
func (k *osKeyring) load() ([]byte, error) {
	if k.b == nil {
		return nil, noKeyring("moat knows no keyring on %s", runtime.GOOS)
	}
	if _, err := exec.LookPath(k.b.tool); err != nil {
		return nil, noKeyring("%s is not installed", k.b.tool)
	}
	if k.b.ready != nil {
		if err := k.b.ready(); err != nil {
			return nil, noKeyring("%v", err)
		}
	}
	key, err := k.lookup()
	if key != nil || err != nil {
		return key, err
	}
	fresh := make([]byte, keySize)
	rand.Read(fresh)
	args, stdin := k.b.store(base64.StdEncoding.EncodeToString(fresh))
	// The store's own status is not trusted (security -i may exit 0 after a
	// failed command) and its output is not shown (it may echo the key):
	// reading the item back says whether the keyring kept a key, and which.
	k.run(args, stdin)
	key, err = k.lookup()
	if key == nil && err == nil {
		return nil, noKeyring("the %s did not keep the key", k.b.name)
	}
	return key, err
}

// lookup returns the stored key, or nil and no error when there is none.
func (k *osKeyring) lookup() ([]byte, error) {
	out, code, stderr, err := k.run(k.b.lookup, "")
	if err != nil {
		if code >= 0 && k.b.missing(code, stderr) {
			return nil, nil
		}
		return nil, noKeyring("%s %s: %s", k.b.tool, k.b.lookup[0], firstLine(stderr, err))
	}
	key, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if derr != nil || len(key) != keySize {
		return nil, &KeyError{Source: k.Describe(),
			Why: fmt.Sprintf("its item (service %q, account %q) does not hold a base64 %d-byte key", keyringService, keyringAccount, keySize),
			Remedy: fmt.Sprintf("Restore the item from a backup, or delete it with '%s' and store your grants again (those stored with it cannot be read).",
				k.b.clear)}
	}
	return key, nil
}

// run runs the tool and returns its stdout, exit code (-1 when it did not
// exit normally) and stderr.
func (k *osKeyring) run(args []string, stdin string) (stdout string, code int, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), keyringTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.b.tool, args...)
	cmd.WaitDelay = time.Second
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	code = -1
	var exit *exec.ExitError
	if err == nil {
		code = 0
	} else if errors.As(err, &exit) {
		code = exit.ExitCode()
	}
	if ctx.Err() != nil {
		err, code = fmt.Errorf("no answer in %v", keyringTimeout), -1
	}
	return out.String(), code, errOut.String(), err
}

func firstLine(stderr string, err error) string {
	if line, _, _ := strings.Cut(strings.TrimSpace(stderr), "\n"); line != "" {
		return line
	}
	return err.Error()
}

func noKeyring(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNoKeyring, fmt.Sprintf(format, args...))
}

// KeyringOrFile is the key source moat uses: the OS keyring, or the key
// file at path (0600) where no keyring can be used. A key file that
// already exists wins without asking the keyring: grants stored while no
// keyring answered stay readable when one appears later.
func KeyringOrFile(path string) KeySource {
	return WithFallback(&fileFirst{path: path, keyring: OSKeyring()}, FileKey(path))
}

// fileFirst is the keyring, unless the key file already exists.
type fileFirst struct {
	path    string
	keyring KeySource
	reused  bool // the key file existed, so the keyring was not asked
}

func (k *fileFirst) Describe() string { return k.keyring.Describe() }

func (k *fileFirst) Key() ([]byte, error) {
	unlock, err := lockKeyCreation(k.path)
	if err != nil {
		return nil, &KeyError{Source: k.Describe(), Why: "locking its creation", Err: err}
	}
	defer unlock()
	if _, err := os.Lstat(k.path); !errors.Is(err, fs.ErrNotExist) {
		k.reused = true
		return nil, noKeyring("the key file %s is in use", k.path)
	}
	return k.keyring.Key()
}

// KeyFileInUse returns the path of the key file ks took its key from, and
// ok false when ks used an OS keyring or has not produced a key yet.
// reused is true when the file was used because it existed already, so no
// keyring was asked; false when no keyring could be used just now.
func KeyFileInUse(ks KeySource) (path string, reused, ok bool) {
	switch k := ks.(type) {
	case fileKey:
		return k.path, false, true
	case *fallbackKey:
		k.mu.Lock()
		defer k.mu.Unlock()
		if !k.fellBack {
			return "", false, false
		}
		path, _, ok := KeyFileInUse(k.fallback)
		ff, _ := k.primary.(*fileFirst)
		return path, ff != nil && ff.reused, ok
	}
	return "", false, false
}
