package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/run"
	"github.com/moatsh/moat/internal/state"
	"github.com/moatsh/moat/internal/termtext"
	"github.com/moatsh/moat/internal/trace"
)

// verifyHAR checks the archive o.HAR against its run's audit log: the
// log itself first (a HAR is only as good as the log it matches), then
// every entry of the archive.
func verifyHAR(ctx context.Context, o *Options) error {
	h, err := readHAR(o.HAR)
	if err != nil {
		return err
	}
	var entries []audit.Entry
	if isFile(o.Target) {
		entries, err = bundleEntries(o, h)
	} else {
		entries, err = runEntries(ctx, o, h)
	}
	if err != nil {
		return err
	}
	text, err := trace.VerifyHAR(h, entries).Describe(fmt.Sprintf("HAR %s (run %s)", o.HAR, h.RunID))
	fmt.Fprint(o.IO.Out, termtext.String(text)) // the archive's fields are whoever edited it's
	if err != nil {
		return cmdutil.WithHint(err, fmt.Sprintf("The HAR was changed after moat wrote it: do not trust it. "+
			"The run's own log says what happened: 'moat trace %s' prints it, 'moat trace %s --har FILE' writes the archive again.", h.RunID, h.RunID))
	}
	return nil
}

func readHAR(path string) (trace.HAR, error) {
	f, err := os.Open(path)
	if err != nil {
		return trace.HAR{}, err
	}
	defer f.Close()
	h, err := trace.ReadHAR(f)
	if err != nil {
		return h, cmdutil.WithHint(fmt.Errorf("reading %s: %w", path, err),
			"Only a HAR written by 'moat trace RUN --har FILE' can be verified; write it again from the run.")
	}
	return h, nil
}

// isFile reports whether the argument names a regular file (a bundle)
// rather than a run.
func isFile(path string) bool {
	fi, err := os.Stat(path)
	return path != "" && err == nil && fi.Mode().IsRegular()
}

// bundleEntries verifies the bundle o.Target, which must hold the HAR's
// run's log, and returns its entries.
func bundleEntries(o *Options, h trace.HAR) ([]audit.Entry, error) {
	b, err := checkBundle(o)
	if err != nil {
		return nil, err
	}
	if b.RunID != h.RunID {
		return nil, fmt.Errorf("%s holds the audit log of run %s, but %s was written from run %s", o.Target, b.RunID, o.HAR, h.RunID)
	}
	return b.Entries, nil
}

// runEntries verifies the audit log of the run o.Target names, or of the
// HAR's run, on this machine, and returns the entries that verify.
func runEntries(ctx context.Context, o *Options, h trace.HAR) ([]audit.Entry, error) {
	ref := o.Target
	if ref == "" {
		ref = h.RunID
	}
	r, store, err := cmdutil.FindRun(ctx, &cmdutil.Factory{Manager: o.Manager, Store: o.Store}, ref)
	var notFound *state.NotFoundError
	if errors.As(err, &notFound) && o.Target == "" {
		return nil, cmdutil.WithHint(fmt.Errorf("%s was written from run %s, which is not on this machine", o.HAR, h.RunID),
			fmt.Sprintf("Verify it with a bundle of that run's log, exported where it ran ('moat audit %s --export FILE'): 'moat audit verify --har %s FILE'.", h.RunID, o.HAR))
	}
	if err != nil {
		return nil, err
	}
	if r.ID != h.RunID {
		return nil, cmdutil.WithHint(fmt.Errorf("%s was written from run %s, not from run %s (%s)", o.HAR, h.RunID, r.ID, r.Name),
			fmt.Sprintf("Run 'moat audit verify --har %s' to check it against its own run.", o.HAR))
	}
	pub, err := audit.LoadPublicKey(store.KeysDir())
	if err != nil {
		return nil, err
	}
	f, err := run.OpenAuditLog(store, r.ID)
	if err != nil {
		return nil, fmt.Errorf("run %s has no audit log: %w", r.ID, err)
	}
	defer f.Close()
	rep, err := audit.Verify(f, r.ID, pub)
	if err != nil {
		return nil, err
	}
	text, err := rep.Describe(fmt.Sprintf("run %s (%s)", r.ID, r.Name), r.Status.Active())
	fmt.Fprint(o.IO.Out, termtext.String(text))
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return readEntries(f, uint64(rep.Entries))
}

// readEntries reads the log's first n entries, those Verify checked: a
// running run's log may have grown since.
func readEntries(r io.Reader, n uint64) ([]audit.Entry, error) {
	var entries []audit.Entry
	ar := audit.NewReader(r)
	for uint64(len(entries)) < n {
		e, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the audit log: %w", err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}
