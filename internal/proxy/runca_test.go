package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runCA makes a run's CA from the user's and loads it as the proxy does,
// from the PEM it receives on stdin.
func runCA(t *testing.T, user *CA) *CA {
	t.Helper()
	certPEM, keyPEM, err := user.NewRunCA("abc123", testNow, RunCAValidity)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := LoadRunCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// verifyChain verifies a leaf as a client does: trusting only the user's
// root, with the intermediates the proxy sends.
func verifyChain(t *testing.T, user *CA, chain [][]byte, name string, at time.Time) error {
	t.Helper()
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	for _, der := range chain[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		inter.AddCert(c)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: caPool(user), Intermediates: inter, DNSName: name,
		CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

// TestRunCAChainsToTheUserRoot: the proxy holds only a run's CA, which the
// user's root certifies for a day; its leaves verify under the root alone
// (the proxy sends the run CA along), and not after the run CA expires.
func TestRunCAChainsToTheUserRoot(t *testing.T) {
	t.Parallel()
	user, _ := newTestCA(t)
	rca := runCA(t, user)
	cert, err := NewLeaves(rca, fixedNow).For("example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Certificate) != 2 {
		t.Fatalf("the proxy sends %d certificates, want the leaf and the run CA", len(cert.Certificate))
	}
	if err := verifyChain(t, user, cert.Certificate, "example.com", testNow); err != nil {
		t.Fatalf("root -> run CA -> leaf: %v", err)
	}
	if err := verifyChain(t, user, cert.Certificate[:1], "example.com", testNow); err == nil {
		t.Fatal("the leaf verified without the run CA: it is not signed by it")
	}
	inter, _ := x509.ParseCertificate(cert.Certificate[1])
	if got := inter.NotAfter.Sub(testNow); got != RunCAValidity {
		t.Fatalf("the run CA is valid for %v from now, want %v", got, RunCAValidity)
	}
	if !inter.IsCA || !inter.MaxPathLenZero || inter.MaxPathLen != 0 {
		t.Fatalf("run CA: IsCA %v, path length %d (zero %v); want a CA that signs leaves only", inter.IsCA, inter.MaxPathLen, inter.MaxPathLenZero)
	}
	if !cert.Leaf.NotAfter.Equal(inter.NotAfter) {
		t.Fatalf("leaf valid until %v, want no later than the run CA (%v)", cert.Leaf.NotAfter, inter.NotAfter)
	}
	if err := verifyChain(t, user, cert.Certificate, "example.com", testNow.Add(RunCAValidity+time.Minute)); err == nil {
		t.Fatal("the chain verified after the run CA expired")
	}
	// A CA the run CA signed is not trusted: path length 0.
	subKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sub := &x509.Certificate{SerialNumber: inter.SerialNumber, Subject: pkix.Name{CommonName: "sub"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	subDER, err := x509.CreateCertificate(rand.Reader, sub, rca.cert, subKey.Public(), rca.key)
	if err != nil {
		t.Fatal(err)
	}
	subCert, _ := x509.ParseCertificate(subDER)
	leafDER, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: inter.SerialNumber,
		DNSNames: []string{"x.test"}, NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, subCert, subKey.Public(), subKey)
	if err := verifyChain(t, user, [][]byte{leafDER, subDER, cert.Certificate[1]}, "x.test", testNow); err == nil {
		t.Fatal("a CA signed by the run CA was trusted")
	}
}

// TestRunCAFromAnOldRoot: a CA made before run CAs existed could sign
// leaves only (path length 0); loading it re-issues its certificate, same
// key and name, so that a run CA below it verifies.
func TestRunCAFromAnOldRoot(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "proxy")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: testSerial(t), Subject: pkix.Name{CommonName: "old moat CA"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.AddDate(5, 0, 0), BasicConstraintsValid: true, IsCA: true,
		MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, caKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	os.WriteFile(filepath.Join(dir, caCertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	user, err := LoadOrCreateCA(dir, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(user.cert.Subject.CommonName, "old moat CA") || !user.cert.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Fatalf("re-issued CA %q: want the old name and key", user.cert.Subject.CommonName)
	}
	cert, err := NewLeaves(runCA(t, user), fixedNow).For("example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyChain(t, user, cert.Certificate, "example.com", testNow); err != nil {
		t.Fatalf("root -> run CA -> leaf under a re-issued old root: %v", err)
	}
}

func testSerial(t *testing.T) *big.Int {
	t.Helper()
	s, err := randomSerial()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
