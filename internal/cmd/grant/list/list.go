// Package list implements 'moat grant list': the stored grants, without
// their secrets.
package list

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/iostreams"
)

// Options are the flags of 'moat grant list'.
type Options struct {
	IO     *iostreams.IOStreams
	Grants func() (*grant.Store, error)

	JSON   bool
	Quiet  bool
	Format string
}

// NewCmdList builds the command; runF replaces the work in tests.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Grants: f.Grants}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List stored grants",
		Long: `List the stored grants: each one's name, kind, the hosts it is injected
into, the header it sets, when it was stored and, for an ssh grant, its
key's fingerprint and where the key is (file: sealed in the grant; agent:
kept by your ssh-agent). Secrets are never shown, and listing does not
read the key.`,
		Example: `  $ moat grant list
  $ moat grant list -q
  $ moat grant list --format '{{.Name}} {{join .Hosts ","}}'
  $ moat grant list --json | jq -r '.[].name'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cmdutil.CheckOutputFlags(opts.Quiet, opts.JSON, opts.Format); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return listGrants(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "Print grants as a JSON array")
	cmd.Flags().BoolVarP(&opts.Quiet, "quiet", "q", false, "Print grant names only")
	cmd.Flags().StringVar(&opts.Format, "format", "", "Print each grant through a Go `template` (.Name, .Kind, .Hosts, .Header, .CreatedAt, .SSH)")
	return cmd
}

// noArgs rejects arguments without repeating them, in case one is a token.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return cmdutil.FlagErrorf("%s takes no arguments", cmd.CommandPath())
	}
	return nil
}

func listGrants(o *Options) error {
	store, err := o.Grants()
	if err != nil {
		return err
	}
	grants, err := store.List()
	if err != nil {
		return err
	}
	switch {
	case o.Format != "":
		format, err := cmdutil.ParseFormat(o.Format)
		if err != nil {
			return err
		}
		items := make([]any, len(grants))
		for i, g := range grants {
			items[i] = g
		}
		return format.Execute(o.IO.Out, o.IO.IsStdoutTTY(), grantHeaders, items)
	case o.Quiet:
		for _, g := range grants {
			fmt.Fprintln(o.IO.Out, g.Name)
		}
		return nil
	}
	if o.JSON {
		if grants == nil {
			grants = []grant.Grant{}
		}
		return cmdutil.WriteJSON(o.IO.Out, grants)
	}
	if len(grants) == 0 && o.IO.IsStdoutTTY() {
		fmt.Fprintln(o.IO.ErrOut, noGrantsHint())
		return nil
	}
	return writeTable(o.IO.Out, grants, o.IO.IsStdoutTTY())
}

// grantHeaders are the column names of a --format 'table ...'.
var grantHeaders = map[string]string{"Name": "NAME", "Kind": "KIND", "Hosts": "HOSTS", "Header": "HEADER", "CreatedAt": "CREATED", "SSH": "KEY"}

// noGrantsHint names the kinds: "No grants. Store one with 'moat grant
// github' (or anthropic, claude, openai, gemini, http)."
func noGrantsHint() string {
	var names []string
	for _, k := range grant.Kinds() {
		names = append(names, string(k.Kind))
	}
	return fmt.Sprintf("No grants. Store one with 'moat grant %s' (or %s).", names[0], strings.Join(names[1:], ", "))
}

// writeTable prints aligned columns with dates on a terminal, and
// tab-separated fields with RFC 3339 times otherwise.
func writeTable(w io.Writer, grants []grant.Grant, tty bool) error {
	var tw io.Writer = w
	var flush func() error
	if tty {
		t := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		tw, flush = t, t.Flush
	}
	fmt.Fprintln(tw, "NAME\tKIND\tHOSTS\tHEADER\tCREATED\tKEY")
	for _, g := range grants {
		created := g.CreatedAt.UTC().Format(time.RFC3339)
		if tty {
			created = g.CreatedAt.Local().Format(time.DateOnly)
		}
		header := g.Header
		if header == "" {
			header = "-"
		}
		fmt.Fprintln(tw, strings.Join([]string{g.Name, string(g.Kind), strings.Join(g.Hosts, ","), header, created, sshKey(g)}, "\t"))
	}
	if flush != nil {
		return flush()
	}
	return nil
}

// sshKey is an ssh grant's key and where it is: "SHA256:... (file)" or
// "SHA256:... (agent)"; "-" for other grants.
func sshKey(g grant.Grant) string {
	if g.SSH == nil {
		return "-"
	}
	return fmt.Sprintf("%s (%s)", g.SSH.Fingerprint, g.SSH.Source)
}
