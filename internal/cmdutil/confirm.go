package cmdutil

import (
	"fmt"
	"io"
	"strings"

	"github.com/moatsh/moat/internal/iostreams"
)

// Confirm asks question on stderr and reads the answer from stdin, which
// the caller has checked is a terminal; only "y" or "yes" is a yes. It reads
// byte by byte, so nothing typed after the answer is taken from a command
// that reads stdin next.
func Confirm(ios *iostreams.IOStreams, question string) bool {
	fmt.Fprint(ios.ErrOut, question+" [y/N] ")
	answer := strings.ToLower(strings.TrimSpace(readLine(ios.In)))
	return answer == "y" || answer == "yes"
}

// readLine reads up to a newline (or carriage return, for a raw terminal)
// without reading past it; at most 256 bytes count.
func readLine(r io.Reader) string {
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' || b[0] == '\r' {
				break
			}
			if len(line) < 256 {
				line = append(line, b[0])
			}
		}
		if err != nil {
			break
		}
	}
	return string(line)
}
