package fakeapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// OpenAI stands in for api.openai.com so the real Codex CLI can run a
// whole conversation in a test. It speaks the Responses API as Codex uses
// it: POST /v1/responses, streamed as server-sent events, the whole
// conversation in every request (Codex sends store:false and no
// previous_response_id). Its model is scripted: the first turn calls
// Codex's exec tool with a script that runs apply_patch to add a file,
// and once the tool's output comes back the model says it is done. It
// records every request, so a test can check which credential arrived,
// what instructions the model got and whether a later run resumed an
// earlier session.
type OpenAI struct {
	fake[OpenAIRequest] // its API key is the bearer token it accepts; anything else gets a 401
}

// OpenAIRequest is one request as the fake received it.
type OpenAIRequest struct {
	Method, Path  string
	Authorization string
	WebSocket     bool // an upgrade to the Responses WebSocket, which the fake refuses
	Authorized    bool
	Body          map[string]any
	At            time.Time // when its headers arrived
}

// OpenAIKey is the API key the fake accepts.
const OpenAIKey = "sk-proj-e2e-fake-openai-key"

// NewOpenAI serves the fake with TLS on addr, such as "127.0.0.7:443": a
// loopback address of its own per test, because the proxy reaches
// api.openai.com on port 443 and parallel tests must not meet. The test
// maps api.openai.com to that address in agent.yaml's network.hosts and
// trusts CAPEM. Other hosts Codex may try (chatgpt.com, ab.chatgpt.com,
// GitHub) are not served. The model adds its file relative to Codex's cwd.
func NewOpenAI(addr string, opts ...Option) (*OpenAI, error) {
	f := &OpenAI{}
	f.configure(OpenAIKey, "hello.txt", opts)
	if err := f.serve("api.openai.com", addr, f); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *OpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	raw, _ := io.ReadAll(r.Body)
	req := OpenAIRequest{At: at, Method: r.Method, Path: r.URL.Path, Authorization: r.Header.Get("Authorization"),
		WebSocket: strings.EqualFold(r.Header.Get("Upgrade"), "websocket")}
	req.Authorized = req.Authorization == "Bearer "+f.apiKey
	json.Unmarshal(raw, &req.Body)
	n := f.record(req)

	switch {
	case !req.Authorized:
		WriteJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
			"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}})
	case req.WebSocket:
		// Codex tries the Responses WebSocket first. 426 makes it fall
		// back to HTTPS at once; any other refusal costs five retries
		// (about seven seconds) first.
		http.Error(w, "no websockets here", http.StatusUpgradeRequired)
	case r.Method == http.MethodPost && req.Path == "/v1/responses":
		writeResponseStream(w, n, req.Body["model"], f.answer(n, req.Body))
	default:
		http.NotFound(w, r)
	}
}

// answer is the model's output item for one request. Only the agent's own
// turns offer Codex's exec tool; other calls (the interactive CLI's title)
// get plain text. The model calls each tool from an exec script, as
// tools.NAME(INPUT): Codex defers MCP tools (tools.mcp__SERVER__TOOL),
// which are there without being described, so every tool counts as
// offered.
func (f *OpenAI) answer(n int, body map[string]any) map[string]any {
	if !offersExecTool(body) {
		return assistantText(n, "e2e")
	}
	patch := "*** Begin Patch\n*** Add File: " + f.filePath + "\n"
	for _, line := range strings.SplitAfter(strings.TrimSuffix(f.fileContent, "\n"), "\n") {
		patch += "+" + line
	}
	patch += "\n*** End Patch\n"
	call, text := f.next(len(toolOutputs(body)), func(string) bool { return true }, ToolCall{Name: "apply_patch", Input: patch})
	if call == nil {
		return assistantText(n, text)
	}
	// JSON is a JavaScript literal.
	literal, _ := json.Marshal(call.Input)
	return map[string]any{"type": "custom_tool_call", "id": fmt.Sprintf("ctc_fake%04d", n), "status": "completed",
		"call_id": fmt.Sprintf("call_fake%04d", n), "name": "exec",
		"input": fmt.Sprintf("const r = await tools.%s(%s);\ntext(r);\n", call.Name, literal)}
}

func assistantText(n int, text string) map[string]any {
	return map[string]any{"type": "message", "role": "assistant", "id": fmt.Sprintf("msg_fake%04d", n), "status": "completed",
		"content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}}
}

// writeResponseStream streams one output item the way the Responses API
// does; Codex takes the item from output_item.done and ends the turn at
// response.completed.
func writeResponseStream(w http.ResponseWriter, n int, model any, item map[string]any) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	id := fmt.Sprintf("resp_fake%04d", n)
	event := func(name string, data map[string]any) {
		data["type"] = name
		j, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, j)
	}
	event("response.created", map[string]any{"response": map[string]any{
		"id": id, "object": "response", "status": "in_progress", "model": model, "output": []any{}}})
	event("response.output_item.added", map[string]any{"output_index": 0, "item": item})
	event("response.output_item.done", map[string]any{"output_index": 0, "item": item})
	event("response.completed", map[string]any{"response": map[string]any{
		"id": id, "object": "response", "status": "completed", "model": model, "output": []any{item},
		"usage": map[string]any{"input_tokens": 100, "input_tokens_details": map[string]any{"cached_tokens": 0},
			"output_tokens": 20, "output_tokens_details": map[string]any{"reasoning_tokens": 0}, "total_tokens": 120}}})
}

// inputItems returns a request's input items: the whole conversation.
func inputItems(body map[string]any) []map[string]any {
	in, _ := body["input"].([]any)
	var out []map[string]any
	for _, it := range in {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// offersExecTool reports whether a request offers Codex's exec tool. This
// Codex sends its tools as an "additional_tools" input item, grouped in
// namespaces, not in the request's tools field.
func offersExecTool(body map[string]any) bool {
	for _, it := range inputItems(body) {
		namespaces, _ := it["tools"].([]any)
		for _, ns := range namespaces {
			nm, _ := ns.(map[string]any)
			tools, _ := nm["tools"].([]any)
			if slices.ContainsFunc(tools, func(t any) bool { tm, _ := t.(map[string]any); return tm["name"] == "exec" }) {
				return true
			}
		}
	}
	return false
}

// itemText joins the text blocks of a message item.
func itemText(it map[string]any) string {
	blocks, _ := it["content"].([]any)
	var b strings.Builder
	for _, blk := range blocks {
		bm, _ := blk.(map[string]any)
		if t, ok := bm["text"].(string); ok {
			b.WriteString(t)
			b.WriteString("\n")
		}
	}
	return b.String()
}

// Turns returns the agent's model turns that the fake answered: the
// authorized Responses requests offering the exec tool.
func (f *OpenAI) Turns() []OpenAIRequest {
	var out []OpenAIRequest
	for _, r := range f.Requests() {
		if r.Authorized && r.Method == http.MethodPost && r.Path == "/v1/responses" && offersExecTool(r.Body) {
			out = append(out, r)
		}
	}
	return out
}

// Instructions returns, for every model turn, what instructs the model
// rather than the user's words: the instructions field and the developer
// messages. Codex's base prompt, its skills and the additional context
// of session-start hooks (where moat's note arrives) are developer
// messages.
func (f *OpenAI) Instructions() []string {
	var out []string
	for _, r := range f.Turns() {
		s, _ := r.Body["instructions"].(string)
		for _, it := range inputItems(r.Body) {
			if it["type"] == "message" && it["role"] == "developer" {
				s += "\n" + itemText(it)
			}
		}
		out = append(out, s)
	}
	return out
}

// Resumed reports whether a model turn carried an earlier conversation
// under a new prompt: the earlier prompt and an exec call the fake made,
// then a user message last. That is what "codex exec resume --last"
// sends when it finds the earlier session; a conversation's own second
// turn ends with the tool's output instead.
func (f *OpenAI) Resumed(earlierPrompt string) bool {
	for _, r := range f.Turns() {
		items := inputItems(r.Body)
		if len(items) == 0 {
			continue
		}
		last := items[len(items)-1]
		if last["type"] != "message" || last["role"] != "user" {
			continue
		}
		var sawPrompt, sawTool bool
		for _, it := range items[:len(items)-1] {
			sawPrompt = sawPrompt || it["role"] == "user" && strings.Contains(itemText(it), earlierPrompt)
			id, _ := it["call_id"].(string)
			sawTool = sawTool || it["type"] == "custom_tool_call" && strings.HasPrefix(id, "call_fake")
		}
		if sawPrompt && sawTool {
			return true
		}
	}
	return false
}

// toolOutputs are the outputs of the exec tool's calls in a
// conversation.
func toolOutputs(body map[string]any) []map[string]any {
	return slices.DeleteFunc(inputItems(body), func(it map[string]any) bool { return it["type"] != "custom_tool_call_output" })
}

// ToolOutputs are the texts of the tool outputs in the request's
// conversation: what the exec tool's scripts returned.
func (r OpenAIRequest) ToolOutputs() []string {
	var out []string
	for _, it := range toolOutputs(r.Body) {
		out = append(out, itemText(map[string]any{"content": it["output"]}))
	}
	return out
}
