package sshwatch

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/moatsh/moat/internal/plural"
)

// Transport messages the watcher handles (RFC 4253 12, RFC 4419 5).
const (
	msgDisconnect    = 1
	msgIgnore        = 2
	msgUnimplemented = 3
	msgDebug         = 4
	msgKexInit       = 20
	msgNewKeys       = 21
	// msgKexReply is the server's reply of every method but group
	// exchange (KEXDH_REPLY, KEX_ECDH_REPLY, OpenSSH's hybrid replies),
	// and group exchange's KEX_DH_GEX_GROUP.
	msgKexReply    = 31
	msgKexGexReply = 33
)

// A kexMethod is how a key exchange method's server side looks before
// NEWKEYS. Every reply is string K_S, the server's ephemeral value, string
// signature.
type kexMethod struct {
	// groupExchange methods send the group (message 31, two mpints) and
	// then the reply as message 33.
	groupExchange bool
	// ephemeral lists the lengths the server's ephemeral value may have;
	// none means an mpint (f of Diffie-Hellman).
	ephemeral []int
}

// kexMethods are the methods whose server messages the watcher
// recognises. The lengths are those of the encodings on the wire: an EC
// point uncompressed or compressed (RFC 5656 3.1, SEC 1 2.3.3), X25519 and
// X448 keys (RFC 8731), and OpenSSH's hybrids, the KEM ciphertext followed
// by the server's ECDH key (kexsntrup761x25519.c, kexmlkem768x25519.c).
var kexMethods = map[string]kexMethod{
	"diffie-hellman-group1-sha1":           {},
	"diffie-hellman-group14-sha1":          {},
	"diffie-hellman-group14-sha256":        {},
	"diffie-hellman-group15-sha512":        {},
	"diffie-hellman-group16-sha512":        {},
	"diffie-hellman-group17-sha512":        {},
	"diffie-hellman-group18-sha512":        {},
	"diffie-hellman-group-exchange-sha1":   {groupExchange: true},
	"diffie-hellman-group-exchange-sha256": {groupExchange: true},
	"ecdh-sha2-nistp256":                   {ephemeral: []int{65, 33}},
	"ecdh-sha2-nistp384":                   {ephemeral: []int{97, 49}},
	"ecdh-sha2-nistp521":                   {ephemeral: []int{133, 67}},
	"curve25519-sha256":                    {ephemeral: []int{32}},
	"curve25519-sha256@libssh.org":         {ephemeral: []int{32}},
	"curve448-sha512":                      {ephemeral: []int{56}},
	"sntrup761x25519-sha512":               {ephemeral: []int{1039 + 32}},
	"sntrup761x25519-sha512@openssh.com":   {ephemeral: []int{1039 + 32}},
	"mlkem768x25519-sha256":                {ephemeral: []int{1088 + 32}},
	"mlkem768nistp256-sha256":              {ephemeral: []int{1088 + 65}},
}

// isPseudoMethod reports names in the key exchange list that are not
// methods but signal extensions: ext-info (RFC 8308) and OpenSSH's strict
// key exchange (kex-strict-s-v00@openssh.com).
func isPseudoMethod(name string) bool {
	return strings.HasPrefix(name, "ext-info-") || strings.HasPrefix(name, "kex-strict-")
}

// offer is what the server's KEXINIT offers: the methods the watcher
// recognises and the names of those it does not.
type offer struct {
	methods []kexMethod
	unknown []string
}

func (o offer) groupExchange() bool {
	return slices.ContainsFunc(o.methods, func(m kexMethod) bool { return m.groupExchange })
}

// fitsReply reports whether eph is the ephemeral value of a reply (message
// 31) of one of the offered methods other than group exchange.
func (o offer) fitsReply(eph []byte) bool {
	return slices.ContainsFunc(o.methods, func(m kexMethod) bool {
		if m.groupExchange {
			return false
		}
		if len(m.ephemeral) == 0 {
			return isMpint(eph)
		}
		return slices.Contains(m.ephemeral, len(eph))
	})
}

// parseKexInit reads the server's key exchange methods from a KEXINIT's
// body (after the message type): a 16-byte cookie, ten name-lists, a
// boolean and a reserved uint32 (RFC 4253 7.1).
func parseKexInit(body []byte) (offer, error) {
	if len(body) < 16 {
		return offer{}, fmt.Errorf("%w: KEXINIT of %s", ErrMalformed, plural.Count(len(body)+1, "byte"))
	}
	rest := body[16:]
	var lists [10][]byte
	for i := range lists {
		var ok bool
		if lists[i], rest, ok = readString(rest); !ok {
			return offer{}, fmt.Errorf("%w: KEXINIT is cut short in its name-list %d", ErrMalformed, i+1)
		}
	}
	if len(rest) < 5 {
		return offer{}, fmt.Errorf("%w: KEXINIT is cut short after its name-lists", ErrMalformed)
	}
	var o offer
	for _, name := range strings.Split(string(lists[0]), ",") {
		if m, ok := kexMethods[name]; ok {
			o.methods = append(o.methods, m)
		} else if name != "" && !isPseudoMethod(name) {
			o.unknown = append(o.unknown, name)
		}
	}
	switch {
	case len(o.methods) > 0:
		return o, nil
	case len(o.unknown) == 0:
		return offer{}, fmt.Errorf("%w: the server offers no key exchange method", ErrMalformed)
	}
	return offer{}, fmt.Errorf("%w: the server offers only %s", ErrUnrecognisedKeyExchange, quoteNames(o.unknown))
}

// quoteNames quotes names a server sent for an error message, a few of
// them: they are the server's bytes.
func quoteNames(names []string) string {
	const most = 5
	var b strings.Builder
	for i, n := range names {
		if i == most {
			fmt.Fprintf(&b, " and %d more", len(names)-most)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(n))
	}
	return b.String()
}

// quote quotes text from the server, cut to a length fit for a message.
func quote(s string) string {
	const most = 64
	if len(s) > most {
		return fmt.Sprintf("%q...", s[:most])
	}
	return fmt.Sprintf("%q", s)
}

// parseReply checks a key exchange reply's body (string K_S, the
// ephemeral value, string signature, nothing more), with fits judging the
// ephemeral value, and parses K_S.
func parseReply(fields [][]byte, fits func([]byte) bool) (ssh.PublicKey, bool, error) {
	if len(fields) != 3 || !fits(fields[1]) || !isSignature(fields[2]) {
		return nil, false, nil
	}
	key, err := ssh.ParsePublicKey(fields[0])
	if err != nil {
		return nil, true, fmt.Errorf("%w: parsing the server's host key: %v", ErrMalformed, err)
	}
	return key, true, nil
}

// isSignature reports whether b has a signature's shape: string format,
// string blob (RFC 4253 6.6).
func isSignature(b []byte) bool {
	f, err := splitStrings(b)
	return err == nil && len(f) == 2 && len(f[0]) > 0
}

// isMpint reports whether b is a positive mpint's bytes (RFC 4251 5): not
// empty, no sign bit, no needless leading zero.
func isMpint(b []byte) bool {
	switch {
	case len(b) == 0 || b[0]&0x80 != 0:
		return false
	case b[0] == 0:
		return len(b) > 1 && b[1]&0x80 != 0
	}
	return true
}

// splitStrings splits b into the strings it consists of, exactly.
func splitStrings(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		s, rest, ok := readString(b)
		if !ok {
			return nil, fmt.Errorf("%w: a field overruns its message", ErrMalformed)
		}
		out = append(out, s)
		b = rest
	}
	return out, nil
}

// readString reads an SSH string (uint32 length, bytes).
func readString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}
