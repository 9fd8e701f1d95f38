// Command moat runs AI coding agents in isolated containers.
package main

import (
	"os"

	"github.com/moatsh/moat/internal/cmd/factory"
	"github.com/moatsh/moat/internal/cmd/root"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(root.Main(factory.New(version), os.Args[1:]))
}
