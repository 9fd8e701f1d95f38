// Package factory wires the concrete parts (the Docker engine adapter, the
// run store under the moat home) into the Factory every command receives.
package factory

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/buildkit"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/image"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/runtime"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/termtext"
)

// New returns the Factory for a real process.
func New(version string) *cmdutil.Factory {
	ios := iostreams.System()
	f := &cmdutil.Factory{IOStreams: ios, Version: version}
	var once sync.Once
	var mgr *run.Manager
	var err error
	f.Manager = func(ctx context.Context) (*run.Manager, error) {
		once.Do(func() { mgr, err = newManager(ctx, ios, version, lazyGrants(f.Grants)) })
		return mgr, err
	}
	f.Store = openStore
	f.Grants = sync.OnceValues(openGrants)
	return f
}

// openGrants opens the grant store under the moat home, its key in the OS
// keyring or, failing that, in keys/grants.key.
func openGrants() (*grant.Store, error) {
	store, err := openStore()
	if err != nil {
		return nil, err
	}
	key := grant.KeyringOrFile(filepath.Join(store.KeysDir(), "grants.key"))
	return grant.NewStore(filepath.Join(store.Root, "grants"), key), nil
}

func openStore() (*state.Store, error) {
	root, err := state.DefaultRoot()
	if err != nil {
		return nil, err
	}
	return &state.Store{Root: root}, nil
}

// lazyGrants opens the grant store only when a run asks for a grant.
type lazyGrants func() (*grant.Store, error)

func (l lazyGrants) Get(name string) (grant.Grant, grant.Secret, error) {
	s, err := l()
	if err != nil {
		return grant.Grant{}, grant.Secret{}, err
	}
	return s.Get(name)
}

// Put stores a grant again (a renewed login).
func (l lazyGrants) Put(g grant.Grant, secret grant.Secret) error {
	s, err := l()
	if err != nil {
		return err
	}
	return s.Put(g, secret)
}

// sidecarName is the program of moat's in-container commands alone
// (internal/cmd/sidecar), which 'make build' puts beside moat.
const sidecarName = "moat-sidecar"

// proxyBinary is the static Linux binary moat runs inside a run's
// containers (the proxy, its relay, moat-init's helpers):
// MOAT_PROXY_BINARY if set (a Linux build when moat itself runs on macOS),
// else moat-sidecar beside this executable, else this executable, which
// has the same commands but starts slower.
func proxyBinary() string {
	if p := os.Getenv("MOAT_PROXY_BINARY"); p != "" {
		return p
	}
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(self); err == nil {
		self = r
	}
	return sidecarBeside(self)
}

// sidecarBeside returns moat-sidecar in the directory of the executable
// self if it is a regular file there, else self.
func sidecarBeside(self string) string {
	p := filepath.Join(filepath.Dir(self), sidecarName)
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
		return p
	}
	return self
}

func newManager(ctx context.Context, ios *iostreams.IOStreams, version string, grants run.GrantSource) (*run.Manager, error) {
	store, err := openStore()
	if err != nil {
		return nil, err
	}
	eng, err := runtime.NewDocker(ctx)
	if err != nil {
		return nil, err
	}
	progress := newBuildProgress(ios)
	keyDir := store.KeysDir()
	signingKey := sync.OnceValues(func() (ed25519.PrivateKey, error) { return audit.LoadOrCreateKey(keyDir) })
	globalPath := filepath.Join(store.Root, config.GlobalFileName)
	global, err := config.LoadGlobal(globalPath)
	if err != nil {
		return nil, err
	}
	bin := proxyBinary()
	var local run.Engine = eng
	if addr := os.Getenv(buildkit.HostEnv); addr != "" {
		// Inside a run with a BuildKit sidecar: build there, load here.
		local = &buildkit.Engine{Docker: eng, Address: addr}
	}
	engine, err := newEngine(ctx, engineConfig{docker: eng, local: local, global: global,
		choice: cmdutil.RuntimeFrom(ctx), store: store, sidecarBinary: bin})
	if err != nil {
		eng.Close()
		return nil, err
	}
	return &run.Manager{
		BaseImage:     global.BaseImage,
		Mirrors:       image.Sources{NPMRegistry: global.NPMRegistry, PipIndex: global.PipIndex},
		BuildkitImage: global.BuildkitImage,
		Limits:        global.Limits,
		ConfigPath:    globalPath,
		Grants:        grants,
		ProxyBinary:   bin,
		SigningKey:    signingKey,
		Engine:        engine,
		Store:         store,
		Version:       version,
		Warnf: func(format string, args ...any) {
			fmt.Fprintf(ios.ErrOut, "warning: %s\n", termtext.String(fmt.Sprintf(format, args...)))
		},
		OnBuild: progress.onEvent,
	}, nil
}
