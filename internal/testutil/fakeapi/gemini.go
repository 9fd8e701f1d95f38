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

// Gemini stands in for generativelanguage.googleapis.com, the Gemini
// API, so the real Gemini CLI can run a whole conversation in a test. Its
// model is scripted: the first turn calls write_file, and once the CLI
// sends the function's result the model says it is done. It records every
// request so a test can check which key arrived, what the model was told
// and whether a later run resumed an earlier session.
type Gemini struct {
	fake[GeminiRequest] // its API key is the x-goog-api-key it accepts
}

// GeminiRequest is one request as the fake received it.
type GeminiRequest struct {
	Method, Path string // Path includes the model and method: /v1beta/models/M:streamGenerateContent
	Query        string
	APIKey       string // x-goog-api-key
	Authorized   bool
	Body         map[string]any
	At           time.Time // when its headers arrived
}

// GeminiKey is the API key the fake accepts, shaped like a Google API
// key: AIzaSy and 33 more.
const GeminiKey = "AIzaSyE2E-fake-gemini-key-moat-tests-01"

// NewGemini serves the fake with TLS on addr, such as "127.0.0.7:443": a
// loopback address of its own per test, because the proxy reaches
// generativelanguage.googleapis.com on port 443 and parallel tests must
// not meet. The test maps the name to that address in agent.yaml's
// network.hosts and trusts CAPEM. Gemini CLI's other hosts
// (play.googleapis.com for usage statistics, the npm registry for its
// update check) are not served.
func NewGemini(addr string, opts ...Option) (*Gemini, error) {
	f := &Gemini{}
	f.configure(GeminiKey, "/workspace/hello.txt", opts)
	if err := f.serve("generativelanguage.googleapis.com", addr, f); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *Gemini) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	raw, _ := io.ReadAll(r.Body)
	req := GeminiRequest{At: at, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, APIKey: r.Header.Get("X-Goog-Api-Key")}
	req.Authorized = req.APIKey == f.apiKey
	json.Unmarshal(raw, &req.Body)
	f.record(req)

	if !req.Authorized {
		// Google's answer to a bad key.
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
		return
	}
	_, method, _ := strings.Cut(req.Path, ":")
	switch {
	case r.Method == http.MethodPost && method == "streamGenerateContent":
		// One server-sent event holds the whole answer.
		j, _ := json.Marshal(f.answer(req.Body))
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: %s\r\n\r\n", j)
	case r.Method == http.MethodPost && method == "generateContent":
		WriteJSON(w, http.StatusOK, f.answer(req.Body))
	case r.Method == http.MethodPost && method == "countTokens":
		WriteJSON(w, http.StatusOK, map[string]any{"totalTokens": 100})
	default:
		googleError(w, http.StatusNotFound, "NOT_FOUND", "not served by the fake")
	}
}

func googleError(w http.ResponseWriter, code int, status, msg string) {
	WriteJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}

// answer is the model's reply to one request. The agent's own turns offer
// write_file: the model calls the next function of its script (see
// settings), and talks once the conversation holds a result for each. The
// CLI's side calls (its model router) ask for JSON of a schema and
// get an object with every required property.
func (f *Gemini) answer(body map[string]any) map[string]any {
	parts := []any{map[string]any{"text": schemaAnswer(body)}}
	if offersFunction(body, "write_file") {
		write := ToolCall{Name: "write_file", Input: map[string]any{"file_path": f.filePath, "content": f.fileContent}}
		call, text := f.next(len(functionResponses(body)), func(name string) bool { return offersFunction(body, name) }, write)
		parts = []any{map[string]any{"text": text}}
		if call != nil {
			parts = []any{map[string]any{"functionCall": map[string]any{"name": call.Name, "args": call.Input}}}
		}
	}
	return map[string]any{
		"candidates":    []any{map[string]any{"content": map[string]any{"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}},
		"usageMetadata": map[string]any{"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 120},
		"modelVersion":  "gemini-fake",
	}
}

// schemaAnswer fits generationConfig.responseJsonSchema, as the router's
// classifier wants ({complexity_reasoning, complexity_score}): an answer
// that does not fit is logged as an error, and the CLI goes on.
func schemaAnswer(body map[string]any) string {
	gc, _ := body["generationConfig"].(map[string]any)
	schema, ok := gc["responseJsonSchema"].(map[string]any)
	if !ok {
		return "ok"
	}
	props, _ := schema["properties"].(map[string]any)
	required, _ := schema["required"].([]any)
	obj := map[string]any{}
	for _, r := range required {
		name := fmt.Sprint(r)
		prop, _ := props[name].(map[string]any)
		switch strings.ToUpper(fmt.Sprint(prop["type"])) {
		case "INTEGER", "NUMBER":
			obj[name] = 10
		case "BOOLEAN":
			obj[name] = false
		default:
			obj[name] = "e2e"
		}
	}
	j, _ := json.Marshal(obj)
	return string(j)
}

func offersFunction(body map[string]any, name string) bool {
	tools, _ := body["tools"].([]any)
	for _, t := range tools {
		tm, _ := t.(map[string]any)
		decls, _ := tm["functionDeclarations"].([]any)
		if slices.ContainsFunc(decls, func(d any) bool { dm, _ := d.(map[string]any); return dm["name"] == name }) {
			return true
		}
	}
	return false
}

// geminiContents returns a request's conversation: its contents, each a
// role and parts.
func geminiContents(body map[string]any) []map[string]any { return objects(body["contents"]) }

func geminiParts(content map[string]any) []map[string]any { return objects(content["parts"]) }

// functionResponses are the functions' results in a conversation.
func functionResponses(body map[string]any) []map[string]any {
	var out []map[string]any
	for _, c := range geminiContents(body) {
		for _, p := range geminiParts(c) {
			if fr, ok := p["functionResponse"].(map[string]any); ok {
				out = append(out, fr)
			}
		}
	}
	return out
}

// Turns returns the agent's model turns: the authorized requests that
// offer write_file, leaving out the router's side calls.
func (f *Gemini) Turns() []GeminiRequest {
	var out []GeminiRequest
	for _, r := range f.Requests() {
		if r.Authorized && offersFunction(r.Body, "write_file") {
			out = append(out, r)
		}
	}
	return out
}

// Instructions returns, for every model turn, the text that is not the
// user's prompt: the system instruction and the text parts of the first
// user message, where the CLI puts the session context and the GEMINI.md
// files it loaded (moat's note among them).
func (f *Gemini) Instructions() []string {
	var out []string
	for _, r := range f.Turns() {
		var b strings.Builder
		sys, _ := r.Body["systemInstruction"].(map[string]any)
		for _, p := range geminiParts(sys) {
			fmt.Fprintln(&b, p["text"])
		}
		if cs := geminiContents(r.Body); len(cs) > 0 {
			for _, p := range geminiParts(cs[0]) {
				fmt.Fprintln(&b, p["text"])
			}
		}
		out = append(out, b.String())
	}
	return out
}

// Resumed reports whether a model turn carried an earlier conversation
// under a new prompt: the earlier prompt and the write_file call the fake
// made, then a user message that is not a function's result. That is what
// 'gemini -r latest -p ...' sends when it finds the earlier session; a
// conversation's own second turn ends with the function's result instead.
func (f *Gemini) Resumed(earlierPrompt string) bool {
	for _, r := range f.Turns() {
		cs := geminiContents(r.Body)
		if len(cs) == 0 || cs[len(cs)-1]["role"] != "user" || hasFunctionResponse(cs[len(cs)-1]) {
			continue
		}
		var sawPrompt, sawCall bool
		for _, c := range cs[:len(cs)-1] {
			for _, p := range geminiParts(c) {
				t, _ := p["text"].(string)
				sawPrompt = sawPrompt || c["role"] == "user" && strings.Contains(t, earlierPrompt)
				call, _ := p["functionCall"].(map[string]any)
				sawCall = sawCall || c["role"] == "model" && call["name"] == "write_file"
			}
		}
		if sawPrompt && sawCall {
			return true
		}
	}
	return false
}

func hasFunctionResponse(content map[string]any) bool {
	return slices.ContainsFunc(geminiParts(content), func(p map[string]any) bool { return p["functionResponse"] != nil })
}

// FunctionResponses are the functions' results in the request's
// conversation, as JSON.
func (r GeminiRequest) FunctionResponses() []string {
	var out []string
	for _, fr := range functionResponses(r.Body) {
		j, _ := json.Marshal(fr["response"])
		out = append(out, string(j))
	}
	return out
}
