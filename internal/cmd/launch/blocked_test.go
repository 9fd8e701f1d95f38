package launch

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/moatsh/moat/internal/suggest"
)

func TestWriteBlocked(t *testing.T) {
	tests := []struct {
		name   string
		blocks []suggest.Blocked
		rules  []string
		want   string
	}{
		{name: "one host, its rule",
			blocks: []suggest.Blocked{{Dest: "pypi.org:443", Requests: 1, Rule: "pypi.org"}},
			rules:  []string{"pypi.org"},
			want: "The network policy blocked 1 request of run web:\n" +
				"  pypi.org:443  1 request\n" +
				"These network.allow lines in agent.yaml would allow them:\n" +
				"    - pypi.org\n" +
				"'moat policy suggest web' writes them as a diff of agent.yaml; 'moat trace web' shows every request.\n"},
		{name: "risky and other refusals get no rule, and say why",
			blocks: []suggest.Blocked{
				{Dest: "files.example.com:8443", Requests: 3, Rule: "files.example.com:8443"},
				{Dest: "10.0.0.5:9", Requests: 1, Why: "not suggested: 10.0.0.5 is a private address (RFC 1918)"},
				{Dest: "api.example.com:443", Requests: 1, Why: "POST /x\x1b[2J on api.example.com is not allowed"},
			},
			rules: []string{"files.example.com:8443"},
			want: "The network policy blocked 5 requests of run web:\n" +
				"  files.example.com:8443  3 requests\n" +
				"  10.0.0.5:9              1 request   not suggested: 10.0.0.5 is a private address (RFC 1918)\n" +
				"  api.example.com:443     1 request   POST /x on api.example.com is not allowed\n" +
				"These network.allow lines in agent.yaml would allow them:\n" +
				"    - \"files.example.com:8443\"\n" +
				"'moat policy suggest web' writes them as a diff of agent.yaml; 'moat trace web' shows every request.\n"},
		{name: "nothing a rule would allow",
			blocks: []suggest.Blocked{{Dest: "169.254.169.254:80", Requests: 2, Why: "not suggested: 169.254.169.254 is the cloud metadata address"}},
			want: "The network policy blocked 2 requests of run web:\n" +
				"  169.254.169.254:80  2 requests  not suggested: 169.254.169.254 is the cloud metadata address\n" +
				"'moat trace web' shows every request.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			writeBlocked(&buf, "web", tt.blocks, tt.rules)
			if buf.String() != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", buf.String(), tt.want)
			}
		})
	}
}

// TestWriteBlockedLimit keeps a long summary short: the first destinations
// and rules, then how many more.
func TestWriteBlockedLimit(t *testing.T) {
	var blocks []suggest.Blocked
	var rules []string
	for i := range maxBlocked + 2 {
		host := fmt.Sprintf("h%d.example.com", i)
		blocks = append(blocks, suggest.Blocked{Dest: host + ":443", Requests: 1, Rule: host})
		rules = append(rules, host)
	}
	var buf bytes.Buffer
	writeBlocked(&buf, "web", blocks, rules)
	want := "The network policy blocked 7 requests of run web:\n" +
		"  h0.example.com:443  1 request\n  h1.example.com:443  1 request\n  h2.example.com:443  1 request\n" +
		"  h3.example.com:443  1 request\n  h4.example.com:443  1 request\n" +
		"  and 2 more destinations\n" +
		"These network.allow lines in agent.yaml would allow them:\n" +
		"    - h0.example.com\n    - h1.example.com\n    - h2.example.com\n    - h3.example.com\n    - h4.example.com\n" +
		"    # and 2 more rules\n" +
		"'moat policy suggest web' writes them as a diff of agent.yaml; 'moat trace web' shows every request.\n"
	if buf.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}
