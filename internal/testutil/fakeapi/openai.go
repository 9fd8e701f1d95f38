package fakeapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// OpenAI stands in for api.openai.com so the real Codex CLI can run a
// whole conversation in a test, on an API key. It speaks the Responses
// API as Codex uses it: POST /v1/responses, streamed as server-sent
// events, the whole conversation in every request (Codex sends
// store:false and no previous_response_id). Its model is codexModel's
// script, and it records every request, so a test can check which
// credential arrived, what instructions the model got and whether a
// later run resumed an earlier session.
type OpenAI struct {
	codexModel // its API key is the bearer token it accepts; anything else gets a 401
}

// OpenAIRequest is one request as a Codex fake received it.
type OpenAIRequest struct {
	Method, Path  string
	Authorization string
	AccountID     string // ChatGPT-Account-Id, which Codex sends on a ChatGPT login
	WebSocket     bool   // an upgrade to the Responses WebSocket, which the fakes refuse
	Authorized    bool
	Body          map[string]any // decompressed: on a ChatGPT login Codex sends zstd
	At            time.Time      // when its headers arrived
}

// OpenAIKey is the API key the fake accepts.
const OpenAIKey = "sk-proj-e2e-fake-openai-key"

// NewOpenAI serves the fake with TLS on addr, such as "127.0.0.7:443": a
// loopback address of its own per test, because the proxy reaches
// api.openai.com on port 443 and parallel tests must not meet. The test
// maps api.openai.com to that address in agent.yaml's network.hosts and
// trusts CAPEM. Other hosts Codex may try (chatgpt.com, ab.chatgpt.com,
// GitHub) are not served.
func NewOpenAI(addr string, opts ...Option) (*OpenAI, error) {
	f := &OpenAI{codexModel: codexModel{responsesPath: "/v1/responses"}}
	f.configure(OpenAIKey, codexFile, opts)
	if err := f.serve("api.openai.com", addr, f); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *OpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := readOpenAIRequest(r)
	req.Authorized = req.Authorization == "Bearer "+f.apiKey
	n := f.record(req)

	switch {
	case !req.Authorized:
		WriteJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
			"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}})
	case !f.serveModel(w, req, n):
		http.NotFound(w, r)
	}
}

// readOpenAIRequest reads r, not yet authorized.
func readOpenAIRequest(r *http.Request) OpenAIRequest {
	at := time.Now()
	raw, _ := io.ReadAll(r.Body)
	if r.Header.Get("Content-Encoding") == "zstd" {
		raw = unzstd(raw)
	}
	req := OpenAIRequest{At: at, Method: r.Method, Path: r.URL.Path,
		Authorization: r.Header.Get("Authorization"), AccountID: r.Header.Get("ChatGPT-Account-Id"),
		WebSocket: strings.EqualFold(r.Header.Get("Upgrade"), "websocket")}
	json.Unmarshal(raw, &req.Body)
	return req
}

// unzstd decompresses a zstd body, or returns nil, which no model
// request parses as.
func unzstd(raw []byte) []byte {
	d, err := zstd.NewReader(nil)
	if err != nil {
		return nil
	}
	defer d.Close()
	out, _ := d.DecodeAll(raw, nil)
	return out
}

// codexModel is the model of both Codex fakes, OpenAI (an API key, at
// api.openai.com/v1/responses) and ChatGPT (a ChatGPT login, at
// chatgpt.com/backend-api/codex/responses): the same Responses API,
// scripted (see settings). The model calls each tool from a script of
// Codex's exec tool: by default apply_patch, adding a file. Its fake is
// the host serving it.
type codexModel struct {
	fake[OpenAIRequest]

	responsesPath string // where the host serves the Responses API
}

// codexFile is the file the Codex fakes' model adds, relative to Codex's
// cwd.
const codexFile = "hello.txt"

// serveModel answers req, the nth, if it is for the Responses API (or
// its WebSocket), and reports whether it was.
func (m *codexModel) serveModel(w http.ResponseWriter, req OpenAIRequest, n int) bool {
	switch {
	case req.WebSocket:
		// Codex tries the Responses WebSocket first. 426 makes it fall
		// back to HTTPS at once; any other refusal costs five retries
		// (about seven seconds) first.
		http.Error(w, "no websockets here", http.StatusUpgradeRequired)
	case req.Method == http.MethodPost && req.Path == m.responsesPath:
		writeResponseStream(w, n, req.Body["model"], m.answer(n, req.Body))
	default:
		return false
	}
	return true
}

// answer is the model's output item for one request. Only the agent's own
// turns offer Codex's exec tool; other calls (the interactive CLI's title)
// get plain text. The model calls each tool from an exec script, as
// tools.NAME(INPUT): Codex defers MCP tools (tools.mcp__SERVER__TOOL),
// which are there without being described, so every tool counts as
// offered.
func (m *codexModel) answer(n int, body map[string]any) map[string]any {
	if !offersExecTool(body) {
		return assistantText(n, "e2e")
	}
	patch := "*** Begin Patch\n*** Add File: " + m.filePath + "\n"
	for _, line := range strings.SplitAfter(strings.TrimSuffix(m.fileContent, "\n"), "\n") {
		patch += "+" + line
	}
	patch += "\n*** End Patch\n"
	done := len(toolOutputs(body))
	if m.calls != nil {
		done = callsDone(m.calls, OpenAIRequest{Body: body}.ToolOutputs())
	}
	call, text := m.next(done, func(string) bool { return true }, ToolCall{Name: "apply_patch", Input: patch})
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
func inputItems(body map[string]any) []map[string]any { return objects(body["input"]) }

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
func (m *codexModel) Turns() []OpenAIRequest {
	var out []OpenAIRequest
	for _, r := range m.Requests() {
		if r.Authorized && r.Method == http.MethodPost && r.Path == m.responsesPath && offersExecTool(r.Body) {
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
func (m *codexModel) Instructions() []string {
	var out []string
	for _, r := range m.Turns() {
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
func (m *codexModel) Resumed(earlierPrompt string) bool {
	for _, r := range m.Turns() {
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
