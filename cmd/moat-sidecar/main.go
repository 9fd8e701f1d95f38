// Command moat-sidecar runs moat's commands inside a run's containers (the
// egress proxy, its relay, moat-init's helpers) without the rest of moat:
// see internal/cmd/sidecar.
package main

import (
	"os"

	"github.com/moatsh/moat/internal/cmd/sidecar"
)

func main() {
	os.Exit(sidecar.Main(os.Args[1:], os.Stdout, os.Stderr))
}
