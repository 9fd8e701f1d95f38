package sshagent

import (
	"bytes"
	"testing"
)

// FuzzSessionBind feeds arbitrary session-bind contents to a connection's
// agent: none may panic, and none but a bind signed by a granted host's
// key may lead to a signature.
func FuzzSessionBind(f *testing.F) {
	host, key := newSigner(f), newSigner(f)
	sid := []byte("exchange-hash")
	valid := bindPayload(f, host, sid, false, false)
	f.Add(valid)
	f.Add(bindPayload(f, host, sid, true, false))
	f.Add(bindPayload(f, host, sid, false, true))
	f.Add(valid[:len(valid)-1])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, contents []byte) {
		srv := newTestServer(t, key, "a.example", host.PublicKey())
		a := srv.NewAgent()
		_, bindErr := a.Extension(sessionBindExtension, contents)
		b, parseErr := parseSessionBind(contents)
		if bindErr == nil && (parseErr != nil || b.verify() != nil || b.forwarding) {
			t.Fatalf("a bind that does not parse, verify or is for forwarding was accepted: %x", contents)
		}
		_, signErr := a.Sign(key.PublicKey(), userauthData(sid, key.PublicKey(), nil))
		if signErr == nil && (bindErr != nil || !bytes.Equal(b.hostKey.Marshal(), host.PublicKey().Marshal()) || !bytes.Equal(b.sessionID, sid)) {
			t.Fatalf("signed after bind %x", contents)
		}
	})
}

// FuzzParseUserauthRequest checks that the parser never panics and that
// what it accepts is a request for the key it was given, in a session.
func FuzzParseUserauthRequest(f *testing.F) {
	host, key := newSigner(f), newSigner(f)
	f.Add(userauthData([]byte("sid"), key.PublicKey(), nil))
	f.Add(userauthData([]byte("sid"), key.PublicKey(), host.PublicKey()))
	f.Add(userauthData([]byte("sid"), host.PublicKey(), nil))
	f.Add([]byte("SSHSIG"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseUserauthRequest(data, key.PublicKey())
		if err != nil {
			return
		}
		if len(req.sessionID) == 0 || !bytes.Equal(req.key.Marshal(), key.PublicKey().Marshal()) {
			t.Fatalf("accepted %x as %+v", data, req)
		}
	})
}
