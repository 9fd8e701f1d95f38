package proxy

import (
	"github.com/moatsh/moat/internal/fsutil"

	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// The CA's files in its directory.
const (
	caCertFile = "ca.pem"     // mode 0644: every run installs it in a container
	caKeyFile  = "ca-key.pem" // mode 0600: readable only by the user
)

const (
	caValidityYears = 10
	backdate        = time.Hour // tolerate clocks behind the host's
)

// CA signs leaf certificates for intercepted hosts. There is one per user,
// kept on disk by LoadOrCreateCA; it is safe for concurrent use.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte // cert, PEM-encoded, as in ca.pem
	// chain is sent after each leaf: a run's CA certificate, so that
	// clients trusting only the user's root build the path to it.
	chain [][]byte
}

// LoadOrCreateCA loads the CA kept in dir (for example ~/.moat/proxy),
// creating it on first use: an ECDSA P-256 key in ca-key.pem (0600) and a
// self-signed CA certificate valid for ten years in ca.pem (0644). Each
// file is published whole and only if absent, so processes creating the CA
// at once end with one: the losers load the winner's files. A key readable
// by group or others is refused, with a Hint to chmod it. A nil now means
// time.Now.
func LoadOrCreateCA(dir string, now func() time.Time) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the moat CA directory: %w", err)
	}
	key, err := loadOrCreateKey(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, err
	}
	ca, err := loadOrCreateCert(filepath.Join(dir, caCertFile), key, now)
	if err != nil {
		return nil, err
	}
	if !now().Before(ca.cert.NotAfter) {
		return nil, withHint(fmt.Errorf("loading the moat CA: it expired on %s", ca.cert.NotAfter.Format(time.DateOnly)), removeHint(dir))
	}
	return ca, nil
}

// CertPEM returns the CA certificate, PEM-encoded: what a container trusts.
func (c *CA) CertPEM() []byte { return append([]byte(nil), c.pem...) }

// Fingerprint returns the SHA-256 of the CA certificate as colon-separated
// upper-case hex, as printed by 'openssl x509 -noout -fingerprint -sha256'.
func (c *CA) Fingerprint() string {
	sum := sha256.Sum256(c.cert.Raw)
	hex := make([]string, len(sum))
	for i, b := range sum {
		hex[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(hex, ":")
}

func loadOrCreateKey(path string) (crypto.Signer, error) {
	key, err := readKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the moat CA key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encoding the moat CA key: %w", err)
	}
	err = fsutil.Publish(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return readKey(path) // another process created it first
	case err != nil:
		return nil, fmt.Errorf("creating the moat CA key: %w", err)
	}
	return priv, nil
}

// readKey reads the CA key, refusing it if others can read it. Its error
// wraps fs.ErrNotExist when there is no key yet.
func readKey(path string) (crypto.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the moat CA key: %w", err)
	}
	defer f.Close()
	if err := checkPrivate(f); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading the moat CA key: %w", err)
	}
	return parseKey(path, data)
}

func checkPrivate(f *os.File) error {
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading the moat CA key: %w", err)
	}
	if runtime.GOOS == "windows" || info.Mode().Perm()&0o077 == 0 {
		return nil
	}
	err = fmt.Errorf("loading the moat CA: key %s is readable by other users (mode %#o)", f.Name(), info.Mode().Perm())
	return withHint(err, fmt.Sprintf("Run 'chmod 600 %s' to make it readable only by you.", f.Name()))
}

func parseKey(path string, data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, damaged(path, errors.New("no PRIVATE KEY block"))
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, damaged(path, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, damaged(path, fmt.Errorf("a %T cannot sign", k))
	}
	return signer, nil
}

func loadOrCreateCert(path string, key crypto.Signer, now func() time.Time) (*CA, error) {
	ca, err := readCert(path, key)
	if err == nil && ca.cert.MaxPathLen == 0 && ca.cert.MaxPathLenZero {
		return reissue(path, ca)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return ca, err
	}
	der, err := createCACert(key, now())
	if err != nil {
		return nil, fmt.Errorf("creating the moat CA certificate: %w", err)
	}
	err = fsutil.Publish(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("creating the moat CA certificate: %w", err)
	}
	return readCert(path, key) // ours, or that of a process that was first
}

// readCert reads the CA certificate and checks that key is its key. Its
// error wraps fs.ErrNotExist when there is no certificate yet.
func readCert(path string, key crypto.Signer) (*CA, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the moat CA certificate: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, damaged(path, errors.New("no CERTIFICATE block"))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, damaged(path, err)
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) || !cert.IsCA {
		return nil, damaged(path, fmt.Errorf("it is not a CA certificate for %s", caKeyFile))
	}
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(block)}, nil
}

func createCACert(key crypto.Signer, now time.Time) ([]byte, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caName(), Organization: []string{"moat"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.AddDate(caValidityYears, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1, // signs run CAs, which sign leaves
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
}

// reissue replaces a CA certificate made before run CAs existed, whose
// path length 0 forbids a CA below it, with one for the same key, name
// and validity that allows one level: run CAs. Clients given the old
// certificate keep trusting leaves signed directly by the key; those
// given the new one (every run from now on) trust the run CAs too.
func reissue(path string, old *CA) (*CA, error) {
	tmpl := *old.cert
	tmpl.MaxPathLen, tmpl.MaxPathLenZero = 1, false
	tmpl.KeyUsage |= x509.KeyUsageCertSign
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial // a new certificate never reuses a serial
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, old.key.Public(), old.key)
	if err != nil {
		return nil, fmt.Errorf("re-issuing the moat CA certificate: %w", err)
	}
	if err := fsutil.WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, fmt.Errorf("re-issuing the moat CA certificate: %w", err)
	}
	return readCert(path, old.key)
}

// caName is the CA's common name: "moat local CA (user@host)".
func caName() string {
	name, host := "unknown", "localhost"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		host = h
	}
	return fmt.Sprintf("moat local CA (%s@%s)", name, host)
}

// randomSerial returns a random positive 128-bit serial number.
func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}

func damaged(path string, why error) error {
	err := fmt.Errorf("loading the moat CA: %s is damaged: %w", path, why)
	return withHint(err, removeHint(filepath.Dir(path)))
}

func removeHint(dir string) string {
	return fmt.Sprintf("Run 'rm %s %s' to create a new CA; running agents must be restarted to trust it.",
		filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile))
}

// hintError is an error with a remedy for the user, printed after it.
type hintError struct {
	err  error
	hint string
}

func withHint(err error, hint string) error { return &hintError{err: err, hint: hint} }

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// Hint says what the user can do about the error.
func (e *hintError) Hint() string { return e.hint }
