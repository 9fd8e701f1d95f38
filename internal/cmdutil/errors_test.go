package cmdutil

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestUsageErrorWording runs real cobra commands with bad flag values and
// argument counts: the error names the flag and what it takes, never Go's
// parser ("strconv.ParseInt") or cobra's "arg(s)".
func TestUsageErrorWording(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-t", "abc", "x"}, `invalid value "abc" for -t/--time: want a whole number`},
		{[]string{"--time", "99999999999999999999", "x"}, `invalid value "99999999999999999999" for -t/--time: the number is out of range`},
		{[]string{"--count", "-1", "x"}, `invalid value "-1" for --count: want a whole number, 0 or more`},
		{[]string{"--wait", "soon", "x"}, `invalid value "soon" for --wait: want a duration such as 30s`},
		{[]string{"--force=maybe", "x"}, `invalid value "maybe" for --force: want true or false`},
		{[]string{"--ratio", "half", "x"}, `invalid value "half" for --ratio: want a number`},
		{nil, "'thing' takes 1 argument, not 0\n\nUsage: thing NAME [flags]"},
		{[]string{"a", "b"}, "'thing' takes 1 argument, not 2"},
	}
	for _, tt := range tests {
		cmd := &cobra.Command{Use: "thing NAME", Args: ExactArgs(1), RunE: func(*cobra.Command, []string) error { return nil }}
		cmd.Flags().IntP("time", "t", 10, "")
		cmd.Flags().Uint("count", 0, "")
		cmd.Flags().Duration("wait", time.Second, "")
		cmd.Flags().Bool("force", false, "")
		cmd.Flags().Float64("ratio", 0, "")
		cmd.SetFlagErrorFunc(UsageError)
		check := cmd.Args
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return UsageError(c, err)
			}
			return nil
		}
		cmd.SetArgs(tt.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		var flagErr *FlagError
		if !errors.As(err, &flagErr) {
			t.Errorf("%q: got %v, want a FlagError", tt.args, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tt.want) || strings.Contains(msg, "strconv") || strings.Contains(msg, "(s)") {
			t.Errorf("%q: got %q, want it to contain %q", tt.args, msg, tt.want)
		}
	}
}

// TestArgCountWording: moat's own argument checks word every count, and
// tell a group's unknown command from a leaf's extra argument.
func TestArgCountWording(t *testing.T) {
	leaf := &cobra.Command{Use: "thing [NAME]"}
	group := &cobra.Command{Use: "group"}
	group.AddCommand(&cobra.Command{Use: "sub", Run: func(*cobra.Command, []string) {}})
	tests := []struct {
		check cobra.PositionalArgs
		cmd   *cobra.Command
		n     int
		want  string // "" accepts
	}{
		{ExactArgs(1), leaf, 1, ""},
		{ExactArgs(2), leaf, 1, "'thing' takes 2 arguments, not 1\n\nUsage: thing [NAME]"},
		{MinimumNArgs(1), leaf, 0, "'thing' takes at least 1 argument, not 0"},
		{MinimumNArgs(1), leaf, 5, ""},
		{MaximumNArgs(2), leaf, 3, "'thing' takes at most 2 arguments, not 3"},
		{MaximumNArgs(1), leaf, 0, ""},
		{RangeArgs(1, 2), leaf, 0, "'thing' takes 1 to 2 arguments, not 0"},
		{RangeArgs(1, 2), leaf, 2, ""},
		{NoArgs, leaf, 1, "'thing' takes no arguments, not 1"},
		{NoArgs, leaf, 0, ""},
		{NoArgs, group, 1, `unknown command "a0" for "group"`},
	}
	for _, tt := range tests {
		args := make([]string, tt.n)
		for i := range args {
			args[i] = "a" + strconv.Itoa(i)
		}
		err := tt.check(tt.cmd, args)
		var flagErr *FlagError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s with %d: got %v, want it accepted", tt.cmd.Name(), tt.n, err)
		case tt.want != "" && (!errors.As(err, &flagErr) || !strings.HasPrefix(err.Error(), tt.want)):
			t.Errorf("%s with %d: got %v, want a FlagError starting %q", tt.cmd.Name(), tt.n, err, tt.want)
		}
	}
}

// TestFormatMissingField: a --format field the item lacks is named with
// the fields it has, not with moat's Go type.
func TestFormatMissingField(t *testing.T) {
	type item struct {
		Name   string
		Status string
		hidden int
	}
	f, err := ParseFormat("{{.Nope}}")
	if err != nil {
		t.Fatal(err)
	}
	err = f.Execute(io.Discard, false, nil, []any{item{}})
	var flagErr *FlagError
	if !errors.As(err, &flagErr) {
		t.Fatalf("got %v, want a FlagError", err)
	}
	if msg := err.Error(); msg != "invalid --format template: there is no field .Nope" {
		t.Errorf("got %q", msg)
	}
	if hint := HintOf(err); hint != "Fields: .Name, .Status." {
		t.Errorf("hint %q, want the exported fields", hint)
	}
}
