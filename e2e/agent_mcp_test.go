//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
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
// it in the container and called it. The file says what the server got:
// its first argument and $STAMP_NOTE, and whether it has the proxy's
// variable, which it needs to reach the network.
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
    printf 'stamped%s%s%s\n' "${1:+ $1}" "${STAMP_NOTE:+ $STAMP_NOTE}" "${HTTPS_PROXY:+ with the proxy}" > /workspace/stamped.txt
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

// The local server as agent.yaml's mcp: gives it: plainly, or with dollar
// signs in an argument and in its env, which Codex and Gemini CLI pass as
// written (moat keeps Gemini CLI from expanding them; Claude Code expands
// ${NAME}, as in its own .mcp.json, so its test gives it none).
const (
	stampServer        = `{name: stamp, command: [sh, /workspace/stamp-mcp.sh]}`
	stampServerDollars = `{name: stamp, command: [sh, /workspace/stamp-mcp.sh, "$HOME"], env: {STAMP_NOTE: "${HOME}"}}`
)

// mcpWorkspace is a workspace whose agent.yaml starts agent, its image
// built from dependency, against a fake of its API (host, served at addr
// with caPEM's certificate), with two MCP servers: stamp, stdioMCPServer
// in the workspace, as the mapping stamp says, and remote, a
// fakeRemoteMCP on the host behind the http grant remote-mcp, which it
// stores. extra is more agent.yaml, such as the agent's grants. It is
// approved, and owned by uid 1000 (the agent's user).
func (e *moatEnv) mcpWorkspace(agent, dependency, host, addr, caPEM, stamp, extra string) (string, *fakeRemoteMCP) {
	t := e.t
	t.Helper()
	mcpAddr := nextLoopback()
	remote := newFakeRemoteMCP(t, "mcp.e2e.test", mcpAddr+":443", remoteMCPToken)
	if res := e.runInput("Bearer "+remoteMCPToken, "grant", "http", "remote-mcp", "--host", "mcp.e2e.test", "--header", "Authorization", "--token-stdin"); res.code != 0 {
		t.Fatalf("grant http: %s", res)
	}
	e.writeConfig("npm_registry: " + npmRegistryFor(t, dependency) + "\n")
	ws := e.workspace(map[string]string{
		"agent.yaml": "agent: " + agent + `
network:
  hosts: {` + host + ": " + addr + ", mcp.e2e.test: " + mcpAddr + `}
  ca: api-ca.pem
mcp:
  - ` + stamp + `
  - {name: remote, url: "https://mcp.e2e.test/mcp", grant: remote-mcp}
` + extra,
		"api-ca.pem":   caPEM + remote.caPEM, // one CA file for both fakes
		"stamp-mcp.sh": stdioMCPServer,
	})
	if err := os.Chown(ws, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	return ws, remote
}

// callBothTools has the fake model call the tool of each server of
// mcpWorkspace, by the names the agent gives MCP tools: format makes one
// of the server's name and the tool's, such as "mcp__%s__%s".
func callBothTools(format string) fakeapi.Option {
	// Until: Codex may start its first turn before a server it starts in
	// the background is up, and a model then calls the tool again.
	return fakeapi.WithCalls(
		fakeapi.ToolCall{Name: fmt.Sprintf(format, "stamp", "stamp"), Input: map[string]any{}, Until: "stamped by the local MCP server"},
		fakeapi.ToolCall{Name: fmt.Sprintf(format, "remote", "echo"), Input: map[string]any{}, Until: "echo from the remote MCP server"})
}

// remoteMCPToken is the remote MCP server's credential, in the grant.
const remoteMCPToken = "mcp-e2e-secret-token"

// runMCP runs 'moat LAUNCHER ws -- args' with the servers of
// mcpWorkspace, and checks that the agent finished and called a tool of
// each: the local one wrote stamped.txt (wantStamp), owned by the
// workspace's owner; the remote one got a tools/call, and the grant's
// token on every request, each in the trace under the grant; results, the
// tool results of the model's last turn, hold both tools' answers.
func (e *moatEnv) runMCP(launcher, ws string, remote *fakeRemoteMCP, wantStamp string, results func() []string, args ...string) {
	t := e.t
	t.Helper()
	name := uniqueName(t)
	res := e.mustRun(0, append([]string{launcher, "-n", name, ws, "--"}, args...)...)
	mustContain(t, "moat "+launcher+"'s output", res.stdout, "Done: the file is written.")
	if got := readFile(t, ws, "stamped.txt"); got != wantStamp {
		t.Errorf("stamped.txt = %q, want %q: the local server's tool did not run, or not with what agent.yaml gave it", got, wantStamp)
	}
	if fi, err := os.Stat(filepath.Join(ws, "stamped.txt")); err == nil && fi.Sys().(*syscall.Stat_t).Uid != 1000 {
		t.Errorf("stamped.txt belongs to uid %d, want 1000", fi.Sys().(*syscall.Stat_t).Uid)
	}
	auth, methods := remote.seen()
	if !slices.Contains(methods, "POST tools/call") {
		t.Errorf("the remote server saw %q, no tools/call", methods)
	}
	for i, a := range auth {
		if a != "Bearer "+remoteMCPToken {
			t.Errorf("remote request %d (%s) carried Authorization %q, want the granted token", i, methods[i], a)
		}
	}
	mustContain(t, "the tool results the model saw", strings.Join(results(), "\n"),
		"stamped by the local MCP server", "echo from the remote MCP server")

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

// TestClaudeMCP gives the real Claude Code two MCP servers through
// agent.yaml's mcp: a local one (a script in the workspace, started by the
// CLI inside the container) and a remote one on the host, reached through
// the proxy with an http grant's token injected. The fake model calls a
// tool of each: the local one stamps the workspace, the remote one saw
// the real token on every request, and both answers reached the model.
func TestClaudeMCP(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	addr := nextLoopback()
	fake := newFakeAnthropic(t, addr+":443", callBothTools("mcp__%s__%s"))
	e.storeGrant("anthropic", fakeapi.AnthropicKey)
	ws, remote := e.mcpWorkspace("claude", "claude-code", "api.anthropic.com", addr, fake.CAPEM, stampServer, `grants: [anthropic]
# MCP tools in the first request, not behind the CLI's tool search,
# which a scripted model does not drive.
env: {ENABLE_TOOL_SEARCH: "false"}
`)
	e.runMCP("claude", ws, remote, "stamped with the proxy\n", func() []string {
		turns := fake.Turns()
		return fakeapi.ToolResultTexts(turns[len(turns)-1].Body)
	}, "-p", "Use both MCP tools")
}

// TestCodexMCP is TestClaudeMCP for the real Codex, which reads the
// servers from its managed configuration, and calls MCP tools from its
// exec tool's scripts. The local server gets dollar signs as agent.yaml
// wrote them, and the proxy's variables, which Codex passes a server only
// when named.
func TestCodexMCP(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	addr := nextLoopback()
	fake := newFakeOpenAI(t, addr+":443", callBothTools("mcp__%s__%s"))
	e.storeGrant("openai", fakeapi.OpenAIKey)
	ws, remote := e.mcpWorkspace("codex", "codex", "api.openai.com", addr, fake.CAPEM, stampServerDollars, "grants: [openai]\n")
	e.runMCP("codex", ws, remote, "stamped $HOME ${HOME} with the proxy\n", func() []string {
		turns := fake.Turns()
		return turns[len(turns)-1].ToolOutputs()
	}, "exec", "Use both MCP tools")
}

// TestGeminiMCP is TestClaudeMCP for the real Gemini CLI, which reads the
// servers from the system defaults moat mounts. The local server gets
// dollar signs as agent.yaml wrote them (the CLI expands variables in its
// settings), and the proxy's variables, which the CLI withholds from a
// server as credentials.
func TestGeminiMCP(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	addr := nextLoopback()
	fake, err := fakeapi.NewGemini(addr+":443", callBothTools("mcp_%s_%s"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	e.storeGrant("gemini", fakeapi.GeminiKey)
	ws, remote := e.mcpWorkspace("gemini", "gemini-cli", "generativelanguage.googleapis.com", addr, fake.CAPEM, stampServerDollars, "grants: [gemini]\n")
	e.runMCP("gemini", ws, remote, "stamped $HOME ${HOME} with the proxy\n", func() []string {
		turns := fake.Turns()
		return turns[len(turns)-1].FunctionResponses()
	}, "-p", "Use both MCP tools")
}
