package audit

import (
	"bufio"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"time"
)

// BundleFormat names the bundle layout.
const BundleFormat = "moat-audit-bundle-v1"

// Bundle is a self-contained copy of a run's audit log: entries (their
// checkpoints included) and the public key that signed them, to be
// verified on another machine.
type Bundle struct {
	Format    string    `json:"format"`
	RunID     string    `json:"run_id"`
	PublicKey string    `json:"public_key"` // base64 Ed25519 public key
	Exported  time.Time `json:"exported"`
	Entries   []Entry   `json:"entries"`
}

// NewBundle reads a log file's complete entries into a bundle. A partial
// last line (a torn tail) is left out; verification of the bundle then
// reports the log as not closed.
func NewBundle(r io.Reader, runID string, pub ed25519.PublicKey, now time.Time) (Bundle, error) {
	b := Bundle{Format: BundleFormat, RunID: runID, PublicKey: base64.StdEncoding.EncodeToString(pub), Exported: now.UTC()}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	for sc.Scan() {
		e, err := decodeEntry(sc.Bytes())
		if err != nil {
			return b, fmt.Errorf("exporting entry %d: %w (run 'moat audit' first: the log is damaged)", len(b.Entries)+1, err)
		}
		b.Entries = append(b.Entries, e)
	}
	return b, sc.Err()
}

// Verify checks the bundle's chain and signatures against its own key.
// Report.KeyFingerprint names that key, to compare with the one you trust.
func (b Bundle) Verify() (Report, error) {
	if b.Format != BundleFormat {
		return Report{}, fmt.Errorf("not a moat audit bundle (format %q, want %q)", b.Format, BundleFormat)
	}
	pub, err := base64.StdEncoding.DecodeString(b.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return Report{}, fmt.Errorf("the bundle's public key is not an Ed25519 key")
	}
	return VerifyEntries(b.Entries, b.RunID, ed25519.PublicKey(pub)), nil
}
