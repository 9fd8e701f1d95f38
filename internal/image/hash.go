package image

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	_ "embed"
)

// InitScript is the container entrypoint baked into every run image.
//
//go:embed moat-init.sh
var InitScript []byte

// InitFile is the init script's name in the build context.
const InitFile = "moat-init"

// hashVersion changes when the hash's own layout changes.
const hashVersion = "moat-image-v1"

// Repository is where moat's run images are tagged.
const Repository = "moat/run"

// contentHash covers everything that shapes an image: the generated
// Dockerfile (dependencies with resolved versions and modes, the install
// recipes, the base image reference), the identity of the base image in the
// engine, the init script, and, in an image that holds a copy of moat's
// binary, that binary's SHA-256 (moatSum, empty otherwise). Any change to
// one of them changes the tag.
func contentHash(dockerfile []byte, baseID string, init []byte, moatSum string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\nbase-id %s\n", hashVersion, baseID)
	writeSection(h, "dockerfile", dockerfile)
	writeSection(h, "init", init)
	if moatSum != "" {
		writeSection(h, "moat", []byte(moatSum))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeSection writes a length-prefixed section so no two inputs can run
// into each other and collide.
func writeSection(h interface{ Write([]byte) (int, error) }, name string, data []byte) {
	fmt.Fprintf(h, "%s %d\n", name, len(data))
	h.Write(data)
}

// Tag is the image reference for a content hash.
func Tag(hash string) string { return Repository + ":" + hash[:20] }

// InitFunction returns the definition of one shell function of the init
// script, from its "name() {" line to the "}" that closes it at the start
// of a line, so that another script moat runs in the container (moat
// exec's) does what moat-init does without starting it. It panics if the
// script has no such function: a programming error a test catches.
func InitFunction(name string) string {
	s := string(InitScript)
	start := strings.Index(s, "\n"+name+"() {\n")
	if start < 0 {
		panic("moat-init.sh has no function " + name)
	}
	end := strings.Index(s[start:], "\n}\n")
	if end < 0 {
		panic("moat-init.sh: function " + name + " is not closed")
	}
	return s[start+1 : start+end+3]
}
