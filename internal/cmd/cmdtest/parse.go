package cmdtest

import (
	"bytes"
	"context"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/iostreams"
)

// Parse builds a command with newCmd, as the CLI does but with test
// streams and the factory's Version "test", runs it with args, and returns
// the options its run function got (nil if it was not called) and the
// command's error: the flag and argument parsing of a gh-style command,
// without running it.
func Parse[O any](newCmd func(*cmdutil.Factory, func(context.Context, *O) error) *cobra.Command, args []string) (*O, *iostreams.IOStreams, error) {
	ios, _, _, _ := iostreams.Test()
	var got *O
	cmd := newCmd(&cmdutil.Factory{IOStreams: ios, Version: "test"}, func(_ context.Context, o *O) error {
		got = o
		return nil
	})
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	err := cmd.Execute()
	return got, ios, err
}

// WantError reports whether err is what want asks for ("" wants none), in
// words for the test's failure.
func WantError(err error, want string) (ok bool, why string) {
	switch {
	case want == "" && err != nil:
		return false, "unexpected error: " + err.Error()
	case want != "" && (err == nil || err.Error() != want):
		if err == nil {
			return false, "no error, want " + want
		}
		return false, "error " + err.Error() + ", want " + want
	}
	return true, ""
}
