package npmreg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/plural"
)

// Fill makes sure each of wants is in cacheDir, fetching what is missing,
// or whose cached tarball no longer matches, from upstream (DefaultUpstream
// if empty). A fetched tarball must match its Want's SHA256, when set, and
// the integrity the upstream's manifest publishes; otherwise Fill fails and
// caches nothing of it. Files appear by rename only, so separate processes
// may fill the same cacheDir at once and an interrupted fill leaves nothing
// that looks cached.
func Fill(ctx context.Context, cacheDir, upstream string, wants []Want) error {
	return newFiller().fill(ctx, cacheDir, upstream, wants)
}

// Sum returns the hex SHA-256 of pkg's cached tarball of version: the pin
// to record for a Want filled without one.
func Sum(cacheDir, pkg, version string) (string, error) {
	tgz, _, err := cachePaths(cacheDir, Want{Package: pkg, Version: version})
	if err != nil {
		return "", err
	}
	d, err := hashFile(tgz)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(d.sha256), nil
}

// filler fetches from a registry; its fields are what tests shorten.
type filler struct {
	client   *http.Client
	attempts int           // per download, counting the first
	backoff  time.Duration // before the second attempt, doubled after each
	idle     time.Duration // a response that sends nothing for this long is abandoned
}

func newFiller() *filler {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = time.Minute
	// No overall timeout: tarballs run to hundreds of MB; idle catches stalls.
	return &filler{client: &http.Client{Transport: t}, attempts: 3, backoff: 2 * time.Second, idle: time.Minute}
}

func (f *filler) fill(ctx context.Context, cacheDir, upstream string, wants []Want) error {
	if upstream == "" {
		upstream = DefaultUpstream
	}
	upstream = strings.TrimSuffix(upstream, "/")
	for _, w := range wants {
		if err := f.fillOne(ctx, cacheDir, upstream, w); err != nil {
			return err
		}
	}
	return nil
}

func (f *filler) fillOne(ctx context.Context, cacheDir, upstream string, w Want) error {
	tgz, mf, err := cachePaths(cacheDir, w)
	if err != nil {
		return err
	}
	if w.SHA256 != "" && !validSHA256(w.SHA256) {
		return fmt.Errorf("invalid SHA-256 %q for %s: want 64 hex digits", w.SHA256, w)
	}
	if checkCached(tgz, mf, w) == nil {
		return nil
	}
	dir := filepath.Dir(tgz)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the cache for %s: %w", w, err)
	}
	removeStaleTemps(dir)

	// The registry takes a scoped name's slash escaped or not; npm escapes it.
	murl := upstream + "/" + strings.Replace(w.Package, "/", "%2f", 1) + "/" + url.PathEscape(w.Version)
	raw, m, err := f.manifest(ctx, murl, w)
	if err != nil {
		return fmt.Errorf("fetching the manifest of %s from %s: %w", w, murl, err)
	}
	turl, err := resolveTarball(murl, m.Dist.Tarball)
	if err != nil {
		return fmt.Errorf("fetching %s: manifest at %s: %w", w, murl, err)
	}
	tmp, d, err := f.download(ctx, turl, dir)
	if err != nil {
		return fmt.Errorf("fetching the tarball of %s from %s: %w", w, turl, err)
	}
	defer os.Remove(tmp) // a no-op once renamed
	if err := verify(m, d, w.SHA256); err != nil {
		return fmt.Errorf("verifying the tarball of %s from %s: %w", w, turl, err)
	}
	// The tarball lands first: a version is served, and counted as cached,
	// only once its manifest is there too.
	if err := os.Rename(tmp, tgz); err != nil {
		return fmt.Errorf("caching %s: %w", w, err)
	}
	if err := writeAtomic(mf, raw); err != nil {
		return fmt.Errorf("caching the manifest of %s: %w", w, err)
	}
	return nil
}

// checkCached returns nil if w's cached tarball and manifest are there and
// agree with each other and with w.
func checkCached(tgz, mf string, w Want) error {
	raw, err := os.ReadFile(mf)
	if err != nil {
		return err
	}
	m, err := parseManifest(raw, w)
	if err != nil {
		return err
	}
	d, err := hashFile(tgz)
	if err != nil {
		return err
	}
	return verify(m, d, w.SHA256)
}

// manifest fetches and checks the manifest of w at u.
func (f *filler) manifest(ctx context.Context, u string, w Want) ([]byte, manifest, error) {
	var raw []byte
	err := f.retry(ctx, func() error {
		return f.get(ctx, u, func(body io.Reader) error {
			var err error
			raw, err = io.ReadAll(io.LimitReader(body, 16<<20))
			return err
		})
	})
	if err != nil {
		return nil, manifest{}, err
	}
	m, err := parseManifest(raw, w)
	return raw, m, err
}

func parseManifest(raw []byte, w Want) (manifest, error) {
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("decoding the manifest: %w", err)
	}
	if m.Name != w.Package || m.Version != w.Version {
		return m, fmt.Errorf("the manifest is of %s@%s, not %s", m.Name, m.Version, w)
	}
	if m.Dist.Tarball == "" {
		return m, errors.New("the manifest has no dist.tarball")
	}
	return m, nil
}

func resolveTarball(manifestURL, tarball string) (string, error) {
	base, err := url.Parse(manifestURL)
	if err != nil {
		return "", err
	}
	ref, err := url.Parse(tarball)
	if err != nil {
		return "", fmt.Errorf("invalid dist.tarball %q: %w", tarball, err)
	}
	return base.ResolveReference(ref).String(), nil
}

// download streams u into a temporary file in dir and returns its path and
// digests; the caller renames or removes it.
func (f *filler) download(ctx context.Context, u, dir string) (string, digests, error) {
	var tmp string
	var h *hasher
	err := f.retry(ctx, func() error {
		file, err := createTemp(dir, ".tmp-*.tgz")
		if err != nil {
			return permanent{err}
		}
		tmp, h = file.Name(), newHasher()
		err = f.get(ctx, u, func(body io.Reader) error {
			_, err := io.Copy(io.MultiWriter(file, h), body)
			return err
		})
		// No fsync: a file cut short by a crash fails verification, so
		// it is fetched again rather than trusted.
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(tmp)
		}
		return err
	})
	if err != nil {
		return "", digests{}, err
	}
	return tmp, h.sum(), nil
}

var errStalled = errors.New("stalled")

// get GETs u and hands a 200 response's body to read, abandoning the
// request when no data arrives for f.idle.
func (f *filler) get(ctx context.Context, u string, read func(io.Reader) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(f.idle, func() { cancel(errStalled) })
	defer stall.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return permanent{err}
	}
	req.Header.Set("User-Agent", "moat-test-npmreg")
	resp, err := f.client.Do(req)
	if err == nil {
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return statusError{resp.StatusCode, resp.Status}
		}
		err = read(&idleReader{r: resp.Body, timer: stall, idle: f.idle})
	}
	if err != nil && errors.Is(context.Cause(ctx), errStalled) {
		return fmt.Errorf("no data for %v", f.idle)
	}
	return err
}

// idleReader restarts the stall timer whenever data arrives.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	idle  time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.timer.Reset(r.idle)
	}
	return n, err
}

// retry runs attempt until it succeeds, fails for good, or has run
// f.attempts times; the network here can stall or drop a connection.
func (f *filler) retry(ctx context.Context, attempt func() error) error {
	delay := f.backoff
	for i := 1; ; i++ {
		err := attempt()
		var p interface{ permanent() bool }
		if err == nil || ctx.Err() != nil || errors.As(err, &p) && p.permanent() {
			return err
		}
		if i >= f.attempts {
			return fmt.Errorf("%w (after %s)", err, plural.Count(i, "attempt"))
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// statusError is a response other than 200 OK; client errors other than
// timeouts and rate limits are not retried.
type statusError struct {
	code   int
	status string
}

func (e statusError) Error() string { return "HTTP " + e.status }
func (e statusError) permanent() bool {
	return e.code >= 400 && e.code < 500 && e.code != http.StatusRequestTimeout && e.code != http.StatusTooManyRequests
}

// permanent marks an error that trying again cannot fix.
type permanent struct{ error }

func (permanent) permanent() bool { return true }
func (p permanent) Unwrap() error { return p.error }

func validSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// removeStaleTemps removes temporary files that fills killed outright left
// in dir; a live fill's file is younger, as a download that makes no
// progress for a minute is abandoned.
func removeStaleTemps(dir string) {
	names, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	for _, n := range names {
		if fi, err := os.Stat(n); err == nil && time.Since(fi.ModTime()) > time.Hour {
			os.Remove(n)
		}
	}
}

// writeAtomic writes data to path through a temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	f, err := createTemp(filepath.Dir(path), ".tmp-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// createTemp creates a temporary file readable by all, as the cache may be
// served or mounted for another user.
func createTemp(dir, pattern string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err == nil {
		err = f.Chmod(0o644)
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	return f, err
}
