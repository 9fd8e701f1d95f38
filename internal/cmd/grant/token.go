package grant

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/grant"
)

// maxToken bounds what --token-stdin reads: a token, not a file.
const maxToken = 64 << 10

// cliTimeout bounds the token command (gh reads its own keyring).
const cliTimeout = 15 * time.Second

// article puts "a" or "an" before what.
func article(what string) string {
	if strings.ContainsRune("AEIOU", rune(what[0])) {
		return "an " + what
	}
	return "a " + what
}

// sourceOrder lists, for help, where the token comes from.
func sourceOrder(src grant.TokenSource) string {
	steps := []string{"--token or --token-stdin"}
	if len(src.Env) > 0 {
		steps = append(steps, strings.Join(src.Env, ", then "))
	}
	if src.File != "" {
		steps = append(steps, fmt.Sprintf("$%s/%s (%s/%[2]s when %[1]s is unset)", src.FileIn, src.File, src.FileDefault))
	}
	if len(src.Command) > 0 {
		steps = append(steps, "'"+strings.Join(src.Command, " ")+"', if "+src.Command[0]+" is installed")
	}
	steps = append(steps, "a prompt that does not echo, when stdin is a terminal")
	var b strings.Builder
	for i, step := range steps {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, step)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// credential says what the secret to store for g is: its kind's
// Credential, or the value of the header a grant names for itself.
func credential(k grant.KindSpec, g grant.Grant) string {
	if !k.Fixed() && g.Header != "" {
		return "value of the " + g.Header + " header"
	}
	return k.Credential
}

// readToken returns the secret to store for g, from the first source that
// has one: --token, --token-stdin, the environment, the kind's CLI, a
// prompt on a terminal. Surrounding white space is dropped. It says on
// stderr which implicit source it used, never the value.
func (o *Options) readToken(ctx context.Context, g grant.Grant) (grant.Secret, error) {
	k, _ := grant.LookupKind(g.Kind) // g is normalized: its kind exists
	src, what := k.Token, credential(k, g)
	w := o.IO.ErrOut
	switch {
	case o.TokenSet:
		fmt.Fprintln(w, "warning: --token can leave the secret in your shell history and process list; prefer --token-stdin")
		return secret(o.Token), nil
	case o.TokenStdin:
		return readStdin(o.IO.In)
	}
	for _, name := range src.Env {
		if v := o.Getenv(name); strings.TrimSpace(v) != "" {
			fmt.Fprintf(w, "Using the %s in %s\n", what, name)
			return secret(v), nil
		}
	}
	if src.File != "" {
		path := tokenFile(src, o.Getenv)
		b, err := readFileBounded(path)
		switch {
		case err == nil:
			fmt.Fprintf(w, "Using the %s in %s\n", what, path)
			return grant.NewSecret(b), nil
		case !errors.Is(err, fs.ErrNotExist):
			return grant.Secret{}, fmt.Errorf("reading the %s: %w", what, err)
		}
	}
	cliWhy := ""
	if len(src.Command) > 0 {
		v, why := cliToken(ctx, src.Command)
		if v != "" {
			fmt.Fprintf(w, "Using the %s from '%s'\n", what, strings.Join(src.Command[:3], " "))
			return secret(v), nil
		}
		cliWhy = why
	}
	if o.IO.IsStdinTTY() {
		fmt.Fprintf(w, "Paste the %s (it is not shown): ", what)
		b, err := o.Prompt(ctx, o.IO.InFd())
		fmt.Fprintln(w)
		if err != nil {
			return grant.Secret{}, fmt.Errorf("reading the %s from the terminal: %w", what, err)
		}
		return secret(string(b)), nil
	}
	return grant.Secret{}, noToken(g, src, what, cliWhy)
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

// tokenFile is where src's file is: in the directory its variable names,
// else in its default directory.
func tokenFile(src grant.TokenSource, getenv func(string) string) string {
	dir := getenv(src.FileIn)
	if dir == "" {
		dir = src.FileDefault
		if rest, ok := strings.CutPrefix(dir, "~/"); ok {
			home, _ := os.UserHomeDir()
			dir = filepath.Join(home, rest)
		}
	}
	return filepath.Join(dir, src.File)
}

// readFileBounded reads a file that holds a token: at most maxToken bytes.
func readFileBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxToken+1))
	if err == nil && len(b) > maxToken {
		err = fmt.Errorf("%s is larger than %d KiB", path, maxToken>>10)
	}
	return b, err
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
func noToken(g grant.Grant, src grant.TokenSource, what, cliWhy string) error {
	tried := []string{"no --token or --token-stdin"}
	if len(src.Env) > 0 {
		tried = append(tried, strings.Join(src.Env, " and ")+" are empty")
		if len(src.Env) == 1 {
			tried[1] = src.Env[0] + " is empty"
		}
	}
	if src.File != "" {
		tried = append(tried, "there is no "+src.File+" in $"+src.FileIn+" or "+src.FileDefault)
	}
	if cliWhy != "" {
		tried = append(tried, cliWhy)
	}
	tried = append(tried, "and stdin is not a terminal to prompt on")
	err := fmt.Errorf("no %s to store: %s", what, strings.Join(tried, ", "))
	hint := src.Hint
	switch {
	case hint != "":
	case src.Login != "" && len(src.Env) > 0:
		hint = fmt.Sprintf("Pipe it in with 'moat grant %s --token-stdin', set %s, or run '%s' first.", g.Kind, src.Env[0], src.Login)
	case len(src.Env) > 0:
		hint = fmt.Sprintf("Pipe it in with 'moat grant %s --token-stdin', or set %s.", g.Kind, src.Env[0])
	default:
		hint = fmt.Sprintf("Pipe it in with 'moat grant %s --token-stdin'.", g.Kind)
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
