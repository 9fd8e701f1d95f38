package sshwatch

import (
	"bytes"
	"crypto/rand"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestOpenSSHHostKeys runs the real ssh client through a watched tunnel to
// the real sshd, with key exchange methods and host key types forced with
// -o: each method with an ed25519 host key, and each host key type with
// a method of each message layout (31 for the reply, 31 then 33 for group
// exchange). The watcher reports the host key sshd's .pub file holds, the
// registry confirms it while the tunnel is open, and not after; and a
// session's bytes pass unchanged.
func TestOpenSSHHostKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startSSHD(t, dir)
	kexes := []string{"curve25519-sha256", "ecdh-sha2-nistp256", "diffie-hellman-group14-sha256",
		"diffie-hellman-group-exchange-sha256", "sntrup761x25519-sha512@openssh.com"}
	if slices.Contains(sshQuery(t, "kex"), "mlkem768x25519-sha256") {
		kexes = append(kexes, "mlkem768x25519-sha256") // OpenSSH 9.9 and later
	}
	type hostKeyAlg struct{ name, keyType string } // -o HostKeyAlgorithms, and the key's type
	ed25519 := hostKeyAlg{"ssh-ed25519", ssh.KeyAlgoED25519}
	others := []hostKeyAlg{{"ecdsa-sha2-nistp256", ssh.KeyAlgoECDSA256}, {"rsa-sha2-512", ssh.KeyAlgoRSA}}
	type combination struct {
		kex string
		alg hostKeyAlg
	}
	var runs []combination
	for _, kex := range kexes {
		runs = append(runs, combination{kex, ed25519})
	}
	for _, alg := range others {
		runs = append(runs, combination{"curve25519-sha256", alg}, combination{"diffie-hellman-group-exchange-sha256", alg})
	}
	for _, c := range runs {
		t.Run(c.kex+"/"+c.alg.name, func(t *testing.T) {
			t.Parallel()
			f := newForwarder(t, s.addr)
			// The host key comes before authentication: ssh asks for none
			// (a login costs seconds on a loaded machine) and is refused.
			_, err := runSSH(t, s, f, nil, "true", "KexAlgorithms="+c.kex, "HostKeyAlgorithms="+c.alg.name, "PreferredAuthentications=none")
			if err == nil || !strings.Contains(err.Error(), "Permission denied (publickey)") {
				t.Fatalf("ssh: %v, want permission denied after the key exchange\nsshd's log:\n%s", err, s.log)
			}
			checkOneHostKey(t, f, s.addr, s.hostKeys[c.alg.keyType])
		})
	}
	t.Run("bytes pass unchanged", func(t *testing.T) {
		// Past the watch, the copies splice: what the client sends must
		// come back from cat.
		t.Parallel()
		data := make([]byte, 1<<20)
		rand.Read(data)
		f := newForwarder(t, s.addr)
		out, err := runSSH(t, s, f, data, "cat")
		if err != nil {
			t.Fatalf("ssh: %v\nsshd's log:\n%s", err, s.log)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("got %d bytes back through the tunnel, want the %d sent", len(out), len(data))
		}
		checkOneHostKey(t, f, s.addr, s.hostKeys[ssh.KeyAlgoED25519])
	})
}

// checkOneHostKey closes the forwarder and checks that its one tunnel
// reported want for addr, confirmed then, and that Confirm says no now.
func checkOneHostKey(t *testing.T, f *forwarder, addr string, want ssh.PublicKey) {
	t.Helper()
	results := f.closed()
	if len(results) != 1 {
		t.Fatalf("got %d reports, want one: %+v", len(results), results)
	}
	r := results[0]
	if r.err != nil || r.key == nil || !bytes.Equal(r.key.Marshal(), want.Marshal()) {
		t.Fatalf("the watcher reported key %v, error %v; want the host key %s", fingerprint(r.key), r.err, fingerprint(want))
	}
	if r.addr != addr || r.confirmed != nil {
		t.Fatalf("reported for %q, and Confirm said %v while the tunnel was open; want %q, confirmed", r.addr, r.confirmed, addr)
	}
	if err := f.reg.Confirm(addr, want); err == nil || !strings.Contains(err.Error(), "no open SSH tunnel") {
		t.Fatalf("Confirm after the tunnel closed: %v, want no open tunnel", err)
	}
}

func fingerprint(k ssh.PublicKey) string {
	if k == nil {
		return "none"
	}
	return ssh.FingerprintSHA256(k)
}

// sshQuery lists what ssh -Q prints for what.
func sshQuery(t *testing.T, what string) []string {
	t.Helper()
	out, err := exec.Command(needOpenSSH(t, "ssh"), "-Q", what).Output()
	if err != nil {
		t.Fatalf("ssh -Q %s: %v", what, err)
	}
	return strings.Fields(string(out))
}
