package egress

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strconv"

	"github.com/moatsh/moat/internal/policy"
)

// A run with a proxy proves its egress before the agent's command starts:
// the relay, in the agent's network namespace, checks each of these right
// after it has handed the agent's port to the proxy (see Attest), reports
// the verdicts to the proxy, which records them in the run's audit log,
// and fails the run if any check failed. The names are stable: errors,
// the audit event and docs/egress.md use them.
const (
	// CheckNoDirectRoute: the namespace has no default route, and a
	// connection to a global address fails at once for want of one.
	CheckNoDirectRoute = "no-direct-route"
	// CheckDenyOutsidePolicy: a CONNECT through the proxy, with the run's
	// token, to a destination the run's policy refuses gets moat's 403.
	CheckDenyOutsidePolicy = "deny-outside-policy"
	// CheckTokenOnly: the proxy answers 407 without the run's token and
	// with a wrong one.
	CheckTokenOnly = "token-only"
	// CheckGrantsLive: the proxy holds, for each of the run's grants it
	// injects, the very credential the CLI gave it (proved without
	// revealing it: GrantProof).
	CheckGrantsLive = "grants-live"
)

// AttestChecks are the checks, in the order they are reported.
var AttestChecks = []string{CheckNoDirectRoute, CheckDenyOutsidePolicy, CheckTokenOnly, CheckGrantsLive}

// AttestEnv is the variable of the agent's container that carries the
// attestation (Attestation.Encode) to the relay. moat-init passes it to
// the relay alone and unsets it before anything else starts: the nonce
// and the proofs never reach the agent.
const AttestEnv = "MOAT_ATTEST"

// AttestHost is the name under which the proxy answers the attestation's
// requests itself (plain HTTP, after the token check), never forwarding
// them. .invalid never resolves (RFC 6761), so no real host is shadowed.
const AttestHost = "attest.moat.invalid"

// The proxy's attestation endpoints, under AttestHost.
const (
	attestGrantsPath = "/v1/grants" // GET ?nonce=HEX: each grant's proof, once
	attestReportPath = "/v1/report" // POST the verdicts, once
)

// Attestation is what the CLI gives the relay to check the proxy against,
// as the value of AttestEnv.
type Attestation struct {
	Token string `json:"token"` // the run's proxy token
	// Nonce, fresh for the run, keys the grants' proofs: a proxy cannot
	// answer with proofs it saw in another run.
	Nonce string `json:"nonce"`
	// Deny is a destination ("host:port") the run's policy refuses
	// without DNS (DenyTarget); empty when it refuses none of the
	// candidates, and the deny check is then skipped.
	Deny string `json:"deny,omitempty"`
	// Proofs holds GrantProof of each grant the proxy injects, by name.
	Proofs map[string]string `json:"proofs,omitempty"`
}

// nonceBytes is the nonce's length before hex encoding.
const nonceBytes = 32

// PlanAttestation makes the attestation of the proxy cfg configures: a
// fresh nonce, the destination its policy refuses, and the proof of each
// grant it will inject, computed from the secrets cfg gives it.
func PlanAttestation(cfg *Config) (Attestation, error) {
	b := make([]byte, nonceBytes)
	if _, err := rand.Read(b); err != nil {
		return Attestation{}, fmt.Errorf("making the attestation's nonce: %w", err)
	}
	a := Attestation{Token: cfg.Token, Nonce: hex.EncodeToString(b)}
	pol, err := runPolicy(cfg)
	if err != nil {
		return Attestation{}, err
	}
	a.Deny = DenyTarget(pol)
	for _, g := range cfg.Grants {
		if injects(g) {
			if a.Proofs == nil {
				a.Proofs = map[string]string{}
			}
			a.Proofs[g.Grant.Name] = GrantProof(g.Secret, a.Nonce)
		}
	}
	return a, nil
}

// runPolicy is the policy the proxy of cfg enforces: the network section
// and each grant's hosts.
func runPolicy(cfg *Config) (*policy.Policy, error) {
	pol, err := cfg.Policy.decode()
	if err != nil {
		return nil, err
	}
	for _, g := range cfg.Grants {
		if err := pol.AddGrantHosts(g.Grant.Name, g.Grant.EffectiveHosts()); err != nil {
			return nil, err
		}
	}
	if err := allowSSHHosts(pol, cfg.SSH); err != nil {
		return nil, err
	}
	return pol, nil
}

// injects reports whether the proxy puts g's credential on requests (see
// newCredentials): the grants whose proofs the attestation checks.
func injects(g GrantSecret) bool {
	_, ok := g.Grant.RequestApplier()
	return ok && len(g.Secret) > 0
}

// denyCandidates are destinations a policy refuses before any DNS lookup
// unless it names them: the cloud metadata address (private in every
// mode), a documentation address (likewise), and a name under .invalid
// (refused under strict; under permissive it would be looked up).
var denyCandidates = []string{"169.254.169.254:80", "192.0.2.1:443", AttestHost + ":443"}

// DenyTarget returns the first candidate pol refuses without DNS, or ""
// if it allows them all (IP rules covering both addresses under
// permissive). The CLI and the proxy both call it on the same policy: the
// proxy knows the relay's probe (attestEndpoint.ownProbe).
func DenyTarget(pol *policy.Policy) string {
	for _, c := range denyCandidates {
		host, port, _ := net.SplitHostPort(c)
		n, _ := strconv.Atoi(port)
		if !pol.CheckHost(host, n).Allowed {
			return c
		}
	}
	return ""
}

// GrantProof is HMAC-SHA256 of secret under the nonce, in hex: it tells
// that its maker holds secret without revealing it, and is worthless for
// any other nonce.
func GrantProof(secret []byte, nonce string) string {
	m := hmac.New(sha256.New, []byte(nonce))
	m.Write(secret)
	return hex.EncodeToString(m.Sum(nil))
}

// Encode is a's value for AttestEnv.
func (a Attestation) Encode() string {
	b, _ := json.Marshal(a) // strings and a map of strings: it cannot fail
	return string(b)
}

// maxAttestationSize bounds ParseAttestation's input: a run has a handful
// of grants.
const maxAttestationSize = 64 << 10

// ParseAttestation reads AttestEnv's value.
func ParseAttestation(s string) (Attestation, error) {
	if s == "" {
		return Attestation{}, fmt.Errorf("%s is not set: moat and the relay (moat-sidecar) are from different builds", AttestEnv)
	}
	if len(s) > maxAttestationSize {
		return Attestation{}, fmt.Errorf("%s is longer than %d bytes", AttestEnv, maxAttestationSize)
	}
	var a Attestation
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return Attestation{}, fmt.Errorf("reading %s: %w", AttestEnv, err)
	}
	if a.Token == "" || len(a.Nonce) != 2*nonceBytes {
		return Attestation{}, fmt.Errorf("reading %s: a token and a %d-byte nonce are required", AttestEnv, nonceBytes)
	}
	if _, err := hex.DecodeString(a.Nonce); err != nil {
		return Attestation{}, fmt.Errorf("reading %s: the nonce is not hex", AttestEnv)
	}
	if a.Deny != "" {
		if _, _, err := net.SplitHostPort(a.Deny); err != nil {
			return Attestation{}, fmt.Errorf("reading %s: deny target %q: %w", AttestEnv, a.Deny, err)
		}
	}
	for name, p := range a.Proofs {
		if b, err := hex.DecodeString(p); err != nil || len(b) != sha256.Size {
			return Attestation{}, fmt.Errorf("reading %s: grant %q: the proof is not a hex SHA-256 HMAC", AttestEnv, name)
		}
	}
	return a, nil
}
