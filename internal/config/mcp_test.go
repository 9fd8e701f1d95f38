package config

import (
	"reflect"
	"testing"
)

func TestParseMCP(t *testing.T) {
	t.Parallel()
	c, err := Parse("agent.yaml", []byte(`grants: [github]
mcp:
  - name: notes
    command: [notes-server, --stdio]
    env: {NOTES_DIR: /workspace/notes}
  - {name: docs, url: "https://MCP.example.com/mcp?team=a", grant: docs-token}
  - {name: other-port, url: "https://mcp.example.com:8443/mcp"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.MCP) != 3 {
		t.Fatalf("got %d servers", len(c.MCP))
	}
	local, remote, port := c.MCP[0], c.MCP[1], c.MCP[2]
	if local.Name != "notes" || !reflect.DeepEqual(local.Command, []string{"notes-server", "--stdio"}) ||
		local.Env["NOTES_DIR"] != "/workspace/notes" || local.URL != nil || local.Line != 3 || local.Col != 5 {
		t.Errorf("local server: %+v", local)
	}
	if remote.URL.String() != "https://MCP.example.com/mcp?team=a" || remote.Host() != "mcp.example.com" || remote.Grant != "docs-token" {
		t.Errorf("remote server: %+v, host %q", remote, remote.Host())
	}
	if port.Host() != "mcp.example.com:8443" {
		t.Errorf("host with a port: %q", port.Host())
	}
	if !reflect.DeepEqual(c.Grants, []string{"github", "docs-token"}) {
		t.Errorf("grants = %q, want agent.yaml's then the servers'", c.Grants)
	}
	before := c.Digest()
	c.MCP[0].Command = []string{"other"}
	if c.Digest() == before {
		t.Error("the digest does not cover mcp")
	}
}

func TestParseMCPErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, yaml, want, hint string }{
		{"not a list", "mcp: {name: x}\n", `agent.yaml:1:6: mcp: expected a list of servers, got a mapping`, mcpHint},
		{"not a mapping", "mcp: [notes]\n", `agent.yaml:1:7: mcp: expected a server (a mapping), got a string`, mcpHint},
		{"no name", "mcp:\n  - command: [x]\n", `agent.yaml:2:5: mcp: a server needs a name`, mcpHint},
		{"bad name", "mcp: [{name: \"a b\", command: [x]}]\n", `agent.yaml:1:14: mcp: "a b" is not a server name`,
			"Use letters, digits, - and _ (at most 40), starting with a letter or digit."},
		{"both", "mcp: [{name: a, command: [x], url: \"https://a.example\"}]\n",
			`agent.yaml:1:7: mcp a: give either command (a local server) or url (a remote one)`, mcpHint},
		{"neither", "mcp: [{name: a}]\n", `agent.yaml:1:7: mcp a: give either command (a local server) or url (a remote one)`, mcpHint},
		{"duplicate", "mcp:\n  - {name: a, command: [x]}\n  - {name: a, command: [y]}\n",
			`agent.yaml:3:5: mcp: duplicate server name "a" (first at 2:5)`, "Give each server a name of its own."},
		{"unknown field", "mcp: [{name: a, comand: [x]}]\n", `agent.yaml:1:17: mcp: unknown field "comand"`,
			"Valid fields of an mcp server: name, command, env, url, grant."},
		{"http", "mcp: [{name: a, url: \"http://a.example/mcp\"}]\n", `agent.yaml:1:22: mcp url "http://a.example/mcp": expected an https URL`,
			"Write the server's full https URL, e.g. https://mcp.example.com/mcp."},
		{"credentials in url", "mcp: [{name: a, url: \"https://u:pw@a.example/mcp\"}]\n",
			`agent.yaml:1:22: mcp url "https://u:xxxxx@a.example/mcp": credentials do not go in the URL`,
			"Store the credential with 'moat grant http NAME --host HOST --header Authorization' and name it in grant:."},
		{"address", "mcp: [{name: a, url: \"https://10.0.0.1/mcp\"}]\n",
			`agent.yaml:1:22: mcp url "https://10.0.0.1/mcp": the proxy reaches servers by name, not address`,
			"Use the server's host name; map it to an address with network.hosts if need be."},
		{"grant on local", "mcp: [{name: a, command: [x], grant: g}]\n", `agent.yaml:1:7: mcp a: grant is for remote servers`,
			"A local server runs in the container: give it no grant; the proxy injects credentials into its requests like any other."},
		{"env on remote", "mcp: [{name: a, url: \"https://a.example\", env: {A: b}}]\n", `agent.yaml:1:22: mcp a: env is for local servers`,
			"Remove env: it is for local servers."},
		{"bad grant name", "mcp: [{name: a, url: \"https://a.example\", grant: Bad_Name}]\n", `agent.yaml:1:50: invalid grant name "Bad_Name": must be 1 to 41 lower-case letters, digits or hyphens, starting with a letter or digit`,
			"Run 'moat grant list' to see the names of your grants."},
		{"empty command", "mcp: [{name: a, command: []}]\n", `agent.yaml:1:26: invalid command: the list is empty`,
			"Give the server's program and its arguments, e.g. command: [notes-server, --stdio]."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkError(t, tt.yaml, tt.want, tt.hint)
		})
	}
}
