package audit

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// A run's proxy signs its checkpoints with a key of its own, made for the
// run and never written to disk, so that whoever takes the proxy over
// holds nothing that signs another run's log. The user's key certifies
// it with a KindRunKey entry in the run's log (before the run key signs
// anything), and signs the final checkpoint once the proxy has stopped:
//
//	user key ──certifies──▶ run key ──signs──▶ checkpoints during the run
//	user key ──signs──────▶ the final checkpoint
//
// Verify follows that chain: a checkpoint signed by a key the log did not
// certify before it, a run key's final checkpoint, or a run key's
// checkpoint after the final one is tampering. Logs written before run
// keys existed (every checkpoint the user's) verify as they did.

// KindRunKey certifies the run's key: data "run_id", "public_key"
// (base64), "created" (RFC 3339), "signer" (the user key's fingerprint)
// and "sig", the user key's signature over the first three.
const KindRunKey = "audit.run-key"

// CertifyRunKey returns the entry in which user certifies pub as run
// runID's key.
func CertifyRunKey(user ed25519.PrivateKey, runID string, pub ed25519.PublicKey, now time.Time) Event {
	created := now.UTC().Format(time.RFC3339)
	sig := ed25519.Sign(user, runKeyMessage(runID, pub, created))
	return Event{Kind: KindRunKey, Data: map[string]string{
		"run_id": runID, "public_key": base64.StdEncoding.EncodeToString(pub), "created": created,
		"signer": Fingerprint(user.Public().(ed25519.PublicKey)), "sig": base64.StdEncoding.EncodeToString(sig),
	}}
}

// runKeyMessage is what a run key certificate's signature covers.
func runKeyMessage(runID string, pub ed25519.PublicKey, created string) []byte {
	return fmt.Appendf(nil, "moat-audit-run-key-v1\x00%s\x00%x\x00%s", runID, []byte(pub), created)
}

// checkRunKeyCert checks a KindRunKey entry's data against the run and
// the user's key, and returns the run key it certifies.
func checkRunKeyCert(data map[string]string, runID string, user ed25519.PublicKey) error {
	_, err := certifiedKey(data, runID, user)
	return err
}

func certifiedKey(data map[string]string, runID string, user ed25519.PublicKey) (ed25519.PublicKey, error) {
	pub, perr := base64.StdEncoding.DecodeString(data["public_key"])
	sig, serr := base64.StdEncoding.DecodeString(data["sig"])
	switch {
	case data["run_id"] != runID:
		return nil, fmt.Errorf("run key certificate is for run %q, not this run", data["run_id"])
	case perr != nil || len(pub) != ed25519.PublicKeySize:
		return nil, errors.New("run key certificate holds no Ed25519 public key")
	case serr != nil || !ed25519.Verify(user, runKeyMessage(runID, pub, data["created"]), sig):
		return nil, fmt.Errorf("run key certificate is not signed by the expected key %s", Fingerprint(user))
	}
	return ed25519.PublicKey(pub), nil
}
