package egress

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/plural"
	"github.com/moatsh/moat/internal/policy"
	"github.com/moatsh/moat/internal/proxy"
	"github.com/moatsh/moat/internal/termtext"
)

// attestEndpoint is the proxy's side of the attestation, served at
// AttestHost after the token check (proxy.Server.Local): it gives each
// grant's proof once and takes the relay's report once, which it records.
// The relay asks before the agent's command starts; what comes later, the
// agent's, is refused, so the agent can neither test guesses of a secret
// against proofs nor write a report of its own.
type attestEndpoint struct {
	creds *credentials
	// probe is the relay's deny target as an Event's Host has it ("" if
	// none): its refusal is the attestation's, recorded in its event, not
	// a request of the agent's (ownProbe).
	probe  string
	record func(kind string, data map[string]string) // nil records nothing

	mu        sync.Mutex
	proved    bool // the proofs were given
	reported  bool // the report came: the attestation is over
	probeSeen bool
}

func newAttestEndpoint(creds *credentials, pol *policy.Policy) *attestEndpoint {
	a := &attestEndpoint{creds: creds}
	if t := DenyTarget(pol); t != "" {
		host, port, _ := net.SplitHostPort(t)
		a.probe = t
		if port == "443" { // Event.Host leaves a CONNECT's default port out
			a.probe = host
		}
	}
	return a
}

func (a *attestEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == attestGrantsPath && r.Method == http.MethodGet:
		a.serveProofs(w, r)
	case r.URL.Path == attestReportPath && r.Method == http.MethodPost:
		a.serveReport(w, r)
	default:
		http.Error(w, "moat proxy: no such attestation endpoint", http.StatusNotFound)
	}
}

// serveProofs answers each grant's proof under the nonce asked for.
func (a *attestEndpoint) serveProofs(w http.ResponseWriter, r *http.Request) {
	nonce := r.URL.Query().Get("nonce")
	if b, err := hex.DecodeString(nonce); err != nil || len(b) != nonceBytes {
		http.Error(w, "moat proxy: the nonce must be 32 bytes in hex", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	done := a.proved || a.reported
	a.proved = true
	a.mu.Unlock()
	if done {
		http.Error(w, "moat proxy: the attestation's proofs were given already", http.StatusGone)
		return
	}
	ans := grantsAnswer{Proofs: map[string]string{}}
	for _, g := range a.creds.grants {
		g.mu.Lock()
		secret := g.secret.Reveal()
		g.mu.Unlock()
		ans.Proofs[g.grant.Name] = GrantProof(secret, nonce)
		clear(secret)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ans)
}

// maxReport bounds the report the proxy reads.
const maxReport = 16 << 10

// serveReport records the relay's report, the first one only.
func (a *attestEndpoint) serveReport(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	done := a.reported
	a.reported = true
	a.mu.Unlock()
	if done {
		http.Error(w, "moat proxy: the attestation was reported already", http.StatusConflict)
		return
	}
	var res AttestResult
	data, err := io.ReadAll(io.LimitReader(r.Body, maxReport+1))
	if err == nil && len(data) > maxReport {
		err = fmt.Errorf("larger than %d bytes", maxReport)
	}
	if err == nil {
		err = json.Unmarshal(data, &res)
	}
	if err == nil {
		err = checkReport(res)
	}
	if err != nil {
		a.recordEvent(map[string]string{audit.AttestResult: audit.AttestFailed, audit.AttestFailedCheck: "report",
			audit.AttestReason: termtext.Field("the relay's report is malformed: " + err.Error())})
		http.Error(w, "moat proxy: the attestation's report is malformed: "+err.Error(), http.StatusBadRequest)
		return
	}
	a.recordEvent(attestedData(res))
	w.WriteHeader(http.StatusNoContent)
}

func (a *attestEndpoint) recordEvent(data map[string]string) {
	if a.record != nil {
		a.record(audit.KindEgressAttested, data)
	}
}

// maxDetail bounds a check's detail as recorded.
const maxDetail = 512

// checkReport checks that res names every check once, in order, with a
// known verdict.
func checkReport(res AttestResult) error {
	if len(res.Checks) != len(AttestChecks) {
		return fmt.Errorf("%s, want %d", plural.Count(len(res.Checks), "check"), len(AttestChecks))
	}
	for i, c := range res.Checks {
		if c.Name != AttestChecks[i] {
			return fmt.Errorf("check %d is %q, want %q", i+1, c.Name, AttestChecks[i])
		}
		if c.Verdict != VerdictPass && c.Verdict != VerdictFail && c.Verdict != VerdictSkipped {
			return fmt.Errorf("check %s: unknown verdict %q", c.Name, c.Verdict)
		}
	}
	if res.DurationUS < 0 {
		return fmt.Errorf("negative duration %d", res.DurationUS)
	}
	return nil
}

// attestedData is the audit event's data for a well-formed report.
func attestedData(res AttestResult) map[string]string {
	data := map[string]string{
		audit.AttestResult:     audit.AttestPassed,
		audit.AttestDurationUS: strconv.FormatInt(res.DurationUS, 10),
	}
	if failed, ok := res.Failure(); ok {
		data[audit.AttestResult] = audit.AttestFailed
		data[audit.AttestFailedCheck] = failed.Name
		data[audit.AttestReason] = clip(termtext.Field(failed.Detail))
	}
	for _, c := range res.Checks {
		v := c.Verdict
		if c.Detail != "" {
			v += ": " + clip(termtext.Field(c.Detail))
		}
		data[audit.AttestCheckPrefix+c.Name] = v
	}
	return data
}

func clip(s string) string {
	if len(s) > maxDetail {
		return s[:maxDetail] + "..."
	}
	return s
}

// ownProbe reports whether e is the refusal of the relay's deny probe,
// the first one before the report: the attestation's event records it.
func (a *attestEndpoint) ownProbe(e proxy.Event) bool {
	if a.probe == "" || e.Method != http.MethodConnect || !strings.HasPrefix(e.Decision, "deny") ||
		!strings.EqualFold(e.Host, a.probe) {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reported || a.probeSeen {
		return false
	}
	a.probeSeen = true
	return true
}
