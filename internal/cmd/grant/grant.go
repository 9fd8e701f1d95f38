// Package grant implements 'moat grant': store a credential (a GitHub
// token, an Anthropic, OpenAI or Gemini API key, a Claude subscription
// token, or a header for any HTTP API) that runs use through the proxy
// without the agent ever seeing it. Its subcommand 'moat grant list' lives
// in grant/list.
package grant

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmd/grant/list"
	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
	"github.com/moatsh/moat/internal/iostreams"
	"github.com/moatsh/moat/internal/textdist"
)

// Options are the flags and arguments of 'moat grant KIND'.
type Options struct {
	IO     *iostreams.IOStreams
	Grants func() (*grant.Store, error)
	Getenv func(string) string
	// Prompt reads a secret from the terminal without echo.
	Prompt func(ctx context.Context, fd int) ([]byte, error)

	Grant      grant.Grant // Name and Kind; Hosts and Header for http; Hosts for ssh
	SSH        SSHFlags
	Token      string
	TokenSet   bool // --token was given (even empty)
	TokenStdin bool
}

func newOptions(f *cmdutil.Factory) *Options {
	return &Options{IO: f.IOStreams, Grants: f.Grants, Getenv: os.Getenv, Prompt: readHidden}
}

// NewCmdGrant builds 'moat grant' and its subcommands; runF replaces the
// work of the kind subcommands in tests.
func NewCmdGrant(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "grant <kind>",
		Short: "Store a credential that runs use without seeing it",
		Long: `Store a credential for runs: a GitHub token, an Anthropic, OpenAI or Gemini
API key, a Claude Pro or Max subscription token, a header for any HTTP API,
or an SSH key that signs only for the hosts you name (runs cannot use SSH
keys yet). Grants are encrypted (AES-256-GCM) under $MOAT_HOME/grants, with
the key in the OS keyring, or in a 0600 key file where there is none.

A run that names a grant ('grants: [github]' in agent.yaml, or
'moat run --grant github') gets the credential injected by its proxy into
requests to the grant's hosts; the agent sees only a placeholder. Storing a
grant under a name that exists replaces it. See 'moat revoke' to delete one.`,
		Example: `  # GitHub: from GITHUB_TOKEN, GH_TOKEN or 'gh auth token'
  $ moat grant github

  # An API key from a file or a password manager
  $ moat grant anthropic --token-stdin < ~/.secrets/anthropic

  # A Claude subscription: the token 'claude setup-token' prints
  $ moat grant claude --token-stdin

  # Any API: the stored value is the header's whole value
  $ echo "Bearer $TOKEN" | moat grant http internal-api --host api.example.com --header Authorization --token-stdin

  # An SSH key, for github.com only
  $ moat grant ssh github-ssh --host github.com --key ~/.ssh/id_ed25519

  $ moat grant list`,
		Args: kindArg,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	for _, k := range grant.Kinds() {
		switch {
		case k.Kind == grant.SSH:
			cmd.AddCommand(newCmdSSH(f, k, runF))
		case k.Fixed():
			cmd.AddCommand(newCmdBuiltin(f, k, runF))
		default:
			cmd.AddCommand(newCmdHTTP(f, k, runF))
		}
	}
	cmd.AddCommand(list.NewCmdList(f, nil))
	return cmd
}

// kindArg rejects an unknown kind, repeating it only when it could be a
// grant name: a token pasted in its place must not be printed.
func kindArg(_ *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	kinds := "must be " + grant.KindChoices()
	if grant.ValidateName(args[0]) != nil {
		return cmdutil.FlagErrorf("unknown grant kind: %s", kinds)
	}
	err := fmt.Errorf("unknown grant kind %q: %s", args[0], kinds)
	hint := fmt.Sprintf("For another API, run 'moat grant http %s --host HOST --header NAME'.", args[0])
	if k, ok := closeKind(args[0]); ok {
		hint = fmt.Sprintf("Did you mean 'moat grant %s'?", k)
	}
	return &cmdutil.FlagError{Err: cmdutil.WithHint(err, hint)}
}

// closeKind returns the kind name is a typo of: one edit away. ("gitlab"
// is two from github, and more likely another API.)
func closeKind(name string) (grant.Kind, bool) {
	for _, k := range grant.Kinds() {
		if textdist.Distance(name, string(k.Kind)) <= 1 {
			return k.Kind, true
		}
	}
	return "", false
}

func newCmdBuiltin(f *cmdutil.Factory, k grant.KindSpec, runF func(context.Context, *Options) error) *cobra.Command {
	opts := newOptions(f)
	opts.Grant = grant.Grant{Name: string(k.Kind), Kind: k.Kind}
	cmd := &cobra.Command{
		Use:   string(k.Kind),
		Short: fmt.Sprintf("Store %s for runs", article(k.Credential)),
		Long: fmt.Sprintf(`Store %s as the grant %q.

Runs that use it get it injected by the proxy into requests to
%s; the agent sees only a placeholder.

The %s comes from the first of:
%s`, article(k.Credential), k.Kind, strings.Join(k.Hosts, " and "), k.Credential, sourceOrder(k.Token)),
		Example: fmt.Sprintf("  $ moat grant %s\n  $ moat grant %[1]s --token-stdin < token.txt", k.Kind),
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.tokenFlags(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return grantRun(cmd.Context(), opts)
		},
	}
	addTokenFlags(cmd, opts, "`TOKEN`", "the token")
	return cmd
}

// noArgs rejects arguments without repeating them: the likely one is a
// token typed where a flag was meant.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return cmdutil.FlagErrorf("%s takes no arguments; pass the token with --token-stdin or --token", cmd.CommandPath())
	}
	return nil
}

// newCmdHTTP builds the command of a kind whose grants name their own
// hosts and header (http).
func newCmdHTTP(f *cmdutil.Factory, k grant.KindSpec, runF func(context.Context, *Options) error) *cobra.Command {
	opts := newOptions(f)
	cmd := &cobra.Command{
		Use:   string(k.Kind) + " <name> --host HOST --header NAME",
		Short: "Store a header for any HTTP API",
		Long: `Store a credential for any HTTP API as the grant <name>: runs that use it
get the header NAME, with the stored value, on every request to each HOST
(over HTTPS; without a port, only 443), replacing whatever the agent sent.
A host may start with "*." to cover every subdomain.

The stored value is the header's whole value, verbatim: for a bearer token,
store "Bearer <token>". It comes from --token-stdin or --token, or a prompt
when stdin is a terminal; the environment is not read.`,
		Example: `  $ echo "Bearer $TOKEN" | moat grant http internal-api --host api.example.com --header Authorization --token-stdin
  $ moat grant http gitlab --host gitlab.com --host '*.gitlab.example.com' --header Private-Token`,
		Args: cmdutil.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Grant.Name, opts.Grant.Kind = args[0], k.Kind
			if len(opts.Grant.Hosts) == 0 {
				return cmdutil.FlagErrorf("--host is required: name the hosts the header goes to (repeat --host for each)")
			}
			if opts.Grant.Header == "" {
				return cmdutil.FlagErrorf("--header is required: name the header that carries the credential")
			}
			if err := opts.tokenFlags(cmd); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return grantRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringSliceVar(&opts.Grant.Hosts, "host", nil, "Inject the header into requests to `HOST` (repeatable)")
	cmd.Flags().StringVar(&opts.Grant.Header, "header", "", "The header's `NAME`, e.g. Authorization or X-Api-Key")
	addTokenFlags(cmd, opts, "`VALUE` as the header's value", "the header's value")
	return cmd
}

func addTokenFlags(cmd *cobra.Command, opts *Options, flagWhat, stdinWhat string) {
	cmd.Flags().StringVar(&opts.Token, "token", "", "Store "+flagWhat+" (it may stay in shell history; prefer --token-stdin)")
	cmd.Flags().BoolVar(&opts.TokenStdin, "token-stdin", false, "Read "+stdinWhat+" from stdin")
}

// tokenFlags records whether --token was given and checks the two token
// flags are not combined.
func (o *Options) tokenFlags(cmd *cobra.Command) error {
	o.TokenSet = cmd.Flags().Changed("token")
	if o.TokenSet && o.TokenStdin {
		return cmdutil.FlagErrorf("--token and --token-stdin cannot be used together")
	}
	return nil
}

func grantRun(ctx context.Context, o *Options) error {
	g, err := o.Grant.Normalize() // bad hosts or names fail before any secret is read
	if err != nil {
		return err
	}
	store, err := o.Grants()
	if err != nil {
		return err
	}
	secret, err := o.readToken(ctx, g)
	if err != nil {
		return err
	}
	if k, _ := grant.LookupKind(g.Kind); k.Parse != nil {
		if secret, err = k.Parse(secret.Reveal()); err != nil {
			return cmdutil.WithHint(fmt.Errorf("moat grant %s: %w", g.Kind, err), k.Token.Hint)
		}
	}
	existed := exists(store, g.Name)
	if err := store.Put(g, secret); err != nil {
		return err
	}
	w := o.IO.ErrOut
	if existed {
		fmt.Fprintf(w, "Replaced grant %s\n", g.Name)
	}
	fmt.Fprintf(w, "Granted %s (%s); runs use it with 'grants: [%[1]s]' in agent.yaml or 'moat run --grant %[1]s'\n",
		g.Name, strings.Join(g.Hosts, ", "))
	if k, _ := grant.LookupKind(g.Kind); k.Note != "" {
		fmt.Fprintln(w, "note: "+k.Note)
	}
	keyNote(w, store.KeySource())
	return nil
}

// exists reports whether a grant called name is stored. A listing that
// fails (an unreadable file) counts as no: the grant is stored anyway.
func exists(store *grant.Store, name string) bool {
	gs, err := store.List()
	if err != nil {
		return false
	}
	for _, g := range gs {
		if g.Name == name {
			return true
		}
	}
	return false
}

// keyNote states where the key is when it is not in an OS keyring.
func keyNote(w io.Writer, ks grant.KeySource) {
	path, reused, ok := grant.KeyFileInUse(ks)
	switch {
	case !ok:
	case reused:
		fmt.Fprintf(w, "note: the grant key is kept in %s (0600), not in an OS keyring\n", path)
	default:
		fmt.Fprintf(w, "note: no OS keyring here; the grant key is kept in %s (0600)\n", path)
	}
}
