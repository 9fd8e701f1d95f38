package suggest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/moatsh/moat/internal/config"
)

// FuzzEdit feeds the editor agent.yaml files the agent could have written.
// Whatever the input, Edit returns an error or a patch; a patch keeps
// every line of the file it does not edit, reads back as the same config
// with the rules added (Edit checks that itself), and its diff names the
// lines it changes.
func FuzzEdit(f *testing.F) {
	for _, seed := range []string{
		"",
		"name: web\n",
		"network:\n  allow:\n    - a.example.com # x\n  ca: ca.pem\n",
		"network:\n  policy: permissive\n  allow: [a.example.com, \"*.b.example.com\"]\n",
		"network: {policy: strict}\n",
		"\ufeffnetwork:\r\n  hosts:\r\n    api.test: 127.0.0.1\r\n",
		"network:\n  allow:\n  - a.example.com\n  policy: 'permissive'\n",
		"dependencies: &d [curl]\nnetwork:\n  allow: *d\n",
		"network:\n  allow: [\n    a.example.com,\n  ]\n",
		"network:\n  allow: \"a\\\n    .example.com\"\n",
		"network:\n  ca: |-\n    ca.pem\n",
		"network:\n",
		"name: web\n...\n",
	} {
		f.Add([]byte(seed), true)
	}
	change := Change{Allow: []string{"new.example.com", "*.cdn.example.com:8443"}, Risky: []Risky{{Pattern: "10.0.0.1:9", Reason: "private"}}}
	f.Fuzz(func(t *testing.T, data []byte, strict bool) {
		change := change
		before, err := config.Parse("agent.yaml", data)
		change.Strict = strict && err == nil && before.Network.Policy == "permissive"
		p, err := Edit("agent.yaml", data, change)
		if err != nil {
			var ee *EditError
			if errors.As(err, &ee) && ee.Why == "" {
				t.Fatalf("an *EditError without a reason: %#v", ee)
			}
			return
		}
		kept := 0
		for _, l := range p.old.lines {
			if bytes.Contains(p.New, []byte(l)) {
				kept++
			}
		}
		if edited := len(p.old.lines) - kept; edited > 2 {
			t.Fatalf("%d lines of the file are gone from the edit:\n%q\n%q", edited, data, p.New)
		}
		if d := p.Diff("agent.yaml"); !bytes.Contains([]byte(d), []byte("+    - new.example.com")) && !bytes.Contains([]byte(d), []byte("new.example.com, ")) && !bytes.Contains([]byte(d), []byte("- new.example.com")) {
			t.Fatalf("the diff does not add the rule:\n%s", d)
		}
	})
}
