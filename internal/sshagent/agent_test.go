package sshagent

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"slices"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// outcome renders an event as the tests compare it.
func outcome(e Event) string {
	if e.Verdict == Signed {
		return "signed"
	}
	return "refused: " + e.Reason
}

// TestSignRequiresABoundGrantedConfirmedSession drives the agent as a
// client would, over the agent protocol, and checks which requests get a
// signature and what the audit log says about the others.
func TestSignRequiresABoundGrantedConfirmedSession(t *testing.T) {
	t.Parallel()
	hostA, hostB := newSigner(t), newSigner(t)
	keyA, notGranted := newSigner(t), newSigner(t)
	sid, otherSID := []byte("session-1-exchange-hash"), []byte("session-2-exchange-hash")
	type bind struct {
		host               ssh.Signer
		sid                []byte
		forwarding, tamper bool
	}
	tests := []struct {
		name       string
		binds      []bind
		key        ssh.Signer
		data       []byte
		confirmErr error
		want       []string // every audit event, in order
	}{
		{name: "bound to the granted host", binds: []bind{{host: hostA, sid: sid}}, key: keyA,
			data: userauthData(sid, keyA.PublicKey(), nil), want: []string{"signed"}},
		{name: "hostbound userauth to the granted host", binds: []bind{{host: hostA, sid: sid}}, key: keyA,
			data: userauthData(sid, keyA.PublicKey(), hostA.PublicKey()), want: []string{"signed"}},
		{name: "the same bind twice", binds: []bind{{host: hostA, sid: sid}, {host: hostA, sid: sid}}, key: keyA,
			data: userauthData(sid, keyA.PublicKey(), nil), want: []string{"signed"}},
		{name: "no session bind", key: keyA,
			data: userauthData(sid, keyA.PublicKey(), nil), want: []string{"refused: " + ReasonNotBound}},
		{name: "bind signature not by the host key", binds: []bind{{host: hostA, sid: sid, tamper: true}}, key: keyA,
			data: userauthData(sid, keyA.PublicKey(), nil),
			want: []string{"refused: " + ReasonBadBindSignature, "refused: " + ReasonNotBound}},
		{name: "bound for forwarding", binds: []bind{{host: hostA, sid: sid, forwarding: true}}, key: keyA,
			data: userauthData(sid, keyA.PublicKey(), nil),
			want: []string{"refused: " + ReasonForwarded, "refused: " + ReasonForwarded}},
		{name: "bound for authentication after forwarding", binds: []bind{{host: hostA, sid: otherSID, forwarding: true}, {host: hostA, sid: sid}},
			key: keyA, data: userauthData(sid, keyA.PublicKey(), nil),
			want: []string{"refused: " + ReasonForwarded, "refused: " + ReasonForwarded, "refused: " + ReasonForwarded}},
		{name: "userauth for another session", binds: []bind{{host: hostA, sid: sid}}, key: keyA,
			data: userauthData(otherSID, keyA.PublicKey(), nil), want: []string{"refused: " + ReasonSessionMismatch}},
		{name: "rebound to another session", binds: []bind{{host: hostA, sid: sid}, {host: hostB, sid: otherSID}}, key: keyA,
			data: userauthData(otherSID, keyA.PublicKey(), nil),
			want: []string{"refused: " + ReasonAlreadyBound, "refused: " + ReasonSessionMismatch}},
		{name: "hostbound userauth naming another host key", binds: []bind{{host: hostA, sid: sid}}, key: keyA,
			data: userauthData(sid, keyA.PublicKey(), hostB.PublicKey()), want: []string{"refused: " + ReasonHostKeyMismatch}},
		{name: "bound to a host the key is not granted for", binds: []bind{{host: hostB, sid: sid}}, key: keyA,
			data: userauthData(sid, keyA.PublicKey(), nil), want: []string{"refused: " + ReasonHostNotGranted}},
		{name: "proxy does not confirm", binds: []bind{{host: hostA, sid: sid}}, key: keyA, confirmErr: errors.New("no tunnel to a.example"),
			data: userauthData(sid, keyA.PublicKey(), nil), want: []string{"refused: " + ReasonNotConfirmed}},
		{name: "data other than a userauth request", binds: []bind{{host: hostA, sid: sid}}, key: keyA,
			data: []byte("SSHSIG some file to sign"), want: []string{"refused: " + ReasonNotUserauth}},
		{name: "userauth request for another key", binds: []bind{{host: hostA, sid: sid}}, key: keyA,
			data: userauthData(sid, notGranted.PublicKey(), nil), want: []string{"refused: " + ReasonNotUserauth}},
		{name: "key not granted", binds: []bind{{host: hostA, sid: sid}}, key: notGranted,
			data: userauthData(sid, notGranted.PublicKey(), nil), want: []string{"refused: " + ReasonKeyNotGranted}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var rec recorder
			var confirmed []string
			srv, err := New(Config{
				Keys: []Key{{Grant: "deploy", Backend: SignerBackend{keyA}, Hosts: []Host{{Name: "a.example", Keys: []ssh.PublicKey{hostA.PublicKey()}}}}},
				Confirm: func(host string, hostKey ssh.PublicKey) error {
					confirmed = append(confirmed, host+" "+ssh.FingerprintSHA256(hostKey))
					return tc.confirmErr
				},
				Audit: rec.add,
			})
			if err != nil {
				t.Fatal(err)
			}
			client := dialAgent(t, srv)
			for _, b := range tc.binds {
				_, _ = client.Extension(sessionBindExtension, bindPayload(t, b.host, b.sid, b.forwarding, b.tamper))
			}
			sig, signErr := client.Sign(tc.key.PublicKey(), tc.data)
			var got []string
			for _, e := range rec.all() {
				got = append(got, outcome(e))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("audit events: got %q, want %q", got, tc.want)
			}
			if tc.want[len(tc.want)-1] != "signed" {
				if signErr == nil {
					t.Fatalf("got a signature, want a refusal")
				}
				return
			}
			if signErr != nil {
				t.Fatalf("sign: %v", signErr)
			}
			if err := keyA.PublicKey().Verify(tc.data, sig); err != nil {
				t.Fatalf("the signature does not verify: %v", err)
			}
			wantConfirm := "a.example " + ssh.FingerprintSHA256(hostA.PublicKey())
			if !slices.Equal(confirmed, []string{wantConfirm}) {
				t.Fatalf("Confirm calls: got %q, want %q", confirmed, wantConfirm)
			}
			ev := rec.all()[0]
			if ev.Grant != "deploy" || ev.Host != "a.example" || ev.Key != ssh.FingerprintSHA256(keyA.PublicKey()) ||
				ev.HostKey != ssh.FingerprintSHA256(hostA.PublicKey()) {
				t.Fatalf("signature event: got %+v", ev)
			}
		})
	}
}

// TestBindReplies checks what a client sees for each kind of bind: OpenSSH
// only logs a failed bind, but a refusal must reach it as a failure.
func TestBindReplies(t *testing.T) {
	t.Parallel()
	host, key := newSigner(t), newSigner(t)
	srv := newTestServer(t, key, "a.example", host.PublicKey())
	sid := []byte("exchange-hash")
	tests := []struct {
		name     string
		ext      string
		contents []byte
		wantErr  error // nil: success; errAny: any error
	}{
		{"valid bind", sessionBindExtension, bindPayload(t, host, sid, false, false), nil},
		{"tampered signature", sessionBindExtension, bindPayload(t, host, sid, false, true), errAny},
		{"forwarding", sessionBindExtension, bindPayload(t, host, sid, true, false), errAny},
		{"truncated", sessionBindExtension, bindPayload(t, host, sid, false, false)[:40], errAny},
		{"empty session identifier", sessionBindExtension, bindPayload(t, host, nil, false, false), errAny},
		{"unknown extension", "query", nil, agent.ErrExtensionUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := dialAgent(t, srv).Extension(tc.ext, tc.contents)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("got %v, want success", err)
			case tc.wantErr == errAny && err == nil:
				t.Fatal("got success, want a failure")
			case tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error")

func newTestServer(t testing.TB, key ssh.Signer, host string, hostKey ssh.PublicKey) *Server {
	t.Helper()
	srv, err := New(Config{
		Keys:    []Key{{Grant: "deploy", Backend: SignerBackend{key}, Hosts: []Host{{Name: host, Keys: []ssh.PublicKey{hostKey}}}}},
		Confirm: func(string, ssh.PublicKey) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// TestListAndChangesRefused checks that the agent lists the granted keys
// only and refuses every change a client could ask for.
func TestListAndChangesRefused(t *testing.T) {
	t.Parallel()
	host, key := newSigner(t), newSigner(t)
	client := dialAgent(t, newTestServer(t, key, "a.example", host.PublicKey()))
	keys, err := client.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !bytes.Equal(keys[0].Blob, key.PublicKey().Marshal()) || keys[0].Comment != "deploy" {
		t.Fatalf("List: got %v, want the granted key only, named after its grant", keys)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, op := range map[string]func() error{
		"add":        func() error { return client.Add(agent.AddedKey{PrivateKey: other}) },
		"remove":     func() error { return client.Remove(key.PublicKey()) },
		"remove all": client.RemoveAll,
		"lock":       func() error { return client.Lock([]byte("pw")) },
		"unlock":     func() error { return client.Unlock([]byte("pw")) },
	} {
		if err := op(); err == nil {
			t.Errorf("%s: got success, want a refusal", name)
		}
	}
	if keys, _ := client.List(); len(keys) != 1 {
		t.Fatalf("after the refused changes List has %d keys, want 1", len(keys))
	}
}

// TestRSASignatureFlags checks that an RSA key signs with the SHA-2
// algorithm the client's flags ask for, as ssh asks for rsa-sha2-512.
func TestRSASignatureFlags(t *testing.T) {
	t.Parallel()
	host := newSigner(t)
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	srv := newTestServer(t, key, "a.example", host.PublicKey())
	for flags, want := range map[agent.SignatureFlags]string{
		0: ssh.KeyAlgoRSA, agent.SignatureFlagRsaSha256: ssh.KeyAlgoRSASHA256, agent.SignatureFlagRsaSha512: ssh.KeyAlgoRSASHA512,
	} {
		client := dialAgent(t, srv)
		sid := []byte("exchange-hash-" + want)
		if _, err := client.Extension(sessionBindExtension, bindPayload(t, host, sid, false, false)); err != nil {
			t.Fatal(err)
		}
		data := userauthData(sid, key.PublicKey(), nil)
		sig, err := client.SignWithFlags(key.PublicKey(), data, flags)
		if err != nil {
			t.Fatalf("flags %d: %v", flags, err)
		}
		if sig.Format != want {
			t.Errorf("flags %d: got a %s signature, want %s", flags, sig.Format, want)
		}
		if err := key.PublicKey().Verify(data, sig); err != nil {
			t.Errorf("flags %d: %v", flags, err)
		}
	}
}

// TestNewRefusesIncompleteGrants checks the configurations New refuses,
// since each would make a key sign for nothing checkable.
func TestNewRefusesIncompleteGrants(t *testing.T) {
	t.Parallel()
	key, host := newSigner(t), newSigner(t)
	hosts := []Host{{Name: "a.example", Keys: []ssh.PublicKey{host.PublicKey()}}}
	confirm := func(string, ssh.PublicKey) error { return nil }
	for name, cfg := range map[string]Config{
		"no Confirm":       {Keys: []Key{{Grant: "g", Backend: SignerBackend{key}, Hosts: hosts}}},
		"no grant name":    {Keys: []Key{{Backend: SignerBackend{key}, Hosts: hosts}}, Confirm: confirm},
		"no backend":       {Keys: []Key{{Grant: "g", Hosts: hosts}}, Confirm: confirm},
		"no host":          {Keys: []Key{{Grant: "g", Backend: SignerBackend{key}}}, Confirm: confirm},
		"host without key": {Keys: []Key{{Grant: "g", Backend: SignerBackend{key}, Hosts: []Host{{Name: "a.example"}}}}, Confirm: confirm},
		"one key in two grants": {Keys: []Key{{Grant: "g", Backend: SignerBackend{key}, Hosts: hosts},
			{Grant: "h", Backend: SignerBackend{key}, Hosts: hosts}}, Confirm: confirm},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}
