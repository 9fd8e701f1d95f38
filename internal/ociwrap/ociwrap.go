// Package ociwrap owns moat's OCI runtime wrapper for the containers a
// run's nested engines start (docker:dind's daemon, the BuildKit
// sidecar's build steps): before runc creates one, it makes the container
// trust the run's proxy CA, the way moat-init makes the agent's container
// trust it, so that TLS from inside them works through the run's proxy,
// which opens every TLS connection, without the agent or the image doing
// anything.
//
// The daemon runs it as its runtime, through a two-line script (a runtime
// is a path without arguments). For "create" and "run" it edits the
// bundle's config.json: the image's own CA bundle plus the run's CA,
// written beside config.json, is bind-mounted read-only at Target, in the
// container's /dev (a tmpfs of the runtime's, never part of the image),
// and SSL_CERT_FILE and the variables of other common clients name it
// unless the container sets them. The image's own bundle is left alone: a
// mount over it would be captured as a file in images built FROM scratch,
// and would make a step that rewrites it (update-ca-certificates) fail.
// Then it runs the real runc with the same arguments.
package ociwrap

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Name is the wrapper's program name: moat's binary, run under this name,
// is the wrapper.
const Name = "moat-runc"

// Environment the wrapper reads, set by moat-init for the inner daemon
// and by moat for the BuildKit sidecar's daemon.
const (
	EnvCA   = "MOAT_OCIWRAP_CA"   // the run's proxy CA, PEM
	EnvRunc = "MOAT_OCIWRAP_RUNC" // the real runtime
	// EnvProxy, if set, is the proxy URL containers get in HTTP_PROXY and
	// the like unless they set them: for build steps, which share the
	// agent's network namespace and get no proxy settings of their own.
	EnvProxy = "MOAT_OCIWRAP_PROXY"
)

// Target is where containers find the bundle they trust.
const Target = "/dev/moat-ca-bundle.crt"

// bundlePaths are where images keep their CA bundle, in the order looked
// for: Debian, Ubuntu and Alpine; Fedora and RHEL; Alpine's other name.
var bundlePaths = []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"}

// trustVars are the variables that name a CA bundle for common clients.
var trustVars = []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS"}

// maxBundle bounds an image's CA bundle the wrapper reads.
const maxBundle = 4 << 20

// Main runs the wrapper with runc's arguments and returns the exit status
// if it could not hand over to runc.
func Main(args []string, getenv func(string) string, stderr io.Writer) int {
	runc := getenv(EnvRunc)
	if runc == "" {
		fmt.Fprintln(stderr, Name+": "+EnvRunc+" is not set")
		return 1
	}
	if bundle, ok := BundleOf(args); ok {
		if ca := getenv(EnvCA); ca != "" {
			if err := TrustCA(bundle, ca, getenv(EnvProxy)); err != nil {
				// Without the CA the container's TLS fails at the proxy;
				// say why here rather than leave a bare x509 error.
				fmt.Fprintf(stderr, "%s: the container cannot be made to trust the run's proxy CA: %v\n", Name, err)
				return 1
			}
		}
	}
	err := syscall.Exec(runc, append([]string{runc}, args...), os.Environ())
	fmt.Fprintf(stderr, "%s: running %s: %v\n", Name, runc, err)
	return 1
}

// globalsWithValue are runc's global options that take a value.
var globalsWithValue = []string{"--root", "--log", "--log-format", "--criu", "--rootless"}

// BundleOf returns the bundle directory of a runc "create" or "run"
// command line (its --bundle or -b, else the working directory), and false
// for any other command.
func BundleOf(args []string) (string, bool) {
	i := 0
	for i < len(args) {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			break
		}
		if slices.Contains(globalsWithValue, a) {
			i++
		}
		i++
	}
	if i >= len(args) || (args[i] != "create" && args[i] != "run") {
		return "", false
	}
	for j := i + 1; j < len(args); j++ {
		switch a := args[j]; {
		case a == "--bundle" || a == "-b":
			if j+1 < len(args) {
				return args[j+1], true
			}
		case strings.HasPrefix(a, "--bundle="):
			return strings.TrimPrefix(a, "--bundle="), true
		case strings.HasPrefix(a, "-b="):
			return strings.TrimPrefix(a, "-b="), true
		}
	}
	dir, err := os.Getwd()
	return dir, err == nil
}

// proxyVars are the variables that name a proxy, set from EnvProxy.
var proxyVars = []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}

// TrustCA edits bundle's config.json so that the container trusts the PEM
// certificates in caFile besides its image's own, and, if proxy is not
// empty, uses it as its proxy.
func TrustCA(bundle, caFile, proxy string) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(bundle, "config.json")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("%s: %w", cfgPath, err)
	}
	rootfs, _ := nested(spec, "root")["path"].(string)
	if rootfs == "" {
		return fmt.Errorf("%s has no root.path", cfgPath)
	}
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	own := imageBundle(rootfs)
	target := Target
	combined := append(own, '\n')
	combined = append(combined, ca...)
	src := filepath.Join(bundle, "moat-ca-bundle.crt")
	if err := os.WriteFile(src, combined, 0o644); err != nil {
		return err
	}
	mounts, _ := spec["mounts"].([]any)
	spec["mounts"] = append(mounts, map[string]any{
		"destination": target, "type": "bind", "source": src,
		"options": []any{"rbind", "ro", "nosuid", "nodev", "noexec"},
	})
	process := nested(spec, "process")
	env, _ := process["env"].([]any)
	for _, v := range trustVars {
		if !hasVar(env, v) {
			env = append(env, v+"="+target)
		}
	}
	if proxy != "" && !slices.ContainsFunc(proxyVars, func(v string) bool { return hasVar(env, v) }) {
		for _, v := range proxyVars {
			env = append(env, v+"="+proxy)
		}
		env = append(env, "NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1")
	}
	process["env"] = env
	out, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return os.WriteFile(cfgPath, out, 0o600)
}

// nested returns spec[key] as a mapping, adding an empty one if missing.
func nested(spec map[string]any, key string) map[string]any {
	m, ok := spec[key].(map[string]any)
	if !ok {
		m = map[string]any{}
		spec[key] = m
	}
	return m
}

func hasVar(env []any, name string) bool {
	for _, e := range env {
		if s, ok := e.(string); ok && strings.HasPrefix(s, name+"=") {
			return true
		}
	}
	return false
}

// imageBundle returns the content of the image's CA bundle in rootfs, or
// nothing when it has none. Paths are resolved inside rootfs: the image
// is the agent's, and a link in it must not lead the wrapper anywhere
// else.
func imageBundle(rootfs string) []byte {
	for _, p := range bundlePaths {
		if b, err := readInRoot(rootfs, p); err == nil {
			return b
		}
	}
	return nil
}

// readInRoot reads the regular file at path inside root, resolving links
// as if root were "/", and at most maxBundle bytes of it.
func readInRoot(root, path string) ([]byte, error) {
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dir)
	fd, err := unix.Openat2(dir, strings.TrimPrefix(path, "/"), &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	return io.ReadAll(io.LimitReader(f, maxBundle))
}
