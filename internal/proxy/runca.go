package proxy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// RunCAValidity is how long a run's CA is valid: a run's proxy holds only
// that CA's key, never the user's, so a proxy taken over yields a key that
// mints certificates the user's root accepts for a day at most.
const RunCAValidity = 24 * time.Hour

// NewRunCA makes a CA for one run: a fresh ECDSA P-256 key and a
// certificate the user's CA c signs, valid from an hour ago for validity
// (no later than c), for server certificates only, and with path length 0
// (it signs leaves, never another CA). It returns both PEM-encoded, for
// the proxy's stdin; neither is written to disk.
func (c *CA) NewRunCA(runID string, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the run's CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "moat run " + runID, Organization: []string{"moat"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              minTime(now.Add(validity), c.cert.NotAfter),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the run's CA: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the run's CA key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// LoadRunCA reads a run's CA from NewRunCA's output. Its leaves carry its
// certificate after theirs, so that clients trusting the user's root
// alone can build the chain.
func LoadRunCA(certPEM, keyPEM []byte) (*CA, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("loading the run's CA: no CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("loading the run's CA: %w", err)
	}
	key, err := parseKey("the run's CA key", keyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) || !cert.IsCA {
		return nil, errors.New("loading the run's CA: the certificate is not a CA certificate for the key")
	}
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(block), chain: [][]byte{cert.Raw}}, nil
}
