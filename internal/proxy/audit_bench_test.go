package proxy

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/moatsh/moat/internal/audit"
)

// BenchmarkThroughputPlain and BenchmarkThroughputAudited drive intercepted
// keep-alive requests from several clients at once, without and with every
// request recorded in a run's audit log through an audit.Recorder (as the
// proxy will); the ratio of their ns/op is the cost of recording (target:
// under 10%).
func BenchmarkThroughputPlain(b *testing.B)   { benchThroughput(b, false) }
func BenchmarkThroughputAudited(b *testing.B) { benchThroughput(b, true) }

func benchThroughput(b *testing.B, audited bool) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	b.Cleanup(up.Close)
	e := newEnv(b, envOpts{policy: examplePolicy(b), creds: testCreds{map[string]bool{"example.com": true}}, upstream: up})
	e.srv.Logf = nil
	e.srv.OnEvent = nil
	if audited {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		l, err := audit.Open(filepath.Join(b.TempDir(), "audit.jsonl"), "bench", key, audit.Options{})
		if err != nil {
			b.Fatal(err)
		}
		rec := audit.NewRecorder(l, func(err error) { b.Error(err) })
		b.Cleanup(func() { rec.Close(); l.Close() })
		e.srv.OnEvent = func(ev Event) {
			rec.Record("net.request", map[string]string{
				"method": ev.Method, "host": ev.Host, "path": ev.Path, "status": strconv.Itoa(ev.Status),
				"grant": ev.Grant, "decision": ev.Decision, "bytes_in": strconv.FormatInt(ev.BytesIn, 10),
			})
		}
	}
	url := exampleURL(b, up, "/")
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := e.client(b, testToken)
		for pb.Next() {
			res, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
}
