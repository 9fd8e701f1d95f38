package fakeapi

import (
	"net/http"
	"slices"
	"strings"
	"sync"
)

// fake is what every fake API shares: the server it runs on, the test CA
// a test trusts, its settings, and the requests it received, each an R,
// the fake's own record of a request.
type fake[R any] struct {
	CAPEM string // the test CA that signed the fake's certificate
	srv   *Server
	settings

	mu   sync.Mutex
	reqs []R
}

// configure sets the fake's settings: the key it accepts, the file its
// model writes (at filePath, as the CLI names files), then opts.
func (f *fake[R]) configure(apiKey, filePath string, opts []Option) {
	f.settings = settings{apiKey: apiKey, filePath: filePath,
		fileContent: "hello from the fake model\n", doneText: "Done: the file is written."}
	for _, o := range opts {
		o(&f.settings)
	}
}

// serve serves h over TLS on addr, as name (see ServeTLS).
func (f *fake[R]) serve(name, addr string, h http.Handler) error {
	srv, err := ServeTLS(name, addr, h)
	if err != nil {
		return err
	}
	f.srv, f.CAPEM = srv, srv.CAPEM
	return nil
}

// Close stops the fake.
func (f *fake[R]) Close() error { return f.srv.Close() }

// record adds req to the requests and returns how many there are now.
func (f *fake[R]) record(req R) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	return len(f.reqs)
}

// count is how many requests the fake has received.
func (f *fake[R]) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// Requests returns every request the fake received, in order.
func (f *fake[R]) Requests() []R {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

// settings are what a fake accepts and what its scripted model does: on
// each turn of the agent's, it calls the next tool of its script, and once
// the conversation holds a result for each, it says its last words.
type settings struct {
	apiKey     string // the API key it accepts
	oauthToken string // a subscription token it accepts as a bearer token, or ""

	filePath, fileContent string // the file the model writes unless given calls
	doneText              string // the model's last words, after the tools ran
	calls                 []ToolCall
}

// Option configures a fake.
type Option func(*settings)

// WithAPIKey sets the API key the fake accepts ("" for none).
func WithAPIKey(key string) Option { return func(s *settings) { s.apiKey = key } }

// WithOAuthToken makes the Anthropic fake accept a subscription token as
// "Authorization: Bearer <token>", the way Claude Code sends
// CLAUDE_CODE_OAUTH_TOKEN or a .credentials.json access token.
func WithOAuthToken(tok string) Option { return func(s *settings) { s.oauthToken = tok } }

// WithWrite sets the file the model writes, with its CLI's tool for
// writing files, when it is given no calls.
func WithWrite(path, content string) Option {
	return func(s *settings) { s.filePath, s.fileContent = path, content }
}

// ToolCall is one tool the scripted model calls, by the name the CLI
// offers it under, with its input: an object, or for a freeform tool
// (Codex's apply_patch) a string.
type ToolCall struct {
	Name  string
	Input any
	// Until, if set, repeats the call (up to maxRetries more times) until
	// its output holds this text, as a model retries a tool that is not
	// ready: an agent may start its first turn while an MCP server it
	// starts in the background is still coming up.
	Until string
}

// maxRetries bounds how often a call with Until is repeated.
const maxRetries = 30

// callsDone returns how many of calls the outputs so far (one per call
// made, in order) have completed: a call with Until completes when its
// output holds it, or after maxRetries repeats.
func callsDone(calls []ToolCall, outputs []string) int {
	done, tries := 0, 0
	for _, out := range outputs {
		if done >= len(calls) {
			break
		}
		c := calls[done]
		tries++
		if c.Until == "" || strings.Contains(out, c.Until) || tries > maxRetries {
			done, tries = done+1, 0
		}
	}
	return done
}

// WithCalls makes the model call these tools, one per turn, in order,
// before its last words, instead of writing a file.
func WithCalls(calls ...ToolCall) Option { return func(s *settings) { s.calls = calls } }

// next is the model's move in a conversation holding done tool results
// (one resumed from an earlier run has them all): the call to make, or,
// when call is nil, what to say. write is the fake's call that writes
// filePath, the script when there are no calls; offered reports whether
// the request offers a tool.
func (s *settings) next(done int, offered func(name string) bool, write ToolCall) (call *ToolCall, text string) {
	calls := s.calls
	if calls == nil {
		calls = []ToolCall{write}
	}
	switch {
	case done >= len(calls):
		return nil, s.doneText
	case !offered(calls[done].Name):
		return nil, "The tool " + calls[done].Name + " was not offered."
	}
	return &calls[done], ""
}

// objects returns the JSON objects of v, a decoded JSON list, leaving out
// anything else; nil when v is not a list.
func objects(v any) []map[string]any {
	list, _ := v.([]any)
	var out []map[string]any
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
