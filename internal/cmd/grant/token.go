package grant

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
)

// source says where a kind's token may come from when no flag gives it.
type source struct {
	what  string   // "GitHub token"
	env   []string // variables tried in order
	cli   []string // a command that prints the token, tried last
	login string   // how to log that command in
}

var sources = map[grant.Kind]source{
	grant.GitHub: {what: "GitHub token", env: []string{"GITHUB_TOKEN", "GH_TOKEN"},
		cli: []string{"gh", "auth", "token", "--hostname", "github.com"}, login: "gh auth login"},
	grant.Anthropic: {what: "Anthropic API key", env: []string{"ANTHROPIC_API_KEY"}},
	grant.OpenAI:    {what: "OpenAI API key", env: []string{"OPENAI_API_KEY"}},
}

// maxToken bounds what --token-stdin reads: a token, not a file.
const maxToken = 64 << 10

// cliTimeout bounds the token command (gh reads its own keyring).
const cliTimeout = 15 * time.Second

func (s source) article() string {
	if strings.ContainsRune("AEIOU", rune(s.what[0])) {
		return "an " + s.what
	}
	return "a " + s.what
}

// order lists, for help, where the token comes from.
func (s source) order() string {
	steps := []string{"--token or --token-stdin"}
	if len(s.env) > 0 {
		steps = append(steps, strings.Join(s.env, ", then "))
	}
	if len(s.cli) > 0 {
		steps = append(steps, "'"+strings.Join(s.cli, " ")+"', if "+s.cli[0]+" is installed")
	}
	steps = append(steps, "a prompt that does not echo, when stdin is a terminal")
	var b strings.Builder
	for i, step := range steps {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, step)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// readToken returns the secret to store for g, from the first source that
// has one: --token, --token-stdin, the environment, the kind's CLI, a
// prompt on a terminal. Surrounding white space is dropped. It says on
// stderr which implicit source it used, never the value.
func (o *Options) readToken(ctx context.Context, g grant.Grant) (grant.Secret, error) {
	src, ok := sources[g.Kind]
	if !ok {
		src = source{what: "value of the " + g.Header + " header"}
	}
	w := o.IO.ErrOut
	switch {
	case o.TokenSet:
		fmt.Fprintln(w, "warning: --token can leave the secret in your shell history and process list; prefer --token-stdin")
		return secret(o.Token), nil
	case o.TokenStdin:
		return readStdin(o.IO.In)
	}
	for _, name := range src.env {
		if v := o.Getenv(name); strings.TrimSpace(v) != "" {
			fmt.Fprintf(w, "Using the %s in %s\n", src.what, name)
			return secret(v), nil
		}
	}
	cliWhy := ""
	if len(src.cli) > 0 {
		v, why := cliToken(ctx, src.cli)
		if v != "" {
			fmt.Fprintf(w, "Using the %s from '%s'\n", src.what, strings.Join(src.cli[:3], " "))
			return secret(v), nil
		}
		cliWhy = why
	}
	if o.IO.IsStdinTTY() {
		fmt.Fprintf(w, "Paste the %s (it is not shown): ", src.what)
		b, err := o.Prompt(ctx, o.IO.InFd())
		fmt.Fprintln(w)
		if err != nil {
			return grant.Secret{}, fmt.Errorf("reading the %s from the terminal: %w", src.what, err)
		}
		return secret(string(b)), nil
	}
	return grant.Secret{}, noToken(g, src, cliWhy)
}

func secret(s string) grant.Secret { return grant.NewSecret([]byte(strings.TrimSpace(s))) }

func readStdin(in io.Reader) (grant.Secret, error) {
	b, err := io.ReadAll(io.LimitReader(in, maxToken+1))
	if err != nil {
		return grant.Secret{}, fmt.Errorf("reading the token from stdin: %w", err)
	}
	if len(b) > maxToken {
		return grant.Secret{}, cmdutil.WithHint(fmt.Errorf("reading the token from stdin: more than %d KiB", maxToken>>10),
			"Pipe in the token alone, not a file that holds it among other things.")
	}
	return secret(string(b)), nil
}

// cliToken runs argv and returns what it prints, or "" and why not. Its
// stderr is not shown: a failure only means this source has no token.
func cliToken(ctx context.Context, argv []string) (token, why string) {
	if _, err := exec.LookPath(argv[0]); err != nil {
		return "", argv[0] + " is not installed"
	}
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v, ""
	}
	return "", fmt.Sprintf("'%s' printed none", strings.Join(argv[:3], " "))
}

// noToken says which sources were tried and how to supply one.
func noToken(g grant.Grant, src source, cliWhy string) error {
	tried := []string{"no --token or --token-stdin"}
	if len(src.env) > 0 {
		tried = append(tried, strings.Join(src.env, " and ")+" are empty")
		if len(src.env) == 1 {
			tried[1] = src.env[0] + " is empty"
		}
	}
	if cliWhy != "" {
		tried = append(tried, cliWhy)
	}
	tried = append(tried, "and stdin is not a terminal to prompt on")
	err := fmt.Errorf("no %s to store: %s", src.what, strings.Join(tried, ", "))
	var hint string
	switch {
	case g.Kind == grant.HTTP:
		hint = "Pipe the header's value in with --token-stdin (for a bearer token, the value is 'Bearer <token>')."
	case src.login != "":
		hint = fmt.Sprintf("Pipe it in with 'moat grant %s --token-stdin', set %s, or run '%s' first.", g.Kind, src.env[0], src.login)
	default:
		hint = fmt.Sprintf("Pipe it in with 'moat grant %s --token-stdin', or set %s.", g.Kind, src.env[0])
	}
	return cmdutil.WithHint(err, hint)
}

// readHidden reads a line from the terminal fd without echo. Ctrl-C, which
// cancels ctx, restores the terminal and gives up.
func readHidden(ctx context.Context, fd int) ([]byte, error) {
	old, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-ctx.Done():
		term.Restore(fd, old)
		return nil, cmdutil.CancelError
	}
}
