package trace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/trace"
)

// followInterval is how often --follow looks at the audit log and the
// run's state. The proxy appends to the log from its container, on a
// local engine through a shared directory and on a cluster through a
// copy, so nothing announces a new entry to every reader alike.
const followInterval = 250 * time.Millisecond

// followColumns are the widths of the table's columns on a terminal
// under --follow, where rows are printed as they come and cannot be
// aligned on the rows to come: a wider field pushes the rest of its row.
var followColumns = []int{12, 7, 44, 6, 8, 7, 7, 8, 0}

// follow prints run r's trace so far, then its requests as the proxy
// records them (in the order they end), until the run has ended and
// every entry is printed, or ctx ends.
func (o *Options) follow(ctx context.Context, store *state.Store, r *state.Run) error {
	f, err := run.OpenAuditLog(store, r.ID)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("run %s has no audit log (%s)", r.ID, store.Path(r.ID, run.AuditFile))
	}
	if err != nil {
		return fmt.Errorf("opening the audit log of run %s: %w", r.ID, err)
	}
	defer f.Close()
	tty := o.IO.IsStdoutTTY()
	o.writeFollowRow(tableHeader, tty)
	tick := time.NewTicker(followInterval)
	defer tick.Stop()
	var pending []byte
	ended := !run.IsActive(r)
	for {
		more, err := io.ReadAll(f)
		if err != nil {
			return fmt.Errorf("reading the audit log of run %s: %w", r.ID, err)
		}
		pending = append(pending, more...)
		// Only whole lines: the proxy may be in the middle of one.
		if i := bytes.LastIndexByte(pending, '\n'); i >= 0 {
			finished, err := o.printEntries(pending[:i+1], r.ID, tty)
			if err != nil || finished {
				return err
			}
			pending = append([]byte(nil), pending[i+1:]...)
		}
		if ended {
			return nil // read once more after the run ended: all there is
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		ended = o.runEnded(ctx, store, r.ID)
	}
}

// printEntries prints the requests and signatures in whole log lines, and
// reports whether they hold the run's end (run.finished: nothing is
// recorded after it but the closing checkpoint).
func (o *Options) printEntries(lines []byte, runID string, tty bool) (finished bool, err error) {
	l, err := trace.Read(bytes.NewReader(lines))
	if err != nil {
		return false, fmt.Errorf("reading the audit log of run %s: %w", runID, err)
	}
	for _, req := range l.All() {
		o.writeFollowRow(tableRow(req, tty, o.Location), tty)
	}
	for _, note := range l.Truncated {
		fmt.Fprintf(o.IO.ErrOut, "note: the trace of run %s is incomplete: %s\n", runID, note)
	}
	return holdsKind(lines, audit.KindRunFinished), nil
}

// holdsKind reports whether whole log lines hold an entry of kind.
func holdsKind(lines []byte, kind string) bool {
	ar := audit.NewReader(bytes.NewReader(lines))
	for {
		e, err := ar.Next()
		if err != nil {
			return false
		}
		if e.Kind == kind {
			return true
		}
	}
}

// runEnded reports whether run id is over, asking the engine when it
// answers: a detached run whose command ended is finished by whichever
// moat command looks first.
func (o *Options) runEnded(ctx context.Context, store *state.Store, id string) bool {
	if o.Manager != nil {
		if mgr, err := o.Manager(ctx); err == nil {
			r, err := mgr.Find(ctx, id, nil, "")
			return err == nil && !run.IsActive(r)
		}
	}
	r, err := store.Load(id)
	return err == nil && !run.IsActive(r)
}

// writeFollowRow writes one row: fixed-width columns on a terminal,
// tab-separated fields otherwise, as the table without --follow.
func (o *Options) writeFollowRow(fields []string, tty bool) {
	if !tty {
		fmt.Fprintln(o.IO.Out, strings.Join(fields, "\t"))
		return
	}
	var b strings.Builder
	for i, field := range fields {
		b.WriteString(field)
		if i < len(fields)-1 {
			b.WriteString(strings.Repeat(" ", max(followColumns[i]-utf8.RuneCountInString(field), 0)+2))
		}
	}
	fmt.Fprintln(o.IO.Out, b.String())
}
