package egress

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/policy"
)

// Routing tables as a namespace with loopback alone shows them: no IPv4
// route, and IPv6's reject routes on lo.
const (
	loOnlyV4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	loOnlyV6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n" +
		"00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
	// A bridge network's: a default route via eth0, and its subnet.
	bridgeV4 = loOnlyV4 + "eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
	// docker:dind's inner bridge, a local route only.
	innerBridgeV4 = loOnlyV4 + "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
	defaultV6     = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n"
)

// unreachable is a direct dial in a namespace without routes.
func unreachable(context.Context, string, string) (net.Conn, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}
}

// routeFiles writes the two tables to files and returns their paths.
func routeFiles(t *testing.T, v4, v6 string) [2]string {
	dir := t.TempDir()
	files := [2]string{filepath.Join(dir, "route"), filepath.Join(dir, "ipv6_route")}
	for i, s := range []string{v4, v6} {
		if err := os.WriteFile(files[i], []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func TestNoDirectRoute(t *testing.T) {
	connects := func(context.Context, string, string) (net.Conn, error) {
		a, b := net.Pipe()
		b.Close()
		return a, nil
	}
	hangs := func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: ctx.Err()}
	}
	refused := func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	noIPv6 := func(_ context.Context, _, addr string) (net.Conn, error) {
		if strings.HasPrefix(addr, "[") {
			return nil, &net.OpError{Op: "socket", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EAFNOSUPPORT)}
		}
		return unreachable(nil, "", "")
	}
	tests := []struct {
		name   string
		v4, v6 string
		dial   func(context.Context, string, string) (net.Conn, error)
		want   string // "" passes; else in the detail
	}{
		{"loopback alone", loOnlyV4, loOnlyV6, unreachable, ""},
		{"no IPv6 in the kernel", loOnlyV4, "", noIPv6, ""},
		{"an inner bridge's local route", innerBridgeV4, loOnlyV6, unreachable, ""},
		{"a default IPv4 route", bridgeV4, loOnlyV6, unreachable, "default IPv4 route (via eth0)"},
		{"a default IPv6 route", loOnlyV4, loOnlyV6 + defaultV6, unreachable, "default IPv6 route (via eth0)"},
		{"a direct connection succeeds", loOnlyV4, loOnlyV6, connects, "direct connection to 1.1.1.1:443 succeeded"},
		{"a direct connection hangs", loOnlyV4, loOnlyV6, hangs, "did not fail within 2s"},
		{"a direct connection is refused", loOnlyV4, loOnlyV6, refused, "want network unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := routeFiles(t, tc.v4, tc.v6)
			if tc.v6 == "" {
				os.Remove(files[1])
			}
			at := &Attester{RouteFiles: files, Direct: tc.dial}
			wantVerdict(t, at.checkNoDirectRoute(context.Background()), tc.want)
		})
	}
}

// wantVerdict fails t unless v is no-direct-route's pass (want "") or its
// failure with a detail holding want.
func wantVerdict(t *testing.T, v CheckVerdict, want string) {
	t.Helper()
	switch {
	case v.Name != CheckNoDirectRoute:
		t.Fatalf("the check is named %q, want %q", v.Name, CheckNoDirectRoute)
	case want == "" && v.Verdict != VerdictPass:
		t.Fatalf("got %+v, want a pass", v)
	case want != "" && (v.Verdict != VerdictFail || !strings.Contains(v.Detail, want)):
		t.Fatalf("got %+v, want a failure saying %q", v, want)
	}
}

func TestGrantProof(t *testing.T) {
	// RFC 4231-style check against a known HMAC-SHA256: key "key".
	got := GrantProof([]byte("The quick brown fox jumps over the lazy dog"), "key")
	if want := "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"; got != want {
		t.Fatalf("GrantProof = %s, want %s", got, want)
	}
	if GrantProof([]byte("s"), "n1") == GrantProof([]byte("s"), "n2") {
		t.Fatal("the proof does not depend on the nonce")
	}
}

func TestPlanAttestation(t *testing.T) {
	httpGrant := func(name string, secret string) GrantSecret {
		return GrantSecret{Grant: grant.Grant{Name: name, Kind: grant.HTTP, Hosts: []string{"api.test"}, Header: "X-Key"}, Secret: []byte(secret)}
	}
	tests := []struct {
		name     string
		policy   Policy
		grants   []GrantSecret
		deny     string
		proofsOf []string
	}{
		{"strict", Policy{Mode: "strict"}, []GrantSecret{httpGrant("a", "sa")}, "169.254.169.254:80", []string{"a"}},
		{"metadata allowed", Policy{Mode: "permissive", Allow: []Allow{{Rule: "169.254.0.0/16"}}}, nil, "192.0.2.1:443", nil},
		{"both addresses allowed, strict", Policy{Mode: "strict", Allow: []Allow{{Rule: "169.254.0.0/16"}, {Rule: "192.0.2.0/24"}}}, nil, AttestHost + ":443", nil},
		{"everything allowed", Policy{Mode: "permissive", Allow: []Allow{{Rule: "169.254.0.0/16"}, {Rule: "192.0.2.0/24"}}}, nil, "", nil},
		{"a grant without a secret is not injected", Policy{Mode: "strict"}, []GrantSecret{httpGrant("a", "sa"), httpGrant("b", "")}, "169.254.169.254:80", []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := PlanAttestation(&Config{Token: "tok", Policy: tc.policy, Grants: tc.grants})
			if err != nil {
				t.Fatal(err)
			}
			if a.Deny != tc.deny {
				t.Errorf("deny target %q, want %q", a.Deny, tc.deny)
			}
			if len(a.Proofs) != len(tc.proofsOf) {
				t.Errorf("proofs %v, want those of %v", a.Proofs, tc.proofsOf)
			}
			for _, name := range tc.proofsOf {
				if a.Proofs[name] != GrantProof([]byte("s"+name), a.Nonce) {
					t.Errorf("grant %s: proof %q, want the HMAC of its secret under the nonce", name, a.Proofs[name])
				}
			}
			back, err := ParseAttestation(a.Encode())
			if err != nil || back.Nonce != a.Nonce || back.Deny != a.Deny || back.Token != "tok" {
				t.Fatalf("ParseAttestation(Encode()) = %+v, %v", back, err)
			}
		})
	}
	a, _ := PlanAttestation(&Config{Token: "tok"})
	b, _ := PlanAttestation(&Config{Token: "tok"})
	if a.Nonce == b.Nonce {
		t.Fatal("two attestations share a nonce")
	}
}

func TestParseAttestationRefuses(t *testing.T) {
	nonce := strings.Repeat("ab", nonceBytes)
	for _, in := range []string{
		"",
		"{",
		`{"nonce":"` + nonce + `"}`,
		`{"token":"t","nonce":"abcd"}`,
		`{"token":"t","nonce":"` + strings.Repeat("zz", nonceBytes) + `"}`,
		`{"token":"t","nonce":"` + nonce + `","deny":"no-port"}`,
		`{"token":"t","nonce":"` + nonce + `","proofs":{"g":"short"}}`,
	} {
		if _, err := ParseAttestation(in); err == nil {
			t.Errorf("ParseAttestation(%q) accepted it", in)
		}
	}
}

func FuzzParseAttestation(f *testing.F) {
	a, _ := PlanAttestation(&Config{Token: "tok", Policy: Policy{Mode: "strict"}})
	f.Add(a.Encode())
	f.Add(`{"token":"t","nonce":"` + strings.Repeat("0", 64) + `","deny":"[::1]:1","proofs":{"g":"` + strings.Repeat("0", 64) + `"}}`)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAttestation(s)
		if err != nil {
			return
		}
		back, err := ParseAttestation(a.Encode())
		if err != nil || back.Encode() != a.Encode() {
			t.Fatalf("an accepted attestation does not round-trip: %q: %v", s, err)
		}
	})
}

// attestedSidecar serves a real proxy with one grant, as in a run, and
// returns its configuration (the CLI's copy, secrets intact), the
// relay's port and stop, which stops it and returns its audit log.
func attestedSidecar(t *testing.T) (*Config, Attestation, string, func() []audit.Entry) {
	t.Helper()
	dir := t.TempDir()
	_, runCA := testRunCA(t, dir)
	_, key, _ := ed25519.GenerateKey(nil)
	cfg := &Config{
		Token: "tok-123", Socket: filepath.Join(dir, "p.sock"), Policy: Policy{Mode: "strict"}, CA: runCA,
		Grants: []GrantSecret{{Grant: grant.Grant{Name: "my-api", Kind: grant.HTTP, Hosts: []string{"api.test"}, Header: "X-Api-Key"},
			Secret: []byte(testSecret)}},
		Audit: &Audit{Path: filepath.Join(dir, "audit.jsonl"), RunID: "run1", Key: key},
	}
	a, err := PlanAttestation(cfg) // before Serve clears its copy of the secrets
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := runSidecar(t, cfg, 0, io.Discard)
	return cfg, a, addr, func() []audit.Entry { stop(); return readAudit(t, cfg.Audit.Path) }
}

// TestAttestAgainstTheProxy attests a real proxy: every check passes, the
// report is recorded once as egress.attested (the deny probe's refusal
// is not recorded as a request), and afterwards neither the proofs nor a
// second report are given, while a denial of the agent's is recorded.
func TestAttestAgainstTheProxy(t *testing.T) {
	_, a, addr, stop := attestedSidecar(t)
	at := &Attester{Proxy: addr, RouteFiles: routeFiles(t, loOnlyV4, loOnlyV6), Direct: unreachable}
	ctx := context.Background()
	res := at.Attest(ctx, a)
	if failed, ok := res.Failure(); ok {
		t.Fatalf("the attestation of an honest proxy failed: %+v", failed)
	}
	for i, c := range res.Checks {
		if c.Name != AttestChecks[i] || c.Verdict != VerdictPass {
			t.Errorf("check %d: %+v, want %s passed", i, c, AttestChecks[i])
		}
	}
	if err := at.Report(ctx, a, res); err != nil {
		t.Fatal(err)
	}
	if err := at.Report(ctx, a, res); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("a second report: %v, want 409", err)
	}
	if ans := at.ask(ctx, "GET", "http://"+AttestHost+attestGrantsPath+"?nonce="+a.Nonce, a.Token, nil); ans.status != http.StatusGone {
		t.Errorf("proofs asked for after the report: %s, want 410", ans.got())
	}
	// The agent's own CONNECT to the same destination is its request.
	if ans := at.ask(ctx, "CONNECT", a.Deny, a.Token, nil); ans.status != policy.DenyStatus {
		t.Errorf("the agent's CONNECT %s %s, want 403", a.Deny, ans.got())
	}
	entries := stop()
	var attested []audit.Entry
	denied := 0
	for _, e := range entries {
		switch e.Kind {
		case audit.KindEgressAttested:
			attested = append(attested, e)
		case audit.KindNetDenied:
			denied++
		}
	}
	if len(attested) != 1 || denied != 1 {
		t.Fatalf("audit log: %d egress.attested and %d net.denied, want 1 each (the agent's CONNECT): %+v", len(attested), denied, entries)
	}
	d := attested[0].Data
	if d[audit.AttestResult] != audit.AttestPassed || d[audit.AttestDurationUS] == "" {
		t.Errorf("egress.attested data %v, want passed with a duration", d)
	}
	for _, c := range AttestChecks {
		if d[audit.AttestCheckPrefix+c] != VerdictPass {
			t.Errorf("egress.attested: %s is %q, want pass", c, d[audit.AttestCheckPrefix+c])
		}
	}
}

// TestAttestReportIsRecordedOnce: the report is checked, a malformed one
// is recorded as a failure, and nothing after the first is.
func TestAttestReportIsRecordedOnce(t *testing.T) {
	_, a, addr, stop := attestedSidecar(t)
	at := &Attester{Proxy: addr}
	ctx := context.Background()
	bad := AttestResult{Checks: []CheckVerdict{{Name: CheckGrantsLive, Verdict: VerdictPass}}}
	if err := at.Report(ctx, a, bad); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("a report naming one check: %v, want 400", err)
	}
	good := AttestResult{}
	for _, c := range AttestChecks {
		good.Checks = append(good.Checks, CheckVerdict{Name: c, Verdict: VerdictPass})
	}
	if err := at.Report(ctx, a, good); err == nil {
		t.Fatal("a report after a malformed one was taken")
	}
	wrongToken := a
	wrongToken.Token = "not-the-token"
	if err := at.Report(ctx, wrongToken, good); err == nil || !strings.Contains(err.Error(), "407") {
		t.Fatalf("a report without the run's token: %v, want 407", err)
	}
	var attested []map[string]string
	for _, e := range stop() {
		if e.Kind == audit.KindEgressAttested {
			attested = append(attested, e.Data)
		}
	}
	if len(attested) != 1 || attested[0][audit.AttestResult] != audit.AttestFailed || attested[0][audit.AttestFailedCheck] != "report" {
		t.Fatalf("egress.attested entries %v, want one failure naming the report", attested)
	}
}

// fakeProxy is a proxy that answers the attestation as its handler says,
// on the relay's port, as a sabotaged proxy would.
func fakeProxy(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// honestAnswers answers as moat's proxy does for token and proofs.
func honestAnswers(token string, proofs map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r, token) {
			w.Header().Set("Proxy-Authenticate", `Basic realm="moat"`)
			w.WriteHeader(http.StatusProxyAuthRequired)
			return
		}
		switch {
		case r.Method == http.MethodConnect:
			w.Header().Set(policy.HeaderName, "refused")
			w.WriteHeader(policy.DenyStatus)
		case r.URL.Path == attestGrantsPath:
			json.NewEncoder(w).Encode(grantsAnswer{Proofs: proofs})
		case r.URL.Path == attestReportPath:
			w.WriteHeader(http.StatusNoContent)
		}
	}
}

// TestAttestFailsAgainstASabotagedProxy: each way a proxy can fail the
// run's guarantees fails the check named for it, and only that one.
func TestAttestFailsAgainstASabotagedProxy(t *testing.T) {
	a, err := PlanAttestation(&Config{Token: "tok", Policy: Policy{Mode: "strict"},
		Grants: []GrantSecret{{Grant: grant.Grant{Name: "g", Kind: grant.HTTP, Hosts: []string{"api.test"}, Header: "X"}, Secret: []byte("sec")}}})
	if err != nil {
		t.Fatal(err)
	}
	honest := honestAnswers(a.Token, a.Proofs)
	tests := []struct {
		name  string
		proxy http.HandlerFunc
		check string
		want  string
	}{
		{"honest", honest, "", ""},
		{"the denied CONNECT gets 200", connectAnswers(a.Token, http.StatusOK, honest),
			CheckDenyOutsidePolicy, "CONNECT 169.254.169.254:80 got 200, want 403 with X-Moat-Blocked"},
		{"a 403 without moat's header", connectAnswers(a.Token, http.StatusForbidden, honest),
			CheckDenyOutsidePolicy, "got 403, want 403 with X-Moat-Blocked"},
		{"any token is taken", func(w http.ResponseWriter, r *http.Request) {
			r.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("moat:"+a.Token)))
			honest(w, r)
		}, CheckTokenOnly, "without a token got 403, want 407"},
		{"a wrong token is taken", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Proxy-Authorization") != "" {
				r.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("moat:"+a.Token)))
			}
			honest(w, r)
		}, CheckTokenOnly, "with a wrong token got 403, want 407"},
		{"a wrong proof", honestAnswers(a.Token, map[string]string{"g": GrantProof([]byte("other"), a.Nonce)}),
			CheckGrantsLive, "grant g: the proxy's credential is not the one moat gave it"},
		{"a proof missing", honestAnswers(a.Token, map[string]string{}), CheckGrantsLive, "grant g: the proxy holds no credential for it"},
		{"a grant too many", honestAnswers(a.Token, map[string]string{"g": a.Proofs["g"], "h": a.Proofs["g"]}),
			CheckGrantsLive, `credential for "h", which the run does not grant`},
		{"no proof endpoint", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == attestGrantsPath {
				http.NotFound(w, r)
				return
			}
			honest(w, r)
		}, CheckGrantsLive, "got 404, want 200"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at := &Attester{Proxy: fakeProxy(t, tc.proxy), RouteFiles: routeFiles(t, loOnlyV4, loOnlyV6), Direct: unreachable}
			res := at.Attest(context.Background(), a)
			failed, ok := res.Failure()
			if tc.check == "" {
				if ok {
					t.Fatalf("the honest fake failed: %+v", failed)
				}
				return
			}
			if !ok || failed.Name != tc.check || !strings.Contains(failed.Detail, tc.want) {
				t.Fatalf("got %+v, want %s failed with %q", res.Checks, tc.check, tc.want)
			}
			for _, c := range res.Checks {
				if c.Name != tc.check && c.Verdict != VerdictPass {
					t.Errorf("check %s also failed: %s", c.Name, c.Detail)
				}
			}
		})
	}
}

// connectAnswers answers an authorized CONNECT with status alone, and
// everything else as otherwise does.
func connectAnswers(token string, status int, otherwise http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect && authorized(r, token) {
			w.WriteHeader(status)
			return
		}
		otherwise(w, r)
	}
}

func authorized(r *http.Request, token string) bool {
	return r.Header.Get("Proxy-Authorization") == "Basic "+base64.StdEncoding.EncodeToString([]byte("moat:"+token))
}

// TestAttestProxyGone: a proxy that closes every connection fails the
// checks that ask it, without waiting out a timeout.
func TestAttestProxyGone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	defer ln.Close()
	a, _ := PlanAttestation(&Config{Token: "tok", Policy: Policy{Mode: "strict"}})
	at := &Attester{Proxy: ln.Addr().String(), RouteFiles: routeFiles(t, loOnlyV4, loOnlyV6), Direct: unreachable}
	start := time.Now()
	res := at.Attest(context.Background(), a)
	if failed, ok := res.Failure(); !ok || failed.Name != CheckDenyOutsidePolicy {
		t.Fatalf("got %+v, want deny-outside-policy failed first", res.Checks)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s", d)
	}
}

// BenchmarkAttest times the attestation's checks against a real proxy
// with one grant, on the port a relay handed it, as in a run (the routes
// and direct connections of the test machine's own namespace are not
// read: a fake unreachable dial stands in). Each iteration gets a proxy
// of its own, started outside the timing: the proxy answers one
// attestation. It reports the duration the relay records (attest-ms) and
// the report's round trip.
func BenchmarkAttest(b *testing.B) {
	files := [2]string{filepath.Join(b.TempDir(), "route"), filepath.Join(b.TempDir(), "ipv6_route")}
	os.WriteFile(files[0], []byte(loOnlyV4), 0o644)
	os.WriteFile(files[1], []byte(loOnlyV6), 0o644)
	var checks, reports time.Duration
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		_, runCA := testRunCA(b, dir)
		cfg := &Config{Token: "tok", Socket: filepath.Join(dir, "p.sock"), Policy: Policy{Mode: "strict"}, CA: runCA,
			Grants: []GrantSecret{{Grant: grant.Grant{Name: "g", Kind: grant.HTTP, Hosts: []string{"api.test"}, Header: "X"}, Secret: []byte(testSecret)}}}
		a, err := PlanAttestation(cfg)
		if err != nil {
			b.Fatal(err)
		}
		addr, stop := runSidecar(b, cfg, 0, io.Discard)
		at := &Attester{Proxy: addr, RouteFiles: files, Direct: unreachable}
		b.StartTimer()
		res := at.Attest(context.Background(), a)
		start := time.Now()
		err = at.Report(context.Background(), a, res)
		reports += time.Since(start)
		b.StopTimer()
		if failed, ok := res.Failure(); ok || err != nil {
			b.Fatalf("the attestation failed: %+v, %v", failed, err)
		}
		checks += time.Duration(res.DurationUS) * time.Microsecond
		stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(checks.Microseconds())/float64(b.N)/1000, "attest-ms")
	b.ReportMetric(float64(reports.Microseconds())/float64(b.N)/1000, "report-ms")
}

// TestAttestProxyNeverAnswers: a proxy that takes the grants request and
// never answers fails grants-live once attestRequestTimeout is out, rather
// than holding the run. Not parallel: it shortens the bound.
func TestAttestProxyNeverAnswers(t *testing.T) {
	defer func(d time.Duration) { attestRequestTimeout = d }(attestRequestTimeout)
	attestRequestTimeout = 200 * time.Millisecond
	a := Attestation{Token: "tok", Nonce: "n1", Proofs: map[string]string{"g": GrantProof([]byte("s"), "n1")}}
	honest := honestAnswers(a.Token, a.Proofs)
	release := make(chan struct{})
	defer close(release)
	at := &Attester{Proxy: fakeProxy(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == attestGrantsPath {
			<-release
			return
		}
		honest(w, r)
	}), RouteFiles: routeFiles(t, loOnlyV4, loOnlyV6), Direct: unreachable}
	failed, ok := at.Attest(context.Background(), a).Failure()
	if !ok || failed.Name != CheckGrantsLive || !strings.Contains(failed.Detail, "timeout") {
		t.Fatalf("got %+v, want %s failed for a timeout", failed, CheckGrantsLive)
	}
}
