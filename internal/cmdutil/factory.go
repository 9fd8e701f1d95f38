package cmdutil

import (
	"context"

	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
)

// Factory holds what commands need, built lazily so that commands which do
// not touch the engine (version, deps) work without one.
type Factory struct {
	IOStreams *iostreams.IOStreams
	Version   string
	// Manager connects to the container engine and returns the orchestrator.
	Manager func(ctx context.Context) (*run.Manager, error)
	// Store opens the run store alone, for when the engine is unreachable.
	Store func() (*state.Store, error)
	// Grants opens the credential store ($MOAT_HOME/grants), once per
	// process. Its key is in the OS keyring or, where none can be used (and
	// ever after), in $MOAT_HOME/keys/grants.key (0600): see
	// grant.KeyringOrFile; grant.KeyFileInUse says which, once used.
	Grants func() (*grant.Store, error)
}
