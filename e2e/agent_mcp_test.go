//go:build e2e

package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/moatsh/moat/internal/testutil/fakeapi"
)

// stdioMCPServer is a local MCP server written in sh, one JSON-RPC message
// per line, as the stdio transport has it: its one tool, stamp, writes
// stamped.txt into the workspace, so the test sees that the agent started
// it in the container and called it.
const stdioMCPServer = `#!/bin/sh
while IFS= read -r line; do
  id=$(printf '%s\n' "$line" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p')
  ver=$(printf '%s\n' "$line" | sed -n 's/.*"protocolVersion":"\([^"]*\)".*/\1/p')
  case "$line" in
  *'"method":"initialize"'*)
    printf '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"%s","capabilities":{"tools":{}},"serverInfo":{"name":"stamp","version":"1.0.0"}}}\n' "$id" "$ver" ;;
  *'"method":"tools/list"'*)
    printf '{"jsonrpc":"2.0","id":%s,"result":{"tools":[{"name":"stamp","description":"Stamps the workspace","inputSchema":{"type":"object","properties":{}}}]}}\n' "$id" ;;
  *'"method":"tools/call"'*)
    echo "stamped" > /workspace/stamped.txt
    printf '{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"stamped by the local MCP server"}]}}\n' "$id" ;;
  *)
    if [ -n "$id" ]; then printf '{"jsonrpc":"2.0","id":%s,"result":{}}\n' "$id"; fi ;;
  esac
done
`

// fakeRemoteMCP is a remote MCP server (the streamable HTTP transport,
// answering with JSON) over TLS, whose one tool, echo, answers only to
// the bearer token it expects. It records the Authorization header of
// every request.
type fakeRemoteMCP struct {
	caPEM, token string
	mu           sync.Mutex
	auth         []string
	methods      []string
}

func newFakeRemoteMCP(t *testing.T, name, addr, token string) *fakeRemoteMCP {
	t.Helper()
	f := &fakeRemoteMCP{token: token}
	f.caPEM = serveFake(t, name, addr, f)
	return f
}

func (f *fakeRemoteMCP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     any    `json:"id"`
		Method string `json:"method"`
		Params struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"params"`
	}
	body, _ := io.ReadAll(r.Body)
	json.Unmarshal(body, &req)
	f.mu.Lock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.methods = append(f.methods, r.Method+" "+req.Method)
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed) // no server-sent stream
		return
	}
	var result any
	switch req.Method {
	case "initialize":
		result = map[string]any{"protocolVersion": req.Params.ProtocolVersion, "capabilities": map[string]any{"tools": map[string]any{}},
			"serverInfo": map[string]any{"name": "remote", "version": "1.0.0"}}
	case "tools/list":
		result = map[string]any{"tools": []any{map[string]any{"name": "echo", "description": "Echoes",
			"inputSchema": map[string]any{"type": "object", "properties": map[string]any{}}}}}
	case "tools/call":
		result = map[string]any{"content": []any{map[string]any{"type": "text", "text": "echo from the remote MCP server"}}}
	default:
		if req.ID == nil { // a notification
			w.WriteHeader(http.StatusAccepted)
			return
		}
		result = map[string]any{}
	}
	fakeapi.WriteJSON(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result})
}

func (f *fakeRemoteMCP) seen() (auth, methods []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.auth), slices.Clone(f.methods)
}

// TestClaudeMCP gives the real Claude Code two MCP servers through
// agent.yaml's mcp: a local one (a script in the workspace, started by the
// CLI inside the container) and a remote one on the host, reached through
// the proxy with an http grant's token injected. The fake model calls a
// tool of each: the local one stamps the workspace, the remote one saw
// the real token on every request, and both answers reached the model.
func TestClaudeMCP(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	addr, mcpAddr := nextLoopback(), nextLoopback()
	fake := newFakeAnthropic(t, addr+":443", fakeapi.WithCalls(
		fakeapi.ToolCall{Name: "mcp__stamp__stamp", Input: map[string]any{}},
		fakeapi.ToolCall{Name: "mcp__remote__echo", Input: map[string]any{}},
	))
	const token = "mcp-e2e-secret-token"
	remote := newFakeRemoteMCP(t, "mcp.e2e.test", mcpAddr+":443", token)
	e.storeGrant("anthropic", fakeapi.AnthropicKey)
	if res := e.runInput("Bearer "+token, "grant", "http", "remote-mcp", "--host", "mcp.e2e.test", "--header", "Authorization", "--token-stdin"); res.code != 0 {
		t.Fatalf("grant http: %s", res)
	}
	e.writeConfig("npm_registry: " + npmRegistryFor(t, "claude-code") + "\n")
	ws := e.workspace(map[string]string{
		"agent.yaml": `agent: claude
grants: [anthropic]
# MCP tools in the first request, not behind the CLI's tool search,
# which a scripted model does not drive.
env: {ENABLE_TOOL_SEARCH: "false"}
network:
  hosts: {api.anthropic.com: ` + addr + `, mcp.e2e.test: ` + mcpAddr + `}
  ca: api-ca.pem
mcp:
  - {name: stamp, command: [sh, /workspace/stamp-mcp.sh]}
  - {name: remote, url: "https://mcp.e2e.test/mcp", grant: remote-mcp}
`,
		"api-ca.pem":   fake.CAPEM + remote.caPEM, // one CA file for both fakes
		"stamp-mcp.sh": stdioMCPServer,
	})
	if err := os.Chown(ws, 1000, 1000); err != nil {
		t.Fatal(err)
	}

	name := uniqueName(t)
	res := e.mustRun(0, "claude", "-n", name, ws, "--", "-p", "Use both MCP tools")
	mustContain(t, "moat claude's output", res.stdout, "Done: the file is written.")

	if got := readFile(t, ws, "stamped.txt"); got != "stamped\n" {
		t.Errorf("stamped.txt = %q: the local server's tool did not run", got)
	}
	if fi, err := os.Stat(filepath.Join(ws, "stamped.txt")); err == nil && fi.Sys().(*syscall.Stat_t).Uid != 1000 {
		t.Errorf("stamped.txt belongs to uid %d, want 1000", fi.Sys().(*syscall.Stat_t).Uid)
	}
	auth, methods := remote.seen()
	if !slices.Contains(methods, "POST tools/call") {
		t.Errorf("the remote server saw %q, no tools/call", methods)
	}
	for i, a := range auth {
		if a != "Bearer "+token {
			t.Errorf("remote request %d (%s) carried Authorization %q, want the granted token", i, methods[i], a)
		}
	}
	turns := fake.Turns()
	last := strings.Join(fakeapi.ToolResultTexts(turns[len(turns)-1].Body), "\n")
	mustContain(t, "the tool results the model saw", last, "stamped by the local MCP server", "echo from the remote MCP server")

	var trace []struct{ Host, Grant string }
	if err := json.Unmarshal([]byte(e.mustRun(0, "trace", name, "--json").stdout), &trace); err != nil {
		t.Fatal(err)
	}
	viaGrant := 0
	for _, q := range trace {
		if strings.HasPrefix(q.Host, "mcp.e2e.test") && q.Grant == "remote-mcp" {
			viaGrant++
		}
	}
	if viaGrant != len(auth) {
		t.Errorf("the trace has %d requests to mcp.e2e.test with the grant; the server saw %d", viaGrant, len(auth))
	}
}
