package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/moatsh/moat/internal/fsutil"
)

// Key file names under the key directory.
const (
	privateKeyFile = "audit-ed25519.pem"
	publicKeyFile  = "audit-ed25519.pub"
)

// LoadOrCreateKey returns the user's signing key from dir, creating it on
// first use. The private key file is readable by the user only.
func LoadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, privateKeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return createKey(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the audit signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "MOAT AUDIT ED25519 SEED" || len(block.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("the audit signing key %s is damaged", path)
	}
	return ed25519.NewKeyFromSeed(block.Bytes), nil
}

func createKey(dir string) (ed25519.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	seed := pem.EncodeToMemory(&pem.Block{Type: "MOAT AUDIT ED25519 SEED", Bytes: priv.Seed()})
	err = fsutil.Publish(filepath.Join(dir, privateKeyFile), seed, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreateKey(dir) // another process made it first
	}
	if err != nil {
		return nil, fmt.Errorf("creating the audit signing key: %w", err)
	}
	pubText := base64.StdEncoding.EncodeToString(pub) + "\n"
	return priv, os.WriteFile(filepath.Join(dir, publicKeyFile), []byte(pubText), 0o644)
}

// Fingerprint names a public key: "SHA256:" and the base64 of its hash.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// checkpointMessage is what a checkpoint's signature covers.
func checkpointMessage(runID string, covers uint64, head string, final bool) []byte {
	return fmt.Appendf(nil, "moat-audit-checkpoint-v1\x00%s\x00%d\x00%s\x00%t", runID, covers, head, final)
}

// LoadPublicKey reads the user's public key from dir without creating one.
func LoadPublicKey(dir string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(filepath.Join(dir, publicKeyFile))
	if err != nil {
		return nil, fmt.Errorf("reading the audit public key: %w", err)
	}
	pub, err := base64.StdEncoding.DecodeString(string(bytesTrimSpace(data)))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("the audit public key in %s is damaged", dir)
	}
	return ed25519.PublicKey(pub), nil
}

func bytesTrimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
