package fakeapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Anthropic stands in for api.anthropic.com so the real Claude Code
// CLI can run a whole conversation in a test. Its model is scripted: the
// first turn asks for the Write tool, and once the CLI sends the tool's
// result the model says it is done. It records every request so a test can
// check which credential arrived, what the system prompt held and whether
// a later run resumed an earlier session.
type Anthropic struct {
	fake[AnthropicRequest]
}

// AnthropicRequest is one request as the fake received it.
type AnthropicRequest struct {
	Method, Path  string
	APIKey        string // x-api-key
	Authorization string
	Beta          string // anthropic-beta: the CLI's feature flags, including the OAuth one
	Authorized    bool   // it carried the credential the fake accepts
	Body          map[string]any
	Raw           []byte    // the body when it is not JSON
	At            time.Time // when its headers arrived
}

// AnthropicKey is the API key the fake accepts unless told otherwise.
const AnthropicKey = "sk-ant-api03-e2e-fake-key"

// NewAnthropic serves the fake with TLS on addr, such as
// "127.0.0.7:443": a loopback address of its own per test, because the
// proxy reaches api.anthropic.com on port 443 and parallel tests must
// not meet. The test maps api.anthropic.com to that address in
// agent.yaml's network.hosts and trusts CAPEM. Other hosts the CLI may
// try (platform.claude.com for token refresh, downloads.claude.ai in
// interactive mode) are not served; the CLI carries on without them.
func NewAnthropic(addr string, opts ...Option) (*Anthropic, error) {
	f := &Anthropic{}
	f.configure(AnthropicKey, "/workspace/hello.txt", opts)
	if err := f.serve("api.anthropic.com", addr, f); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *Anthropic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	raw, _ := io.ReadAll(r.Body)
	req := AnthropicRequest{
		Method: r.Method, Path: r.URL.Path, At: at,
		APIKey: r.Header.Get("X-Api-Key"), Authorization: r.Header.Get("Authorization"),
		Beta: r.Header.Get("Anthropic-Beta"),
	}
	req.Authorized = f.authorized(req)
	if json.Unmarshal(raw, &req.Body) != nil {
		req.Raw = raw
	}
	n := f.record(req)

	// The CLI trusts a 204 or 404 only when it carries Anthropic's
	// request id; without one it blames an intermediary.
	w.Header().Set("Request-Id", fmt.Sprintf("req_fake%04d", n))
	if !req.Authorized && !anthropicOpenPaths[req.Path] {
		// Anthropic's error shape: the CLI reports error.message. Without
		// x-should-retry it retries a 401 for over a minute before failing.
		w.Header().Set("X-Should-Retry", "false")
		WriteJSON(w, http.StatusUnauthorized, map[string]any{"type": "error",
			"error": map[string]any{"type": "authentication_error", "message": "invalid x-api-key"}})
		return
	}
	switch {
	case r.Method == http.MethodPost && req.Path == "/v1/messages":
		f.message(w, req.Body)
	case req.Path == "/api/claude_code/settings":
		// No managed settings; an empty JSON body fails the CLI's schema.
		w.WriteHeader(http.StatusNoContent)
	default:
		answer, ok := anthropicAnswers[req.Path]
		if !ok {
			answer = map[string]any{}
		}
		WriteJSON(w, http.StatusOK, answer)
	}
}

// OpenPath reports whether the CLI calls path without a credential.
func OpenPath(path string) bool { return anthropicOpenPaths[path] }

// anthropicOpenPaths lists the paths the CLI calls without a credential.
var anthropicOpenPaths = map[string]bool{"/api/hello": true, "/api/directory/server-urls": true}

// anthropicAnswers are the smallest answers the CLI's schemas accept for the
// calls it makes before and after the conversation. A reply that fails a
// schema is not fatal but costs time: an empty policy_limits answer makes
// the CLI retry it with backoff, about four seconds in all.
var anthropicAnswers = map[string]any{
	"/api/claude_code/policy_limits":                 map[string]any{"restrictions": map[string]any{}},
	"/api/claude_code/organizations/metrics_enabled": map[string]any{"metrics_logging_enabled": false},
	"/api/directory/server-urls":                     map[string]any{"urls": []string{}},
	"/v1/messages/count_tokens":                      map[string]any{"input_tokens": 100},
	// Asked with a subscription login read from .credentials.json.
	"/api/oauth/profile": map[string]any{
		"account":      map[string]any{"uuid": "00000000-0000-4000-8000-00000000e2e1", "email": "e2e@example.com"},
		"organization": map[string]any{"uuid": "00000000-0000-4000-8000-00000000e2e2"},
	},
}

func (f *Anthropic) authorized(req AnthropicRequest) bool {
	if f.apiKey != "" && req.APIKey == f.apiKey {
		return true
	}
	return f.oauthToken != "" && req.Authorization == "Bearer "+f.oauthToken
}

// message answers one model turn. Only the agent's own turns carry the
// Write tool; the CLI's side calls get plain text. The model writes the
// file on a conversation's first turn; once the conversation has an
// assistant turn (the tool's result came back, or a run resumed it), it
// only talks.
func (f *Anthropic) message(w http.ResponseWriter, body map[string]any) {
	model, _ := body["model"].(string)
	n := f.count()
	content := []map[string]any{{"type": "text", "text": sideAnswer(body)}}
	stop := "end_turn"
	if offersTool(body, "Write") {
		write := ToolCall{Name: "Write", Input: map[string]any{"file_path": f.filePath, "content": f.fileContent}}
		call, text := f.next(toolResults(body), func(name string) bool { return offersTool(body, name) }, write)
		content = []map[string]any{{"type": "text", "text": text}}
		if call != nil {
			stop = "tool_use"
			content = []map[string]any{{"type": "tool_use", "id": fmt.Sprintf("toolu_fake%04d", n), "name": call.Name, "input": call.Input}}
		}
	}
	// Ids must differ: the CLI merges the blocks of messages that share
	// one when it writes and reloads the transcript.
	msg := map[string]any{"id": fmt.Sprintf("msg_fake%04d", n), "type": "message", "role": "assistant", "model": model,
		"content": content, "stop_reason": stop, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 100, "output_tokens": 20}}
	if stream, _ := body["stream"].(bool); stream {
		writeMessageStream(w, msg)
		return
	}
	WriteJSON(w, http.StatusOK, msg)
}

// sideAnswer answers the CLI's side calls. The interactive CLI asks for a
// session title with a JSON schema (output_config.format); the answer must
// fit it, so every required property gets a string.
func sideAnswer(body map[string]any) string {
	cfg, _ := body["output_config"].(map[string]any)
	format, _ := cfg["format"].(map[string]any)
	schema, _ := format["schema"].(map[string]any)
	if format["type"] != "json_schema" {
		return "ok"
	}
	obj := map[string]string{}
	required, _ := schema["required"].([]any)
	for _, name := range required {
		obj[fmt.Sprint(name)] = "e2e"
	}
	j, _ := json.Marshal(obj)
	return string(j)
}

// writeMessageStream streams msg the way the Messages API does: the CLI rebuilds
// the message from these events, tool input arriving as JSON text.
func writeMessageStream(w http.ResponseWriter, msg map[string]any) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	var b bytes.Buffer
	event := func(name string, data map[string]any) {
		data["type"] = name
		j, _ := json.Marshal(data)
		fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", name, j)
	}
	start := map[string]any{}
	for k, v := range msg {
		start[k] = v
	}
	start["content"], start["stop_reason"] = []any{}, nil
	start["usage"] = map[string]any{"input_tokens": 100, "output_tokens": 1}
	event("message_start", map[string]any{"message": start})
	for i, c := range msg["content"].([]map[string]any) {
		switch c["type"] {
		case "text":
			event("content_block_start", map[string]any{"index": i, "content_block": map[string]any{"type": "text", "text": ""}})
			event("content_block_delta", map[string]any{"index": i, "delta": map[string]any{"type": "text_delta", "text": c["text"]}})
		case "tool_use":
			input, _ := json.Marshal(c["input"])
			event("content_block_start", map[string]any{"index": i, "content_block": map[string]any{
				"type": "tool_use", "id": c["id"], "name": c["name"], "input": map[string]any{}}})
			event("content_block_delta", map[string]any{"index": i, "delta": map[string]any{"type": "input_json_delta", "partial_json": string(input)}})
		}
		event("content_block_stop", map[string]any{"index": i})
	}
	event("message_delta", map[string]any{"delta": map[string]any{"stop_reason": msg["stop_reason"], "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": 20}})
	event("message_stop", map[string]any{})
	w.Write(b.Bytes())
}

// contentBlocks returns a message's content as blocks; the API also allows a
// bare string, which the CLI sends for some prompts.
func contentBlocks(m any) []map[string]any {
	msg, _ := m.(map[string]any)
	if c, ok := msg["content"].(string); ok {
		return []map[string]any{{"type": "text", "text": c}}
	}
	return objects(msg["content"])
}

// toolResults counts the tool results in a conversation.
func toolResults(body map[string]any) int {
	msgs, _ := body["messages"].([]any)
	n := 0
	for _, m := range msgs {
		for _, b := range contentBlocks(m) {
			if b["type"] == "tool_result" {
				n++
			}
		}
	}
	return n
}

// ToolResultTexts are the texts of a conversation's tool results.
func ToolResultTexts(body map[string]any) []string {
	msgs, _ := body["messages"].([]any)
	var out []string
	for _, m := range msgs {
		for _, b := range contentBlocks(m) {
			if b["type"] != "tool_result" {
				continue
			}
			if s, ok := b["content"].(string); ok {
				out = append(out, s)
			}
			for _, c := range contentBlocks(b) {
				if t, ok := c["text"].(string); ok {
					out = append(out, t)
				}
			}
		}
	}
	return out
}

func offersTool(body map[string]any, name string) bool {
	tools, _ := body["tools"].([]any)
	return slices.ContainsFunc(tools, func(t any) bool {
		tm, _ := t.(map[string]any)
		return tm["name"] == name
	})
}

// turns returns the agent's model turns that the fake answered: the
// authorized requests offering the Write tool, leaving out the CLI's side
// calls.
func (f *Anthropic) Turns() []AnthropicRequest {
	var out []AnthropicRequest
	for _, r := range f.Requests() {
		if r.Authorized && r.Path == "/v1/messages" && offersTool(r.Body, "Write") {
			out = append(out, r)
		}
	}
	return out
}

// systemPrompts returns, for every model turn, the text that instructs
// the model rather than the user's words: the system field, the
// mid-conversation "system" messages, and the <system-reminder> blocks of
// user messages. The CLI puts CLAUDE.md files there, the managed
// /etc/claude-code/CLAUDE.md included, in the first user message and not
// in the system field.
func (f *Anthropic) SystemPrompts() []string {
	var out []string
	for _, r := range f.Turns() {
		var b strings.Builder
		// The system field takes the same shapes as a message's content.
		for _, blk := range contentBlocks(map[string]any{"content": r.Body["system"]}) {
			fmt.Fprintln(&b, blk["text"])
		}
		msgs, _ := r.Body["messages"].([]any)
		for _, m := range msgs {
			for _, blk := range contentBlocks(m) {
				t, _ := blk["text"].(string)
				if messageRole(m) == "system" || strings.HasPrefix(t, "<system-reminder>") {
					fmt.Fprintln(&b, t)
				}
			}
		}
		out = append(out, b.String())
	}
	return out
}

// resumed reports whether a model turn carried an earlier conversation
// under a new prompt: the earlier prompt and a Write call the fake made,
// followed by a user message that is not a tool result. That is what
// "claude -p --continue" sends when it finds the earlier session; a
// conversation's own second turn ends with the tool result instead.
func (f *Anthropic) Resumed(earlierPrompt string) bool {
	for _, r := range f.Turns() {
		// The CLI may append a "system" message after the user's.
		msgs, _ := r.Body["messages"].([]any)
		for len(msgs) > 0 && messageRole(msgs[len(msgs)-1]) == "system" {
			msgs = msgs[:len(msgs)-1]
		}
		if len(msgs) == 0 || hasToolResult(msgs[len(msgs)-1]) {
			continue
		}
		var sawPrompt, sawTool bool
		for _, m := range msgs[:len(msgs)-1] {
			for _, b := range contentBlocks(m) {
				t, _ := b["text"].(string)
				sawPrompt = sawPrompt || strings.Contains(t, earlierPrompt)
				id, _ := b["id"].(string)
				sawTool = sawTool || b["type"] == "tool_use" && strings.HasPrefix(id, "toolu_fake")
			}
		}
		if sawPrompt && sawTool {
			return true
		}
	}
	return false
}

func messageRole(m any) any {
	mm, _ := m.(map[string]any)
	return mm["role"]
}

func hasToolResult(m any) bool {
	return slices.ContainsFunc(contentBlocks(m), func(b map[string]any) bool { return b["type"] == "tool_result" })
}
