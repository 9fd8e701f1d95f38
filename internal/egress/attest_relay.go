package egress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moatsh/moat/internal/policy"
	"golang.org/x/sys/unix"
)

// Verdicts of a check.
const (
	VerdictPass    = "pass"
	VerdictFail    = "fail"
	VerdictSkipped = "skipped" // nothing to check (Detail says why)
)

// CheckVerdict is one check's outcome.
type CheckVerdict struct {
	Name    string `json:"name"`
	Verdict string `json:"verdict"`
	Detail  string `json:"detail,omitempty"` // why it failed or was skipped
}

// AttestResult is the outcome of Attester.Attest: each check's verdict,
// in AttestChecks' order, and how long the checks took together.
type AttestResult struct {
	Checks     []CheckVerdict `json:"checks"`
	DurationUS int64          `json:"duration_us"`
}

// Failure returns the first check that failed.
func (r AttestResult) Failure() (CheckVerdict, bool) {
	for _, c := range r.Checks {
		if c.Verdict != VerdictPass && c.Verdict != VerdictSkipped {
			return c, true
		}
	}
	return CheckVerdict{}, false
}

// Attester checks a run's egress from inside the agent's network
// namespace, where the relay runs.
type Attester struct {
	// Proxy is the agent's proxy port ("127.0.0.1:3128"), which the
	// proxy serves once the relay has handed it over.
	Proxy string
	// RouteFiles are the kernel's IPv4 and IPv6 routing tables as the
	// namespace sees them; empty means /proc/net/route and
	// /proc/net/ipv6_route.
	RouteFiles [2]string
	// Direct dials a global address without the proxy; nil means
	// connectAtOnce for no-direct-route's direct connections and a
	// net.Dialer for a forwarded relay's probes.
	Direct func(ctx context.Context, network, addr string) (net.Conn, error)
	// Forwarded says the relay forwards the agent's port to a proxy
	// elsewhere (ProxyAddrEnv: a Kubernetes pod), whose namespace has a
	// default route: no-direct-route then checks that direct connections
	// out fail instead (checkNoDirectConnect).
	Forwarded bool
	// Probes are the destinations ("host:port") that check tries; nil
	// means a pod's (podProbes).
	Probes []string
}

// directTargets are global addresses a direct connection is tried to,
// IPv4 and IPv6 (Cloudflare's resolver: any global address would do).
var directTargets = []string{"1.1.1.1:443", "[2606:4700:4700::1111]:443"}

// directWait bounds a direct connection made through an injected Direct
// dialer. connectAtOnce needs no bound: it never waits.
const directWait = 2 * time.Second

// attestRequestTimeout bounds each request to the proxy: a sabotaged
// proxy that never answers fails the check rather than holding the run.
// It is generous because a sound proxy on a loaded machine may be slow,
// and a sound run must never fail for that.
var attestRequestTimeout = 10 * time.Second

// Attest runs every check against a, the CLI's expectations, and returns
// their verdicts. The checks run at once: the run's command waits for them.
func (at *Attester) Attest(ctx context.Context, a Attestation) AttestResult {
	start := time.Now()
	target := a.Deny
	if target == "" {
		target = AttestHost + ":443" // only the 407s are checked on it
	}
	wrong := make([]byte, 24)
	rand.Read(wrong)
	var (
		wg                    sync.WaitGroup
		route                 CheckVerdict
		deny, noAuth, badAuth proxyAnswer
		grants                proxyAnswer
		grantsPath            = attestGrantsPath + "?nonce=" + a.Nonce
		connect               = func(auth string) proxyAnswer { return at.ask(ctx, "CONNECT", target, auth, nil) }
	)
	wg.Go(func() { route = at.checkNoDirectRoute(ctx) })
	if a.Deny != "" {
		wg.Go(func() { deny = connect(a.Token) })
	}
	wg.Go(func() { noAuth = connect("") })
	wg.Go(func() { badAuth = connect(hex.EncodeToString(wrong)) })
	wg.Go(func() { grants = at.ask(ctx, "GET", "http://"+AttestHost+grantsPath, a.Token, nil) })
	wg.Wait()
	right := deny
	if a.Deny == "" {
		right = grants
	}
	return AttestResult{
		Checks: []CheckVerdict{
			route,
			denyVerdict(a.Deny, deny),
			tokenVerdict(noAuth, badAuth, right),
			grantsVerdict(a.Proofs, grants),
		},
		DurationUS: time.Since(start).Microseconds(),
	}
}

// proxyAnswer is what the proxy answered to one request, or why it did
// not.
type proxyAnswer struct {
	what   string // the request, for messages: "CONNECT 169.254.169.254:80"
	status int
	header http.Header
	body   []byte
	err    error
}

// got describes the answer for a message: "got 200", "failed: ...".
func (p proxyAnswer) got() string {
	if p.err != nil {
		return "failed: " + p.err.Error()
	}
	return fmt.Sprintf("got %d", p.status)
}

// maxAttestBody bounds what the relay reads of a proxy's answer.
const maxAttestBody = 64 << 10

// ask sends one request through the proxy on a connection of its own:
// method to target (an authority for CONNECT, an absolute URL otherwise),
// with the token as the proxy password unless token is empty.
func (at *Attester) ask(ctx context.Context, method, target, token string, body []byte) proxyAnswer {
	ans := proxyAnswer{what: method + " " + target}
	ctx, cancel := context.WithTimeout(ctx, attestRequestTimeout)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", at.Proxy)
	if err != nil {
		ans.err = err
		return ans
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	host := target
	if method != "CONNECT" {
		host = AttestHost
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, host)
	if token != "" {
		fmt.Fprintf(&req, "Proxy-Authorization: Basic %s\r\n", base64.StdEncoding.EncodeToString([]byte("moat:"+token)))
	}
	if body != nil {
		fmt.Fprintf(&req, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n")
	req.Write(body)
	if _, err := c.Write(req.Bytes()); err != nil {
		ans.err = err
		return ans
	}
	res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		ans.err = err
		return ans
	}
	defer res.Body.Close()
	ans.status, ans.header = res.StatusCode, res.Header
	if method != "CONNECT" || res.StatusCode != http.StatusOK { // a tunnel's body is the upstream's
		ans.body, ans.err = io.ReadAll(io.LimitReader(res.Body, maxAttestBody))
	}
	return ans
}

func denyVerdict(target string, deny proxyAnswer) CheckVerdict {
	v := CheckVerdict{Name: CheckDenyOutsidePolicy, Verdict: VerdictPass}
	switch {
	case target == "":
		v.Verdict, v.Detail = VerdictSkipped, "the run's policy allows every destination the check tries ("+strings.Join(denyCandidates, ", ")+")"
	case deny.err != nil || deny.status != policy.DenyStatus || deny.header.Get(policy.HeaderName) == "":
		v.Verdict, v.Detail = VerdictFail, fmt.Sprintf("%s %s, want %d with %s", deny.what, deny.got(), policy.DenyStatus, policy.HeaderName)
	}
	return v
}

func tokenVerdict(noAuth, badAuth, right proxyAnswer) CheckVerdict {
	v := CheckVerdict{Name: CheckTokenOnly, Verdict: VerdictPass}
	switch {
	case noAuth.err != nil || noAuth.status != http.StatusProxyAuthRequired:
		v.Verdict, v.Detail = VerdictFail, fmt.Sprintf("%s without a token %s, want 407", noAuth.what, noAuth.got())
	case badAuth.err != nil || badAuth.status != http.StatusProxyAuthRequired:
		v.Verdict, v.Detail = VerdictFail, fmt.Sprintf("%s with a wrong token %s, want 407", badAuth.what, badAuth.got())
	case right.status == http.StatusProxyAuthRequired:
		v.Verdict, v.Detail = VerdictFail, fmt.Sprintf("%s with the run's token got 407: the proxy does not take the run's token", right.what)
	}
	return v
}

// grantsAnswer is the proxy's answer on attestGrantsPath.
type grantsAnswer struct {
	Proofs map[string]string `json:"proofs"`
}

func grantsVerdict(want map[string]string, ans proxyAnswer) CheckVerdict {
	v := CheckVerdict{Name: CheckGrantsLive, Verdict: VerdictFail}
	var got grantsAnswer
	if ans.err != nil || ans.status != http.StatusOK {
		v.Detail = fmt.Sprintf("%s %s, want 200", ans.what, ans.got())
		return v
	}
	if err := json.Unmarshal(ans.body, &got); err != nil {
		v.Detail = fmt.Sprintf("%s: the answer is not the proxy's proofs: %v", ans.what, err)
		return v
	}
	if why := compareProofs(want, got.Proofs); why != "" {
		v.Detail = why
		return v
	}
	v.Verdict = VerdictPass
	if len(want) == 0 {
		v.Verdict, v.Detail = VerdictSkipped, "the run has no grant the proxy injects"
	}
	return v
}

// compareProofs says how the proxy's proofs differ from the CLI's, or ""
// if they are the same.
func compareProofs(want, got map[string]string) string {
	for _, name := range slices.Sorted(maps.Keys(want)) {
		p, ok := got[name]
		switch {
		case !ok:
			return fmt.Sprintf("grant %s: the proxy holds no credential for it", name)
		case p != want[name]:
			return fmt.Sprintf("grant %s: the proxy's credential is not the one moat gave it", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[name]; !ok {
			return fmt.Sprintf("the proxy holds a credential for %q, which the run does not grant", name)
		}
	}
	return ""
}

// checkNoDirectRoute reads the routing tables and tries the direct
// connections.
func (at *Attester) checkNoDirectRoute(ctx context.Context) CheckVerdict {
	if at.Forwarded {
		return at.checkNoDirectConnect(ctx)
	}
	v := CheckVerdict{Name: CheckNoDirectRoute, Verdict: VerdictFail}
	files := at.RouteFiles
	if files[0] == "" {
		files = [2]string{"/proc/net/route", "/proc/net/ipv6_route"}
	}
	for i, parse := range []func([]byte) (string, bool){defaultRouteV4, defaultRouteV6} {
		table, err := os.ReadFile(files[i])
		if errors.Is(err, os.ErrNotExist) && i == 1 { // a kernel without IPv6
			continue
		}
		if err != nil {
			v.Detail = fmt.Sprintf("reading the routing table: %v", err)
			return v
		}
		if iface, ok := parse(table); ok {
			v.Detail = fmt.Sprintf("the namespace has a default %s route (via %s)", []string{"IPv4", "IPv6"}[i], iface)
			return v
		}
	}
	dial := at.Direct
	if dial == nil {
		dial = connectAtOnce
	}
	for _, addr := range directTargets {
		if why := directFails(ctx, dial, addr); why != "" {
			v.Detail = why
			return v
		}
	}
	v.Verdict = VerdictPass
	return v
}

func (at *Attester) direct() func(context.Context, string, string) (net.Conn, error) {
	if at.Direct != nil {
		return at.Direct
	}
	return (&net.Dialer{}).DialContext
}

// directFails tries a direct connection to addr and says how it did not
// fail as it must, or "" if it failed at once for want of a route.
func directFails(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), addr string) string {
	ctx, cancel := context.WithTimeout(ctx, directWait)
	defer cancel()
	c, err := dial(ctx, "tcp", addr)
	switch {
	case err == nil:
		c.Close()
		return fmt.Sprintf("a direct connection to %s succeeded", addr)
	case errors.Is(err, syscall.EINPROGRESS):
		return fmt.Sprintf("a direct connection to %s was sent out rather than refused: a route out exists", addr)
	case isTimeout(err):
		return fmt.Sprintf("a direct connection to %s did not fail within %s: a route out exists", addr, directWait)
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EAFNOSUPPORT):
		return "" // no route, no source address, or no IPv6 at all
	default:
		return fmt.Sprintf("a direct connection to %s failed with %v, want network unreachable", addr, err)
	}
}

// connectAtOnce starts a TCP connection to addr ("ip:port") without
// waiting for it. The kernel looks the route up inside connect(2): with no
// route out it refuses at once (ENETUNREACH), and with one it has sent the
// SYN and answers EINPROGRESS, which is returned as the error. No clock
// decides: a dial bounded by a deadline read a loaded machine's slowness
// as a route out and failed a sound run (the cause of a CI failure).
func connectAtOnce(_ context.Context, _, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	domain, sa := unix.AF_INET6, unix.Sockaddr(&unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()})
	if ap.Addr().Is4() {
		domain, sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &net.OpError{Op: "socket", Net: "tcp", Err: os.NewSyscallError("socket", err)}
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	f := os.NewFile(uintptr(fd), addr)
	defer f.Close()
	return net.FileConn(f)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// defaultRouteV4 finds a default route in /proc/net/route's text: a line
// whose destination and mask are both zero.
func defaultRouteV4(table []byte) (iface string, ok bool) {
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 8 && f[1] == "00000000" && f[7] == "00000000" {
			return f[0], true
		}
	}
	return "", false
}

// rtfReject marks a route that refuses (RTF_REJECT): the kernel lists
// IPv6's "unreachable" default on lo so in every namespace.
const rtfReject = 0x0200

// defaultRouteV6 finds a default route in /proc/net/ipv6_route's text:
// destination ::/0 without the reject flag.
func defaultRouteV6(table []byte) (iface string, ok bool) {
	for _, line := range strings.Split(string(table), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || f[0] != strings.Repeat("0", 32) || f[1] != "00" {
			continue
		}
		if flags, err := strconv.ParseUint(f[8], 16, 32); err != nil || flags&rtfReject != 0 {
			continue
		}
		return f[9], true
	}
	return "", false
}

// Report sends r to the proxy, which records it in the run's audit log;
// it takes one report per run.
func (at *Attester) Report(ctx context.Context, a Attestation, r AttestResult) error {
	body, _ := json.Marshal(r)
	ans := at.ask(ctx, "POST", "http://"+AttestHost+attestReportPath, a.Token, body)
	if ans.err != nil {
		return fmt.Errorf("reporting the attestation to the proxy: %w", ans.err)
	}
	if ans.status != http.StatusNoContent {
		return fmt.Errorf("reporting the attestation to the proxy: got %d %s", ans.status, strings.TrimSpace(string(ans.body)))
	}
	return nil
}
