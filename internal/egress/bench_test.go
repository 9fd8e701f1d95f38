package egress

// The benchmarks in this file drive the path every request of a run takes:
// a client (the agent) -> the TCP port Relay opened (127.0.0.1:3128 in the
// agent's container) and handed to Serve over the proxy's unix socket ->
// Serve, which TLS-intercepts the host because a grant covers it and
// injects the grant's header -> an httptest TLS upstream on 127.0.0.1,
// which network.hosts maps example.com to. Each measures against a baseline in the same process: the same
// requests sent straight to the upstream (the client trusting its
// certificate), or the same path without an audit log.
//
// The test machine has 2 cores, shared by the client, the relay, the proxy
// and the upstream (and whatever else runs there), so the numbers are
// noisy. Every benchmark alternates short rounds of its two sides
// (swapping which goes first), so that a burst of outside load hits both,
// and reports medians rather than means: of the per-round rates, of the
// ratios of adjacent rounds, or percentiles over all requests for latency.
// The throughput benchmarks also report the process's CPU time per request
// (client, relay, proxy and upstream together), which outside load
// disturbs far less than wall-clock rates. Each checks every round: status
// 200, the full body, and the grant's header seen by the upstream on
// exactly the requests that went through the proxy, so an error cannot
// pass for a fast request.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/proxy"
)

const (
	benchSmall     = "/small" // a 2-byte body: per-request cost
	benchLarge     = "/large" // benchLargeSize bytes: copying cost
	benchLargeSize = 64 << 10
	benchClients   = 4 // concurrent clients of the throughput benchmarks

	latencyRounds    = 10  // rounds of each side per iteration
	latencyBatch     = 150 // sequential requests per round
	throughputRounds = 8   // rounds of each side per iteration
	throughputRound  = 150 * time.Millisecond
	// roundGap lets the audit recorder write its last batch (it gathers
	// events for 2 ms) before the other side's round starts.
	roundGap = 10 * time.Millisecond
)

var benchLargeBody = bytes.Repeat([]byte("moat"), benchLargeSize/4)

// benchUpstream is a TLS server that counts the requests on which it saw
// the grant's secret.
type benchUpstream struct {
	*httptest.Server
	injected atomic.Int64
}

func newBenchUpstream(b *testing.B) *benchUpstream {
	u := &benchUpstream{}
	u.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") == testSecret {
			u.injected.Add(1)
		}
		if r.URL.Path == benchLarge {
			w.Write(benchLargeBody)
			return
		}
		io.WriteString(w, "ok")
	}))
	b.Cleanup(u.Close)
	return u
}

// client returns a client of its own (one keep-alive connection) that
// trusts the upstream's certificate and dials it directly.
func (u *benchUpstream) client(b *testing.B) *http.Client {
	tr := u.Server.Client().Transport.(*http.Transport).Clone()
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// benchSidecar is a proxy served by Serve on the port a Relay handed it,
// as in a run.
type benchSidecar struct {
	proxyURL *url.URL
	roots    *x509.CertPool
	host     string // example.com:port, the upstream as the agent names it
	auditLog string // "" when not audited
	mu       sync.Mutex
	clients  []*http.Transport
	stopOnce sync.Once
	stopFn   func()
}

// startBenchSidecar serves a strict proxy with one grant covering the
// upstream, audited or not, on a TCP port handed over by a relay.
func startBenchSidecar(b *testing.B, up *benchUpstream, audited bool) *benchSidecar {
	b.Helper()
	port := up.Listener.Addr().(*net.TCPAddr).Port
	s := &benchSidecar{host: "example.com:" + strconv.Itoa(port)}
	dir := b.TempDir()
	ca, runCA := testRunCA(b, dir)
	cfg := &Config{
		Token:  "tok-bench",
		Socket: filepath.Join(dir, "p.sock"),
		Policy: Policy{Mode: "strict", Hosts: map[string]string{"example.com": "127.0.0.1"}},
		Grants: []GrantSecret{{
			Grant:  grant.Grant{Name: "bench", Kind: grant.HTTP, Hosts: []string{s.host}, Header: "X-Api-Key"},
			Secret: []byte(testSecret),
		}},
		// As a run with a grant has: every request is checked for them.
		Placeholders: []Placeholder{
			{Value: grant.Grant{Kind: grant.Anthropic}.Placeholder()["ANTHROPIC_API_KEY"], What: "ANTHROPIC_API_KEY"},
			{Value: grant.Grant{Kind: grant.GitHub}.Placeholder()["GH_TOKEN"], What: "GH_TOKEN"},
		},
		CA:            runCA,
		UpstreamRoots: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw}),
	}
	if audited {
		_, key, _ := ed25519.GenerateKey(nil)
		s.auditLog = filepath.Join(dir, "audit.jsonl")
		cfg.Audit = &Audit{Path: s.auditLog, RunID: "bench", Key: key}
	}

	addr, stop := runSidecar(b, cfg, 0, io.Discard)
	s.stopFn = func() {
		s.mu.Lock()
		for _, tr := range s.clients {
			tr.CloseIdleConnections()
		}
		s.mu.Unlock()
		stop()
	}
	b.Cleanup(s.stop)

	s.roots = x509.NewCertPool()
	s.roots.AppendCertsFromPEM(ca.CertPEM())
	s.proxyURL = &url.URL{Scheme: "http", User: url.UserPassword("moat", cfg.Token), Host: addr}
	return s
}

// stop stops the proxy and the relay; the audit log is complete after it.
func (s *benchSidecar) stop() { s.stopOnce.Do(s.stopFn) }

// client returns a client of its own (one keep-alive connection, one
// intercepted tunnel) whose proxy is the relay.
func (s *benchSidecar) client() *http.Client {
	tr := &http.Transport{
		Proxy: http.ProxyURL(s.proxyURL), TLSClientConfig: &tls.Config{RootCAs: s.roots},
		// Name lookups happen in the proxy: example.com maps to 127.0.0.1 only there.
		DialContext: (&net.Dialer{}).DialContext,
	}
	s.mu.Lock()
	s.clients = append(s.clients, tr)
	s.mu.Unlock()
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func (s *benchSidecar) url(path string) string { return "https://" + s.host + path }

// fetch GETs url and returns the body's length, or an error for anything
// but a 200.
func fetch(c *http.Client, url string) (int64, error) {
	res, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil {
		return n, err
	}
	if res.StatusCode != http.StatusOK {
		return n, fmt.Errorf("GET %s: status %d", url, res.StatusCode)
	}
	return n, nil
}

// side is one half of a comparison: its clients, the URL they fetch, and
// whether the upstream must see the grant's header on its requests.
type side struct {
	name     string
	clients  []*http.Client
	url      string
	size     int64 // expected body length
	injected bool
	sent     int64     // requests made, warm-up included
	rates    []float64 // per round: requests per second
	mbs      []float64 // per round: MB/s of body
	cpu      []float64 // per round: the process's CPU µs per request
}

// warm makes one request on every client: connection, CONNECT, both TLS
// handshakes and the proxy's upstream connection happen outside timings.
func (sd *side) warm(b *testing.B, up *benchUpstream) {
	b.Helper()
	before := up.injected.Load()
	for _, c := range sd.clients {
		if _, err := fetch(c, sd.url); err != nil {
			b.Fatalf("%s: warm-up: %v", sd.name, err)
		}
	}
	sd.check(b, up, before, int64(len(sd.clients)))
}

// check fails b unless the upstream saw the grant's header on exactly the
// n requests just made through the proxy, or on none made directly.
func (sd *side) check(b *testing.B, up *benchUpstream, before, n int64) {
	b.Helper()
	sd.sent += n
	want := int64(0)
	if sd.injected {
		want = n
	}
	if got := up.injected.Load() - before; got != want {
		b.Fatalf("%s: the upstream saw the grant's header on %d of %d requests, want %d", sd.name, got, n, want)
	}
}

// round has every client of sd fetch its URL in a loop for d, and records
// the rates.
func (sd *side) round(b *testing.B, up *benchUpstream, d time.Duration) {
	b.Helper()
	before := up.injected.Load()
	var reqs atomic.Int64
	errs := make(chan error, len(sd.clients))
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range sd.clients {
		wg.Go(func() {
			for time.Since(start) < d {
				n, err := fetch(c, sd.url)
				if err == nil && n != sd.size {
					err = fmt.Errorf("got %d bytes, want %d", n, sd.size)
				}
				if err != nil {
					errs <- err
					return
				}
				reqs.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	cpu := cpuTime() - cpu0
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("%s: %v", sd.name, err)
	}
	n := reqs.Load()
	sd.check(b, up, before, n)
	sd.rates = append(sd.rates, float64(n)/elapsed)
	sd.mbs = append(sd.mbs, float64(n*sd.size)/elapsed/1e6)
	sd.cpu = append(sd.cpu, float64(cpu.Microseconds())/float64(n))
	time.Sleep(roundGap)
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// alternate runs rounds of x and y in turn, swapping which goes first.
func alternate(b *testing.B, up *benchUpstream, x, y *side, rounds int, d time.Duration) {
	for i := range rounds {
		first, second := x, y
		if i%2 == 1 {
			first, second = y, x
		}
		first.round(b, up, d)
		second.round(b, up, d)
	}
}

func clients(n int, newClient func() *http.Client) []*http.Client {
	cs := make([]*http.Client, n)
	for i := range cs {
		cs[i] = newClient()
	}
	return cs
}

// pairRatios returns x[i]/y[i] for the rounds alternate ran together.
func pairRatios(x, y []float64) []float64 {
	r := make([]float64, len(x))
	for i := range x {
		r[i] = x[i] / y[i]
	}
	return r
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// percentile returns the p-th percentile (0 to 1) of sorted ds, in µs.
func percentile(sorted []time.Duration, p float64) float64 {
	return float64(sorted[int(p*float64(len(sorted)-1))].Nanoseconds()) / 1e3
}

// BenchmarkLatency sends small keep-alive GETs from one client, one at a
// time, through the proxy (intercepted, header injected, audited as in a
// run) and directly, in alternating batches. It reports the p50 and p99 of
// each and the added latency: the difference of the percentiles (issue 5's
// target: p50 added under 1 ms).
func BenchmarkLatency(b *testing.B) {
	up := newBenchUpstream(b)
	sc := startBenchSidecar(b, up, true)
	through := &side{name: "through", clients: clients(1, sc.client), url: sc.url(benchSmall), size: 2, injected: true}
	direct := &side{name: "direct", clients: clients(1, func() *http.Client { return up.client(b) }), url: up.URL + benchSmall, size: 2}
	through.warm(b, up)
	direct.warm(b, up)
	var lat [2][]time.Duration
	batch := func(i int, sd *side) {
		before := up.injected.Load()
		c := sd.clients[0]
		for range latencyBatch {
			start := time.Now()
			if n, err := fetch(c, sd.url); err != nil || n != sd.size {
				b.Fatalf("%s: %d bytes, %v", sd.name, n, err)
			}
			lat[i] = append(lat[i], time.Since(start))
		}
		sd.check(b, up, before, latencyBatch)
	}
	for b.Loop() {
		for r := range latencyRounds {
			if r%2 == 0 {
				batch(0, through)
				batch(1, direct)
			} else {
				batch(1, direct)
				batch(0, through)
			}
		}
	}
	b.StopTimer()
	for i := range lat {
		slices.Sort(lat[i])
	}
	t50, t99 := percentile(lat[0], 0.50), percentile(lat[0], 0.99)
	d50, d99 := percentile(lat[1], 0.50), percentile(lat[1], 0.99)
	b.ReportMetric(t50, "p50-through-µs")
	b.ReportMetric(d50, "p50-direct-µs")
	b.ReportMetric(t99, "p99-through-µs")
	b.ReportMetric(d99, "p99-direct-µs")
	b.ReportMetric(t50-d50, "p50-added-µs")
	b.ReportMetric(t99-d99, "p99-added-µs")
	b.ReportMetric(t50/d50, "ratio-p50-through/direct")
}

// BenchmarkThroughput has benchClients clients fetch a 64 KiB body over
// keep-alive connections, through the proxy (intercepted, header injected,
// audited as in a run) and directly, in alternating rounds of fixed length.
// It reports the median MB/s of each, the median ratio of adjacent rounds
// (issue 5's target: through at least half of direct), the CPU time per
// request, and the proxy's share of it against the client's and server's.
func BenchmarkThroughput(b *testing.B) {
	up := newBenchUpstream(b)
	sc := startBenchSidecar(b, up, true)
	through := &side{name: "through", clients: clients(benchClients, sc.client), url: sc.url(benchLarge), size: benchLargeSize, injected: true}
	direct := &side{name: "direct", clients: clients(benchClients, func() *http.Client { return up.client(b) }), url: up.URL + benchLarge, size: benchLargeSize}
	through.warm(b, up)
	direct.warm(b, up)
	for b.Loop() {
		alternate(b, up, through, direct, throughputRounds, throughputRound)
	}
	b.StopTimer()
	b.ReportMetric(medianOf(through.mbs), "MB/s-through")
	b.ReportMetric(medianOf(direct.mbs), "MB/s-direct")
	b.ReportMetric(medianOf(pairRatios(through.mbs, direct.mbs)), "ratio-through/direct")
	b.ReportMetric(medianOf(through.cpu), "cpu-µs/req-through")
	b.ReportMetric(medianOf(direct.cpu), "cpu-µs/req-direct")
	// The proxy's own CPU per request against the client's and server's
	// together: through/direct can reach 0.5 only where this is at most 1
	// (see docs/benchmarks.md).
	b.ReportMetric(medianOf(pairRatios(through.cpu, direct.cpu))-1, "proxy-cpu/direct-cpu")
}

// BenchmarkAuditCost runs the throughput workload through two proxies on
// the same upstream, one recording every request in an audit log (two
// entries per request: the injection and the request) and one without,
// in alternating rounds. It reports the median req/s of each, the cost of
// recording in percent of the plain proxy's throughput (from the median
// ratio of adjacent rounds; issue 6's target: under 10%), and the same in
// CPU time per request, the steadier measure. The 2-byte body is the worst
// case: the most events per second of proxy work.
func BenchmarkAuditCost(b *testing.B) {
	for _, body := range []struct {
		name, path string
		size       int64
	}{{"body=64KiB", benchLarge, benchLargeSize}, {"body=2B", benchSmall, 2}} {
		b.Run(body.name, func(b *testing.B) {
			up := newBenchUpstream(b)
			sa, sp := startBenchSidecar(b, up, true), startBenchSidecar(b, up, false)
			audited := &side{name: "audited", clients: clients(benchClients, sa.client), url: sa.url(body.path), size: body.size, injected: true}
			plain := &side{name: "plain", clients: clients(benchClients, sp.client), url: sp.url(body.path), size: body.size, injected: true}
			audited.warm(b, up)
			plain.warm(b, up)
			for b.Loop() {
				alternate(b, up, audited, plain, throughputRounds, throughputRound)
			}
			b.StopTimer()
			b.ReportMetric(medianOf(audited.rates), "req/s-audited")
			b.ReportMetric(medianOf(plain.rates), "req/s-plain")
			b.ReportMetric((1-medianOf(pairRatios(audited.rates, plain.rates)))*100, "cost-%")
			b.ReportMetric(medianOf(audited.cpu), "cpu-µs/req-audited")
			b.ReportMetric(medianOf(plain.cpu), "cpu-µs/req-plain")
			b.ReportMetric((medianOf(pairRatios(audited.cpu, plain.cpu))-1)*100, "cpu-cost-%")
			sa.stop()
			checkAudited(b, sa.auditLog, audited.sent)
		})
	}
}

// checkAudited fails b unless the audit log at path records each of the n
// requests, with its injection.
func checkAudited(b *testing.B, path string, n int64) {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	counts := map[string]int64{}
	r := audit.NewReader(f)
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		counts[e.Kind]++
	}
	if counts[audit.KindNetRequest] != n || counts[audit.KindCredentialInjected] != n {
		b.Fatalf("audit log holds %d requests and %d injections, want %d of each", counts[audit.KindNetRequest], counts[audit.KindCredentialInjected], n)
	}
}

// BenchmarkRecordRequest is the proxy's cost of recording one intercepted
// request, alone: the two audit events (injection and request) built by
// recordEvent and written by an audit.Recorder, checkpoints included. It
// reports the process's CPU time per request, the recorder's work in the
// background included.
func BenchmarkRecordRequest(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(nil)
	l, err := audit.Open(filepath.Join(b.TempDir(), "audit.jsonl"), "bench", key, audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	rec := audit.NewRecorder(l, func(err error) { b.Error(err) })
	ev := proxy.Event{Time: time.Now(), Method: "GET", Scheme: "https", Host: "example.com:8443", Path: "/v1/things",
		Status: 200, Duration: time.Millisecond, BytesIn: 2, Grant: "bench", Decision: "allow"}
	cpu0 := cpuTime()
	for b.Loop() {
		recordEvent(rec, ev)
	}
	rec.Close() // the queued events are written: part of the cost
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/request")
	if err := l.Release(); err != nil {
		b.Fatal(err)
	}
}
