package grant

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the kinds tables in docs/grants.md")

const grantsDoc = "../../docs/grants.md"

// TestDocsKindTables checks that each table of docs/grants.md that
// follows a "<!-- NAME: generated ... -->" line is the one the kinds table
// renders. Run with -update to rewrite them, and review the diff.
func TestDocsKindTables(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(grantsDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, tbl := range []struct {
		name   string
		render func([]KindSpec) string
	}{
		{"kinds table", kindsTable},
		{"injection table", injectionTable},
	} {
		marker := fmt.Sprintf("<!-- %s: generated from internal/grant/kinds.go by TestDocsKindTables -->\n", tbl.name)
		start := strings.Index(doc, marker)
		if start < 0 {
			t.Fatalf("%s: no line %q", grantsDoc, strings.TrimSpace(marker))
		}
		start += len(marker)
		end := start
		for end < len(doc) && doc[end] == '|' {
			end += strings.IndexByte(doc[end:], '\n') + 1
		}
		want := tbl.render(Kinds())
		if got := doc[start:end]; got != want {
			if !*update {
				t.Errorf("%s: the %s differs from internal/grant/kinds.go (run go test ./internal/grant -run TestDocsKindTables -update):\ngot:\n%swant:\n%s",
					grantsDoc, tbl.name, got, want)
				continue
			}
			doc = doc[:start] + want + doc[end:]
		}
	}
	if *update {
		if err := os.WriteFile(grantsDoc, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// kindsTable renders one row per kind: what it stores, where it goes and
// where 'moat grant KIND' finds the token.
func kindsTable(ks []KindSpec) string {
	var b strings.Builder
	b.WriteString("| kind | stores | hosts | header | environment or file, in order | command |\n|---|---|---|---|---|---|\n")
	for _, k := range ks {
		hosts, header := "given with `--host`", "given with `--header`"
		if k.Fixed() {
			hosts, header = code(k.Hosts, ", "), "several"
			if h := k.header(); h != "" {
				header = "`" + h + "`"
			}
		}
		env, command := "never read", "none"
		if len(k.Token.Env) > 0 {
			env = code(k.Token.Env, ", then ")
		}
		if k.Token.File != "" {
			env = fmt.Sprintf("`$%s/%s` (`%s/%[2]s` when %[1]s is unset)", k.Token.FileIn, k.Token.File, k.Token.FileDefault)
		}
		if len(k.Token.Command) > 0 {
			command = "`" + strings.Join(k.Token.Command, " ") + "`"
		}
		if k.Apply.Channel() == ChannelSSH {
			header, env = "none", "the `--key` file, or the ssh-agent at `$SSH_AUTH_SOCK` (`--agent-key`)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", k.Kind, k.Credential, hosts, header, env, command)
	}
	return b.String()
}

// injectionTable renders each kind's docs rows with its placeholder
// variables.
func injectionTable(ks []KindSpec) string {
	var b strings.Builder
	b.WriteString("| grant | injected as | into | the agent's variables |\n|---|---|---|---|\n")
	for _, k := range ks {
		vars := "none"
		if len(k.Placeholders) > 0 {
			vars = code(slices.Sorted(maps.Keys(k.Placeholders)), ", ")
		}
		for _, d := range k.Docs {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", k.Kind, d.InjectedAs, d.Into, vars)
		}
	}
	return b.String()
}

func code(items []string, sep string) string {
	return "`" + strings.Join(items, "`"+sep+"`") + "`"
}
