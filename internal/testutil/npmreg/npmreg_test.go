package npmreg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pkgTarball is a real npm package tarball: package/package.json plus a
// bin script.
func pkgTarball(t *testing.T, name, version string, deps map[string]string) []byte {
	t.Helper()
	pj, err := json.Marshal(map[string]any{
		"name": name, "version": version, "bin": map[string]string{"hello-npmreg": "cli.js"}, "dependencies": deps,
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct{ name, body string }{
		{"package/package.json", string(pj)},
		{"package/cli.js", "#!/usr/bin/env node\nconsole.log('hello')\n"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.body)), ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type fakePkg struct {
	name, version string
	deps          map[string]string
	tgz           []byte
	integrity     string // overrides the tarball's own
}

func (p fakePkg) want() Want {
	s := sha256.Sum256(p.tgz)
	return Want{Package: p.name, Version: p.version, SHA256: hex.EncodeToString(s[:])}
}

// upstream is a fake public registry.
type upstream struct {
	*httptest.Server
	pkgs      map[string]fakePkg // by name@version
	manifests atomic.Int32
	tarballs  atomic.Int32
	fail      atomic.Int32 // tarball requests still to answer 500
	stall     bool         // send half of each tarball, then nothing
}

func newUpstream(t *testing.T, pkgs ...fakePkg) *upstream {
	u := &upstream{pkgs: map[string]fakePkg{}}
	for _, p := range pkgs {
		u.pkgs[p.name+"@"+p.version] = p
	}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	if key, ok := strings.CutPrefix(r.URL.Path, "/tarballs/"); ok {
		u.serveTarball(w, r, key)
		return
	}
	pkg, rest := splitPath(r.URL.Path)
	p, ok := u.pkgs[pkg+"@"+strings.Join(rest, "/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	u.manifests.Add(1)
	integrity := p.integrity
	if integrity == "" {
		s := sha512.Sum512(p.tgz)
		integrity = "sha512-" + base64.StdEncoding.EncodeToString(s[:])
	}
	json.NewEncoder(w).Encode(map[string]any{
		"name": p.name, "version": p.version, "dependencies": p.deps, "_id": p.name + "@" + p.version,
		"bin":  map[string]string{"hello-npmreg": "cli.js"},
		"dist": map[string]string{"integrity": integrity, "tarball": u.URL + "/tarballs/" + p.name + "@" + p.version},
	})
}

func (u *upstream) serveTarball(w http.ResponseWriter, r *http.Request, key string) {
	u.tarballs.Add(1)
	p, ok := u.pkgs[key]
	switch {
	case !ok:
		http.NotFound(w, r)
	case u.fail.Add(-1) >= 0:
		http.Error(w, "try later", http.StatusInternalServerError)
	case u.stall:
		w.Write(p.tgz[:len(p.tgz)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	default:
		w.Write(p.tgz)
	}
}

func hello(t *testing.T) fakePkg {
	p := fakePkg{name: "@moat-test/hello", version: "1.2.3-linux-x64", deps: map[string]string{"moat-npmreg-dep": "^0.1.0"}}
	p.tgz = pkgTarball(t, p.name, p.version, p.deps)
	return p
}

func dep(t *testing.T) fakePkg {
	p := fakePkg{name: "moat-npmreg-dep", version: "0.1.0"}
	p.tgz = pkgTarball(t, p.name, p.version, nil)
	return p
}

// fastFiller gives up on stalls and retries at once.
func fastFiller() *filler {
	f := newFiller()
	f.backoff, f.idle = time.Millisecond, 200*time.Millisecond
	return f
}

func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	return files
}

func TestFillDownloadsVerifiesAndSkipsCached(t *testing.T) {
	t.Parallel()
	p := hello(t)
	up := newUpstream(t, p)
	cache := t.TempDir()
	ctx := context.Background()
	if err := Fill(ctx, cache, up.URL, []Want{p.want()}); err != nil {
		t.Fatal(err)
	}
	tgz := filepath.Join(cache, "@moat-test", "hello", "1.2.3-linux-x64.tgz")
	if got, err := os.ReadFile(tgz); err != nil || !bytes.Equal(got, p.tgz) {
		t.Fatalf("cached tarball: %v (equal: %v)", err, bytes.Equal(got, p.tgz))
	}
	if sum, err := Sum(cache, p.name, p.version); err != nil || sum != p.want().SHA256 {
		t.Fatalf("Sum = %q, %v, want %q", sum, err, p.want().SHA256)
	}

	if err := Fill(ctx, cache, up.URL, []Want{p.want()}); err != nil {
		t.Fatal(err)
	}
	if m, tb := up.manifests.Load(), up.tarballs.Load(); m != 1 || tb != 1 {
		t.Fatalf("after filling twice: %d manifest and %d tarball requests, want 1 and 1", m, tb)
	}

	if err := os.WriteFile(tgz, []byte("corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Fill(ctx, cache, up.URL, []Want{p.want()}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(tgz); !bytes.Equal(got, p.tgz) || up.tarballs.Load() != 2 {
		t.Fatalf("a corrupt cached tarball was not fetched again (%d tarball requests)", up.tarballs.Load())
	}
	if files := cacheFiles(t, cache); len(files) != 2 {
		t.Fatalf("cache holds %q, want the tarball and its manifest", files)
	}
}

// TestConcurrentFillsShareACache fills one cache from several goroutines
// at once, as separate test processes do.
func TestConcurrentFillsShareACache(t *testing.T) {
	t.Parallel()
	p := hello(t)
	up := newUpstream(t, p)
	cache := t.TempDir()
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() { errs <- Fill(context.Background(), cache, up.URL, []Want{p.want()}) }()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if files := cacheFiles(t, cache); len(files) != 2 {
		t.Fatalf("cache holds %q, want the tarball and its manifest", files)
	}
	if sum, err := Sum(cache, p.name, p.version); err != nil || sum != p.want().SHA256 {
		t.Fatalf("Sum = %q, %v, want %q", sum, err, p.want().SHA256)
	}
}

func TestFillWithoutPinAcceptsWhatTheIntegrityVouchesFor(t *testing.T) {
	t.Parallel()
	p := dep(t)
	up := newUpstream(t, p)
	cache := t.TempDir()
	if err := Fill(context.Background(), cache, up.URL, []Want{{Package: p.name, Version: p.version}}); err != nil {
		t.Fatal(err)
	}
	if sum, err := Sum(cache, p.name, p.version); err != nil || sum != p.want().SHA256 {
		t.Fatalf("Sum = %q, %v, want %q", sum, err, p.want().SHA256)
	}
}

func TestFillRejectsAMismatchAndCachesNothing(t *testing.T) {
	t.Parallel()
	good := hello(t)
	badIntegrity := dep(t)
	badIntegrity.integrity = "sha512-" + base64.StdEncoding.EncodeToString(make([]byte, 64))
	up := newUpstream(t, good, badIntegrity)
	wrongPin := good.want()
	wrongPin.SHA256 = strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		want Want
		err  string
	}{
		{"wrong pin", wrongPin, "SHA-256 is " + good.want().SHA256 + ", want " + wrongPin.SHA256},
		{"wrong integrity", Want{Package: badIntegrity.name, Version: badIntegrity.version}, "does not match the manifest's integrity"},
		{"wrong integrity, right pin", badIntegrity.want(), "does not match the manifest's integrity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			err := Fill(context.Background(), cache, up.URL, []Want{tc.want})
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.want.String()) || !strings.Contains(err.Error(), up.URL+"/tarballs/") {
				t.Fatalf("got %v, want an error naming %s, its URL and %q", err, tc.want, tc.err)
			}
			if files := cacheFiles(t, cache); len(files) != 0 {
				t.Fatalf("cache holds %q after a failed fill", files)
			}
		})
	}
}

func TestFillRetries(t *testing.T) {
	t.Parallel()
	p := dep(t)
	up := newUpstream(t, p)
	up.fail.Store(2)
	if err := fastFiller().fill(context.Background(), t.TempDir(), up.URL, []Want{p.want()}); err != nil {
		t.Fatal(err)
	}
	if n := up.tarballs.Load(); n != 3 {
		t.Fatalf("%d tarball requests, want 3", n)
	}

	up.fail.Store(5)
	err := fastFiller().fill(context.Background(), t.TempDir(), up.URL, []Want{p.want()})
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Fatalf("got %v, want HTTP 500 after 3 attempts", err)
	}
}

func TestFillDoesNotRetryANotFound(t *testing.T) {
	t.Parallel()
	up := newUpstream(t)
	err := fastFiller().fill(context.Background(), t.TempDir(), up.URL, []Want{{Package: "@moat-test/missing", Version: "1.0.0"}})
	want := "fetching the manifest of @moat-test/missing@1.0.0 from " + up.URL + "/@moat-test%2fmissing/1.0.0: HTTP 404 Not Found"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestFillAbandonsAStalledDownload(t *testing.T) {
	t.Parallel()
	p := dep(t)
	up := newUpstream(t, p)
	up.stall = true
	f := fastFiller()
	f.attempts = 2
	cache := t.TempDir()
	err := f.fill(context.Background(), cache, up.URL, []Want{p.want()})
	if err == nil || !strings.Contains(err.Error(), "no data for 200ms (after 2 attempts)") {
		t.Fatalf("got %v, want a stall", err)
	}
	if files := cacheFiles(t, cache); len(files) != 0 {
		t.Fatalf("cache holds %q after a stalled fill", files)
	}
}

func TestFillRefusesUnsafeWants(t *testing.T) {
	t.Parallel()
	for _, w := range []Want{
		{Package: "../x", Version: "1.0.0"},
		{Package: "@x/..", Version: "1.0.0"},
		{Package: "@../x", Version: "1.0.0"},
		{Package: "a/b", Version: "1.0.0"},
		{Package: "@x/y/z", Version: "1.0.0"},
		{Package: "x", Version: "../1.0.0"},
		{Package: "x", Version: "1.0.0/x"},
		{Package: "x", Version: ""},
		{Package: "x", Version: "1.0.0", SHA256: "abc"},
	} {
		cache := t.TempDir()
		if err := Fill(context.Background(), cache, "http://127.0.0.1:1", []Want{w}); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("Fill(%+v) = %v, want an invalid-input error", w, err)
		}
	}
}

// filledCache is a cache with hello and dep, plus a secret just outside it
// that a path escaping the cache would reach.
func filledCache(t *testing.T) (string, fakePkg) {
	t.Helper()
	p := hello(t)
	up := newUpstream(t, p, dep(t))
	root := t.TempDir()
	cache := filepath.Join(root, "cache")
	if err := Fill(context.Background(), cache, up.URL, []Want{p.want(), dep(t).want()}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"secret.json", "secret.tgz", "passwd"} {
		os.WriteFile(filepath.Join(root, name), []byte(`{"SECRET":1,"dist":{}}`), 0o644)
	}
	return cache, p
}

func TestHandlerServesTheCache(t *testing.T) {
	t.Parallel()
	cache, p := filledCache(t)
	srv := httptest.NewServer(NewHandler(cache))
	t.Cleanup(srv.Close)
	tarballURL := srv.URL + "/@moat-test/hello/-/hello-1.2.3-linux-x64.tgz"

	get := func(path string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.Bytes()
	}
	type doc struct {
		Name     string            `json:"name"`
		Version  string            `json:"version"`
		DistTags map[string]string `json:"dist-tags"`
		Versions map[string]doc    `json:"versions"`
		Dist     struct{ Tarball, Integrity string }
	}
	for _, path := range []string{"/@moat-test/hello", "/@moat-test%2fhello", "/@moat-test%2Fhello"} {
		code, body := get(path)
		var d doc
		json.Unmarshal(body, &d)
		if code != 200 || d.Name != p.name || d.DistTags["latest"] != p.version || d.Versions[p.version].Dist.Tarball != tarballURL {
			t.Errorf("GET %s = %d %s, want the packument pointing at %s", path, code, body, tarballURL)
		}
	}
	for _, path := range []string{"/@moat-test/hello/1.2.3-linux-x64", "/@moat-test%2fhello/latest"} {
		code, body := get(path)
		var d doc
		json.Unmarshal(body, &d)
		if code != 200 || d.Version != p.version || d.Dist.Tarball != tarballURL || !strings.HasPrefix(d.Dist.Integrity, "sha512-") {
			t.Errorf("GET %s = %d %s, want the manifest pointing at %s", path, code, body, tarballURL)
		}
	}
	for _, path := range []string{"/@moat-test/hello/-/hello-1.2.3-linux-x64.tgz", "/@moat-test%2fhello/-/hello-1.2.3-linux-x64.tgz"} {
		if code, body := get(path); code != 200 || !bytes.Equal(body, p.tgz) {
			t.Errorf("GET %s = %d, %d bytes; want the %d-byte tarball", path, code, len(body), len(p.tgz))
		}
	}
	resp, err := http.Head(tarballURL)
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != int64(len(p.tgz)) {
		t.Errorf("HEAD %s = %v, %v; want 200 with the length", tarballURL, resp, err)
	}
	resp, err = http.Post(srv.URL+"/@moat-test/hello", "application/json", nil)
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST = %v, %v; want 405", resp, err)
	}
}

func TestHandlerRefusesWhatIsNotCached(t *testing.T) {
	t.Parallel()
	cache, _ := filledCache(t)
	h := NewHandler(cache)
	for _, path := range []string{
		"/",
		"/nope",
		"/@moat-test",
		"/@moat-test/",
		"/@moat-test/hello/",
		"/@moat-test/hello/9.9.9",
		"/@moat-test/hello/-/hello-9.9.9.tgz",
		"/@moat-test/hello/-/other-1.2.3-linux-x64.tgz",
		"/@moat-test/hello/-/hello-1.2.3-linux-x64.json",
		"/@moat-test/hello/1.2.3-linux-x64/extra",
		// Escapes: none may reach root/secret.* or /etc/passwd.
		"/..%2f..%2fetc/passwd",
		"/..%2fsecret",
		"/@x/../../y",
		"/@moat-test/..%2f..%2fsecret",
		"/@moat-test/hello/..%2f..%2f..%2fsecret",
		"/@moat-test/hello/../../../secret",
		"/@moat-test/hello/-/hello-..%2f..%2f..%2fsecret.tgz",
		"/@moat-test/hello/-/..%2f..%2f..%2fsecret.tgz",
		"/%2e%2e/%2e%2e/passwd",
		"/..",
		"/.",
		"//etc/passwd",
		"/%2Fetc%2Fpasswd",
		"/hello%00/1.0.0",
		"/@moat-test/hello/1.2.3-linux-x64%00",
		"/@moat-test\\hello",
		"/C:%5Csecret",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusNotFound || strings.TrimSpace(rec.Body.String()) != `{"error":"not found"}` {
			t.Errorf("GET %s = %d %s, want 404 not found", path, rec.Code, rec.Body)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	ordered := []string{"junk", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0", "1.0.1", "1.10.0", "2.0.0-linux-x64", "2.0.0+build"}
	for i := range ordered {
		for j := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := compareVersions(ordered[i], ordered[j]); got != want {
				t.Errorf("compareVersions(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

// TestNpmInstallsFromTheRegistry runs the real npm client against the
// handler: a scoped package with a dependency installs, and npm pack
// fetches the very tarball.
func TestNpmInstallsFromTheRegistry(t *testing.T) {
	t.Parallel()
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed")
	}
	cache, p := filledCache(t)
	srv := httptest.NewServer(NewHandler(cache))
	t.Cleanup(srv.Close)
	home := t.TempDir()
	prefix, packDir := filepath.Join(home, "prefix"), filepath.Join(home, "pack")
	os.MkdirAll(packDir, 0o755)
	npmRun := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, append(args, "--registry", srv.URL+"/", "--no-audit", "--no-fund", "--no-update-notifier")...)
		// Keep npm off the user's cache and configuration.
		cmd.Env = append(os.Environ(), "HOME="+home, "npm_config_cache="+filepath.Join(home, "npm-cache"),
			"npm_config_userconfig="+filepath.Join(home, "npmrc"), "npm_config_globalconfig="+filepath.Join(home, "global-npmrc"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	npmRun("install", "--prefix", prefix, p.name+"@"+p.version)
	for _, pj := range []string{"node_modules/@moat-test/hello/package.json", "node_modules/moat-npmreg-dep/package.json"} {
		if _, err := os.Stat(filepath.Join(prefix, pj)); err != nil {
			t.Errorf("after npm install: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(prefix, "node_modules/.bin/hello-npmreg")); err != nil {
		t.Errorf("after npm install, the bin is not linked: %v", err)
	}

	npmRun("pack", "--pack-destination", packDir, p.name+"@"+p.version)
	got, err := os.ReadFile(filepath.Join(packDir, "moat-test-hello-1.2.3-linux-x64.tgz"))
	if err != nil || !bytes.Equal(got, p.tgz) {
		t.Fatalf("npm pack: %v (same bytes: %v)", err, bytes.Equal(got, p.tgz))
	}
}
