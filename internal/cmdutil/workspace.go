package cmdutil

import (
	"context"
	"fmt"
	"strings"

	"github.com/moatsh/moat/internal/agent"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/termtext"
)

// OpenWorkspace opens the orchestrator and in it the workspace at path
// ("": the nearest directory upward with agent.yaml, else the current
// one), saying on stderr which directory that is when moat found it.
func OpenWorkspace(ctx context.Context, manager func(context.Context) (*run.Manager, error), ios *iostreams.IOStreams, path string) (*run.Manager, *run.Workspace, error) {
	mgr, err := manager(ctx)
	if err != nil {
		return nil, nil, err
	}
	ws, err := mgr.OpenWorkspace(path)
	if err != nil {
		return nil, nil, err
	}
	if ws.Above() { // the user did not name it
		fmt.Fprintf(ios.ErrOut, "Using the workspace %s (the nearest directory upward with agent.yaml)\n", termtext.Field(ws.Path()))
	}
	return mgr, ws, nil
}

// WithAgent applies the agent profile a run of ws would have: the named
// launcher's ('moat <agent>', given as --agent), else agent.yaml's agent:,
// so that what is built or approved is what that run asks for.
func WithAgent(ws *run.Workspace, name string) (*run.Workspace, error) {
	cfg := ws.Config()
	if name == "" {
		shaped, _, err := agent.ForConfig(cfg, nil)
		if err != nil {
			return nil, err
		}
		return ws.WithConfig(shaped), nil
	}
	p, ok := agent.Lookup(name)
	if !ok {
		return nil, WithHint(fmt.Errorf("--agent: no agent is called %q", name),
			"Name one of: "+strings.Join(agent.Names(), ", ")+".")
	}
	if err := agent.CheckNamed(cfg, p); err != nil {
		return nil, err
	}
	shaped, err := agent.Apply(cfg, p, nil)
	if err != nil {
		return nil, err
	}
	return ws.WithConfig(shaped), nil
}
