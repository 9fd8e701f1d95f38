package npmreg

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
)

// manifest is what Fill reads of a version's manifest; the cache keeps the
// whole document.
type manifest struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Dist    struct {
		Tarball   string `json:"tarball"`
		Integrity string `json:"integrity"` // Subresource Integrity, "sha512-<base64>"
		Shasum    string `json:"shasum"`    // hex SHA-1, all that old packages have
	} `json:"dist"`
}

type digests struct {
	sha1, sha256, sha512 []byte
}

// verify checks a tarball's digests against a pinned hex SHA-256 (if any)
// and the manifest's integrity, which must vouch for the tarball when no
// pin does.
func verify(m manifest, d digests, pin string) error {
	if pin != "" && !strings.EqualFold(hex.EncodeToString(d.sha256), pin) {
		return fmt.Errorf("SHA-256 is %x, want %s", d.sha256, strings.ToLower(pin))
	}
	checked := false
	for _, entry := range strings.Fields(m.Dist.Integrity) {
		algo, b64, _ := strings.Cut(entry, "-")
		b64, _, _ = strings.Cut(b64, "?") // SRI options
		var got []byte
		switch algo {
		case "sha512":
			got = d.sha512
		case "sha256":
			got = d.sha256
		case "sha1":
			got = d.sha1
		default:
			continue
		}
		want, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || !bytes.Equal(got, want) {
			return fmt.Errorf("the tarball does not match the manifest's integrity %s", entry)
		}
		checked = true
	}
	if !checked && m.Dist.Shasum != "" {
		if !strings.EqualFold(hex.EncodeToString(d.sha1), m.Dist.Shasum) {
			return fmt.Errorf("the tarball's SHA-1 is %x, but the manifest's shasum is %s", d.sha1, m.Dist.Shasum)
		}
		checked = true
	}
	if !checked && pin == "" {
		return errors.New("no SHA-256 pin, and the manifest has no integrity to check against")
	}
	return nil
}

// hasher computes every digest verify may need in one pass.
type hasher struct{ s1, s256, s512 hash.Hash }

func newHasher() *hasher { return &hasher{sha1.New(), sha256.New(), sha512.New()} }

func (h *hasher) Write(p []byte) (int, error) {
	h.s1.Write(p)
	h.s256.Write(p)
	h.s512.Write(p)
	return len(p), nil
}

func (h *hasher) sum() digests {
	return digests{h.s1.Sum(nil), h.s256.Sum(nil), h.s512.Sum(nil)}
}

func hashFile(path string) (digests, error) {
	f, err := os.Open(path)
	if err != nil {
		return digests{}, err
	}
	defer f.Close()
	h := newHasher()
	if _, err := io.Copy(h, f); err != nil {
		return digests{}, err
	}
	return h.sum(), nil
}
