package cmdutil

import (
	"fmt"

	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/termtext"
)

// NoteWorkspace says on stderr which directory is the workspace when moat
// found it upward from the current one: the user did not name it.
func NoteWorkspace(ios *iostreams.IOStreams, ws *run.Workspace) {
	if ws.Above() {
		fmt.Fprintf(ios.ErrOut, "Using the workspace %s (the nearest directory upward with agent.yaml)\n", termtext.Field(ws.Path()))
	}
}
