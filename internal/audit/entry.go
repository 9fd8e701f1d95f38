// Package audit owns moat's tamper-evident run log: an append-only chain
// of entries, each carrying the hash of the one before, with Ed25519-signed
// checkpoints over the chain head; verification that names the first entry
// that fails and why; and self-contained bundles for offline checks.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Entry is one record in a run's audit log.
type Entry struct {
	Seq  uint64            `json:"seq"`
	Time time.Time         `json:"time"`
	Kind string            `json:"kind"`
	Data map[string]string `json:"data,omitempty"`
	Prev string            `json:"prev"` // hash of the previous entry; Genesis for the first
	Hash string            `json:"hash"` // ComputeHash of this entry
}

// Event kinds moat records.
const (
	KindRunCreated       = "run.created"
	KindContainerCreated = "container.created"
	KindContainerStarted = "container.started"
	KindContainerStopped = "container.stopped"
	KindContainerExited  = "container.exited"
	KindLogsSaved        = "logs.saved"
	KindRunFinished      = "run.finished"
	KindCheckpoint       = "checkpoint"
	KindTornTail         = "audit.torn-tail" // a crash left a partial entry, dropped here
	KindLogTruncated     = "log.truncated"   // the log reached its cap; request events were dropped (counts in data)
	// KindExec is a command the user started in the running run's
	// container ('moat exec'): data "command", "tty", "interactive".
	KindExec = "exec"

	// Written by the run's proxy, one per request (see NetKeys).
	KindNetRequest = "net.request" // a request the policy allowed (forwarded, or failed upstream)
	KindNetDenied  = "net.denied"  // a request or CONNECT the policy refused
	// KindCredentialInjected precedes the net.request whose headers a
	// grant replaced: data "grant", "host", "method", "path"; never a value.
	KindCredentialInjected = "credential.injected"
	// KindSSHSign is the run's SSH agent signing, or refusing to sign,
	// with an ssh grant's key (data: grant, host, key, host_key, verdict,
	// reason, detail).
	KindSSHSign = "ssh.sign"

	// Sidecars: the run's proxy (and later others), with their privileges.
	KindSidecarCreated = "sidecar.created"
	KindSidecarReady   = "sidecar.ready"
	KindSidecarRemoved = "sidecar.removed"

	// KindEgressAttested is the start-time attestation of the run's
	// egress (docs/egress.md#attestation), written once by the proxy from
	// the relay's report, before the agent's command starts. See the
	// Attest keys.
	KindEgressAttested = "egress.attested"
)

// Data keys of egress.attested entries.
const (
	AttestResult      = "result"      // AttestPassed or AttestFailed
	AttestDurationUS  = "duration_us" // how long the checks took, microseconds
	AttestFailedCheck = "failed"      // the first check that failed
	AttestReason      = "reason"      // why it failed
	// AttestCheckPrefix and a check's name key its verdict: "pass",
	// "skipped: WHY" or "fail: WHY".
	AttestCheckPrefix = "check."
)

// Values of AttestResult.
const (
	AttestPassed = "passed"
	AttestFailed = "failed"
)

// Data keys of net.request and net.denied entries, which 'moat trace'
// reads back. Numbers are decimal strings.
const (
	NetTime       = "time"        // when the request arrived, RFC 3339 with nanoseconds
	NetMethod     = "method"      // GET, POST, CONNECT, ...
	NetScheme     = "scheme"      // http, https (intercepted) or tunnel (blind CONNECT)
	NetHost       = "host"        // host, with the port when not the scheme's default
	NetPath       = "path"        // URL path without the query
	NetStatus     = "status"      // status sent to the agent; 0 if none
	NetDurationUS = "duration_us" // until the response or tunnel ended, microseconds
	NetBytesIn    = "bytes_in"    // body bytes from upstream to the agent
	NetBytesOut   = "bytes_out"   // body bytes from the agent to upstream
	NetGrant      = "grant"       // grant whose credential was injected; "" if none
	NetDecision   = "decision"    // "allow" or "deny: <rule>"
	NetError      = "error"       // what went wrong forwarding; "" if nothing
)

// hashDomain separates this encoding from any other use of SHA-256.
const hashDomain = "moat-audit-entry-v1"

// Genesis is the Prev of a run's first entry: it binds the chain to the
// run, so a log moved under another run does not verify.
func Genesis(runID string) string {
	sum := sha256.Sum256([]byte("moat-audit-genesis-v1\x00" + runID))
	return hex.EncodeToString(sum[:])
}

// ComputeHash is SHA-256 over a domain tag and the entry's canonical line
// up to (not including) its hash field. The line layout is fixed (see
// codec.go), so the verifier hashes the bytes it reads, and any edit to a
// line, however JSON would read it, changes the hash.
func ComputeHash(e Entry) string {
	return hashBody(appendBody(nil, e))
}

func hashBody(body []byte) string {
	h := sha256.New()
	h.Write([]byte(hashDomain + "\x00"))
	h.Write(body)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}
