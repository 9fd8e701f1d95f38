package launch

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
)

// interrupts tells the user what a Ctrl-C on a foreground run does, and
// makes a second one kill the command. The first signal cancels the
// command's context (cmd/root's handler); the orchestrator then calls
// stopping, which says so, and a signal after that closes kill.
type interrupts struct {
	w       io.Writer
	sigs    chan os.Signal
	kill    chan struct{}
	mu      sync.Mutex
	seen    int    // signals received
	run     string // the run being stopped, once stopping was called
	stopped bool   // kill is closed
}

// watchInterrupts starts watching SIGINT and SIGTERM; stop ends it.
func watchInterrupts(w io.Writer) *interrupts {
	in := &interrupts{w: w, sigs: make(chan os.Signal, 2), kill: make(chan struct{})}
	signal.Notify(in.sigs, syscall.SIGINT, syscall.SIGTERM)
	go in.loop()
	return in
}

func (in *interrupts) loop() {
	for range in.sigs {
		in.mu.Lock()
		in.seen++
		if in.seen >= 2 && !in.stopped {
			in.stopped = true
			close(in.kill)
			if in.run != "" {
				fmt.Fprintf(in.w, "moat: killing run %s\n", in.run)
			}
		}
		in.mu.Unlock()
	}
}

// stopping is run.Options.Stopping.
func (in *interrupts) stopping(r *state.Run, grace time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.run = r.Name
	if in.stopped {
		fmt.Fprintf(in.w, "moat: killing run %s\n", r.Name)
		return
	}
	fmt.Fprintf(in.w, "moat: stopping run %s (waiting up to %s for the command to exit; press Ctrl-C again to kill it)\n", r.Name, grace)
}

// attach makes ro report to in.
func (in *interrupts) attach(ro *run.Options) {
	ro.Stopping, ro.Kill = in.stopping, in.kill
}

func (in *interrupts) stop() {
	signal.Stop(in.sigs)
	close(in.sigs)
}
