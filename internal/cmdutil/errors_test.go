package cmdutil

import (
	"errors"
	"io"
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
		cmd := &cobra.Command{Use: "thing NAME", Args: cobra.ExactArgs(1), RunE: func(*cobra.Command, []string) error { return nil }}
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

func TestArgCountWording(t *testing.T) {
	tests := []struct{ cobraMsg, want string }{
		{"requires at least 1 arg(s), only received 0", "takes at least 1 argument, not 0"},
		{"accepts at most 2 arg(s), received 3", "takes at most 2 arguments, not 3"},
		{"accepts between 1 and 2 arg(s), received 0", "takes 1 to 2 arguments, not 0"},
	}
	cmd := &cobra.Command{Use: "thing"}
	for _, tt := range tests {
		if got := UsageError(cmd, errors.New(tt.cobraMsg)).Error(); !strings.Contains(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.cobraMsg, got, tt.want)
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
