//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/runtime"
)

// TestPushImage pushes an image moat built to the testbed's registry
// (scripts/registry.sh, 127.0.0.1:5000) as the Kubernetes runtime does:
// under its content-hash tag, returned by digest; a second push of the
// same image uploads nothing and is quick; and pulling the digest into an
// engine that lost the image gives the same image back.
func TestPushImage(t *testing.T) {
	ctx := context.Background()
	eng, err := runtime.NewDocker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	hash := randomHex(t, 10)
	tag := "moat/run:" + hash
	id := buildTinyImage(t, eng, tag, hash)
	const repo = "127.0.0.1:5000/moat-e2e/run"

	ref, err := eng.PushImage(ctx, id, repo)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, repo+"@sha256:") {
		t.Fatalf("PushImage returned %q, want %s@sha256:...", ref, repo)
	}
	start := time.Now()
	again, err := eng.PushImage(ctx, id, repo)
	if took := time.Since(start); err != nil || again != ref || took > time.Second {
		t.Fatalf("second push: got %q, %v after %s; want %q at once", again, err, took, ref)
	}
	t.Logf("second push took %s", time.Since(start))

	// The registry holds it under the content hash, the tag every machine
	// that builds the image gives it.
	resp, err := http.Get("http://127.0.0.1:5000/v2/moat-e2e/run/tags/list")
	if err != nil {
		t.Fatal(err)
	}
	var tags struct{ Tags []string }
	json.NewDecoder(resp.Body).Decode(&tags)
	resp.Body.Close()
	if !slices.Contains(tags.Tags, hash) {
		t.Fatalf("the registry's tags of moat-e2e/run are %q, want %s among them", tags.Tags, hash)
	}
	for _, r := range []string{tag, repo + ":" + hash, id} {
		eng.RemoveImage(ctx, r)
	}
	if _, err := eng.ImageID(ctx, id); err == nil {
		t.Fatalf("image %s is still on the engine after its removal", id)
	}
	if err := eng.PullImage(ctx, ref); err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	t.Cleanup(func() { eng.RemoveImage(context.Background(), ref) })
	if got, err := eng.ImageID(ctx, ref); err != nil || got != id {
		t.Fatalf("pulled %s is image %q (%v), want %s", ref, got, err, id)
	}
}

// buildTinyImage builds a one-file image unique to this test run, tagged
// as moat tags its run images.
func buildTinyImage(t *testing.T, eng *runtime.Docker, tag, content string) string {
	t.Helper()
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for name, body := range map[string]string{"Dockerfile": "FROM scratch\nCOPY id /id\n", "id": content + "\n"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	ctx := context.Background()
	if err := eng.BuildImage(ctx, runtime.BuildRequest{Context: &ctxTar, Dockerfile: "Dockerfile", Tag: tag}, nil); err != nil {
		t.Fatal(err)
	}
	id, err := eng.ImageID(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.RemoveImage(context.Background(), id) })
	return id
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestPushRetriesARegistryServerError: a registry that answers the HEAD
// of the image's config blob with 500 once, as the testbed's registry did
// while another push committed the same blob (several Kubernetes runs
// starting together; the engine retries a layer's upload but not its
// config's), does not fail the push: it is tried again and succeeds. The
// registry is the testbed's, behind a proxy that fails that one request.
func TestPushRetriesARegistryServerError(t *testing.T) {
	ctx := context.Background()
	eng, err := runtime.NewDocker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	upstream, _ := url.Parse("http://127.0.0.1:5000")
	forward := httputil.NewSingleHostReverseProxy(upstream)
	var failed atomic.Int32
	hash := randomHex(t, 10)
	id := buildTinyImage(t, eng, "moat/run:"+hash, hash)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && strings.HasSuffix(r.URL.Path, "/blobs/"+id) && failed.CompareAndSwap(0, 1) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		forward.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	repo := ln.Addr().String() + "/moat-e2e/retry"
	ref, err := eng.PushImage(ctx, id, repo)
	t.Cleanup(func() { eng.RemoveImage(context.Background(), repo+":"+hash) })
	if err != nil {
		t.Fatalf("push through a registry that failed once: %v", err)
	}
	if failed.Load() != 1 {
		t.Fatal("the registry never failed the config blob's HEAD: the test tested nothing")
	}
	if !strings.HasPrefix(ref, repo+"@sha256:") {
		t.Fatalf("PushImage returned %q, want %s@sha256:...", ref, repo)
	}
}
