package proxy

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// newTestCA creates a CA in a fresh directory.
func newTestCA(t testing.TB) (*CA, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "proxy")
	ca, err := LoadOrCreateCA(dir, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	return ca, dir
}

func TestLoadOrCreateCACreatesOnce(t *testing.T) {
	t.Parallel()
	ca, dir := newTestCA(t)
	for file, want := range map[string]os.FileMode{caCertFile: 0o644, caKeyFile: 0o600} {
		info, err := os.Stat(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: got mode %#o, want %#o", file, got, want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("got %d files in %s, want 2 (no temporary files left)", len(entries), dir)
	}
	again, err := LoadOrCreateCA(dir, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.CertPEM(), ca.CertPEM()) || again.Fingerprint() != ca.Fingerprint() {
		t.Fatalf("reload gave another CA: got %s, want %s", again.Fingerprint(), ca.Fingerprint())
	}
	onDisk, _ := os.ReadFile(filepath.Join(dir, caCertFile))
	if !bytes.Equal(onDisk, ca.CertPEM()) {
		t.Fatalf("CertPEM differs from %s", caCertFile)
	}
}

func TestCACertificate(t *testing.T) {
	t.Parallel()
	ca, _ := newTestCA(t)
	block, _ := pem.Decode(ca.CertPEM())
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"BasicConstraints CA:true", cert.BasicConstraintsValid && cert.IsCA},
		{"KeyUsage CertSign", cert.KeyUsage&x509.KeyUsageCertSign != 0},
		{"ECDSA P-256", cert.PublicKeyAlgorithm == x509.ECDSA && cert.SignatureAlgorithm == x509.ECDSAWithSHA256},
		{"name", strings.HasPrefix(cert.Subject.CommonName, "moat local CA (") && strings.Contains(cert.Subject.CommonName, "@")},
		{"self-signed", cert.CheckSignatureFrom(cert) == nil},
		{"10-year validity", cert.NotAfter.Equal(testNow.AddDate(10, 0, 0))},
		{"backdated", cert.NotBefore.Equal(testNow.Add(-time.Hour))},
		{"subject key id", len(cert.SubjectKeyId) > 0},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("CA certificate: %s does not hold (subject %q)", c.what, cert.Subject)
		}
	}
	if fp := ca.Fingerprint(); len(fp) != 32*3-1 || strings.ToUpper(fp) != fp {
		t.Errorf("got fingerprint %q, want 32 upper-case hex bytes joined by colons", fp)
	}
}

func TestLoadOrCreateCARefusesReadableKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode    os.FileMode
		refused bool
	}{
		{0o600, false},
		{0o400, false},
		{0o640, true},
		{0o604, true},
		{0o644, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%#o", tt.mode), func(t *testing.T) {
			t.Parallel()
			_, dir := newTestCA(t)
			keyPath := filepath.Join(dir, caKeyFile)
			if err := os.Chmod(keyPath, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateCA(dir, fixedNow)
			if (err != nil) != tt.refused {
				t.Fatalf("got error %v, want refused %v", err, tt.refused)
			}
			if !tt.refused {
				return
			}
			var h interface{ Hint() string }
			if !errors.As(err, &h) || !strings.Contains(h.Hint(), "chmod 600 "+keyPath) {
				t.Fatalf("got %v, want a Hint() with 'chmod 600 %s'", err, keyPath)
			}
		})
	}
}

func TestLoadOrCreateCARefusesDamagedFiles(t *testing.T) {
	t.Parallel()
	other, _ := newTestCA(t)
	tests := []struct {
		name string
		file string
		data []byte
	}{
		{"garbage key", caKeyFile, []byte("not a key")},
		{"garbage cert", caCertFile, []byte("not a cert")},
		{"cert for another key", caCertFile, other.CertPEM()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, dir := newTestCA(t)
			if err := os.WriteFile(filepath.Join(dir, tt.file), tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateCA(dir, fixedNow)
			var h interface{ Hint() string }
			if !errors.As(err, &h) || !strings.Contains(err.Error(), "damaged") || !strings.Contains(h.Hint(), "rm ") {
				t.Fatalf("got %v, want a damaged-file error with an rm hint", err)
			}
		})
	}
}

func TestLoadOrCreateCARefusesExpiredCA(t *testing.T) {
	t.Parallel()
	_, dir := newTestCA(t)
	later := func() time.Time { return testNow.AddDate(11, 0, 0) }
	if _, err := LoadOrCreateCA(dir, later); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("got %v, want an expired-CA error", err)
	}
}

func TestLoadOrCreateCAConcurrentGoroutines(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "proxy")
	const n = 16
	fps := make([]string, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			ca, err := LoadOrCreateCA(dir, nil)
			if err != nil {
				t.Error(err)
				return
			}
			fps[i] = ca.Fingerprint()
		})
	}
	close(start)
	wg.Wait()
	checkOneCA(t, dir, fps)
}

// The helper process: with helperCADir set, the test binary loads or
// creates the CA there and prints its fingerprint.
const helperCADir = "MOAT_PROXY_HELPER_CADIR"

func TestHelperCreateCA(t *testing.T) {
	dir := os.Getenv(helperCADir)
	if dir == "" {
		t.Skip("runs only as a child process of TestLoadOrCreateCAConcurrentProcesses")
	}
	ca, err := LoadOrCreateCA(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("fingerprint", ca.Fingerprint())
}

func TestLoadOrCreateCAConcurrentProcesses(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "proxy")
	const n = 4
	outs := make([]bytes.Buffer, n)
	var cmds []*exec.Cmd
	for i := range n {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCreateCA$", "-test.v")
		cmd.Env = append(os.Environ(), helperCADir+"="+dir)
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	var fps []string
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i].String())
		}
		fps = append(fps, helperFingerprint(t, outs[i].String()))
	}
	checkOneCA(t, dir, fps)
}

func helperFingerprint(t *testing.T, out string) string {
	t.Helper()
	for line := range strings.Lines(out) {
		if fp, ok := strings.CutPrefix(line, "fingerprint "); ok {
			return strings.TrimSpace(fp)
		}
	}
	t.Fatalf("no fingerprint in helper output:\n%s", out)
	return ""
}

// checkOneCA checks that every fingerprint is that of the CA left in dir.
func checkOneCA(t *testing.T, dir string, fps []string) {
	t.Helper()
	ca, err := LoadOrCreateCA(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, fp := range fps {
		if fp != ca.Fingerprint() {
			t.Errorf("creator %d: got CA %s, want %s", i, fp, ca.Fingerprint())
		}
	}
}
