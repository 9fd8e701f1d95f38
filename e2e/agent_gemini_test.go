//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGeminiWritesAFileAndResumes runs the real Gemini CLI (its npm
// bundle and its own node, installed from the npm registry into the run's
// image) against a fake Gemini API on the host, through moat's proxy. The
// fake model calls write_file: the file lands in the workspace, owned by
// the user; every request carried the real key, which nothing in the
// agent's container holds; the trace and the audit log agree with what
// the fake saw, so nothing else left the run (the system settings moat
// mounts turned usage statistics off: they would go to play.googleapis.com
// and be refused); the note moat mounts reached the model; and 'moat
// gemini -- -r latest -p' resumes the session, which outlived the first
// run in the moat home.
func TestGeminiWritesAFileAndResumes(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	addr := nextLoopback()
	fake := newFakeGemini(t, addr+":443")
	e.writeConfig("npm_registry: " + npmRegistryFor(t, "gemini-cli") + "\n")
	if res := e.runInput(fakeGeminiKey, "grant", "gemini", "--token-stdin"); res.code != 0 {
		t.Fatalf("grant gemini: %s", res)
	}
	ws := e.workspace(map[string]string{
		"agent.yaml": "agent: gemini\ngrants: [gemini]\nnetwork:\n  hosts: {generativelanguage.googleapis.com: " + addr + "}\n  ca: api-ca.pem\n",
		"api-ca.pem": fake.caPEM,
	})
	if err := os.Chown(ws, 1000, 1000); err != nil {
		t.Fatal(err)
	}

	// First run: started as 'moat run' with agent.yaml's agent:, held open
	// after the CLI exits so its container can be scanned.
	const prompt = "Create hello.txt for the e2e test 4b2e"
	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sh", "-c",
		`gemini --approval-mode yolo -p '`+prompt+`' > gemini.out 2>&1; echo $? > gemini.rc; sleep 300`)
	waitForDetail(t, 180*time.Second, "Gemini CLI to finish", func() bool { return exists(filepath.Join(ws, "gemini.rc")) },
		func() string { return readFileOr(ws, "gemini.out") })
	if rc := strings.TrimSpace(readFile(t, ws, "gemini.rc")); rc != "0" {
		t.Fatalf("gemini exited %s:\n%s", rc, readFile(t, ws, "gemini.out"))
	}
	mustContain(t, "gemini's output", readFile(t, ws, "gemini.out"), "Done: the file is written.")
	if got := readFile(t, ws, "hello.txt"); got != "hello from the fake model\n" {
		t.Errorf("hello.txt = %q", got)
	}
	if fi, err := os.Stat(filepath.Join(ws, "hello.txt")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 1000 {
		t.Errorf("hello.txt: %v, want a file of uid 1000, the workspace's owner", err)
	}
	r := e.find(name)
	// The prompt is in the session Gemini CLI keeps in its state
	// directory: found there, it proves the scan read that mount too.
	scanForSecret(t, r.ID, fakeGeminiKey, "hello from the fake model", prompt)

	reqs := fake.requests()
	if len(fake.turns()) < 2 {
		t.Fatalf("the fake saw %d model turns, want the function call and the answer: %+v", len(fake.turns()), reqs)
	}
	for _, q := range reqs {
		if q.APIKey != fakeGeminiKey {
			t.Errorf("%s %s reached the fake with x-goog-api-key %q, want the granted key", q.Method, q.Path, q.APIKey)
		}
		if strings.Contains(q.Query, "key=") {
			t.Errorf("%s %s?%s: the key went in the query, where the proxy does not replace it", q.Method, q.Path, q.Query)
		}
	}
	notes := strings.Join(fake.instructions(), "\n")
	mustContain(t, "what reached the model", notes, "You are running in a moat sandbox", "generativelanguage.googleapis.com", "X-Moat-Blocked")

	e.mustRun(0, "stop", name)
	var trace []struct {
		Host, Path, Grant string
		Status            int
	}
	res := e.mustRun(0, "trace", name, "--json")
	if err := json.Unmarshal([]byte(res.stdout), &trace); err != nil {
		t.Fatalf("trace --json: %v\n%s", err, res.stdout)
	}
	granted := 0
	for _, q := range trace {
		if strings.HasPrefix(q.Host, "generativelanguage.googleapis.com") && q.Grant == "gemini" {
			granted++
		}
	}
	if granted != len(reqs) || len(trace) != len(reqs) {
		t.Errorf("the trace has %d requests, %d with the gemini grant; the fake saw %d:\n%s", len(trace), granted, len(reqs), res.stdout)
	}
	res = e.mustRun(0, "audit", name)
	n := strconv.Itoa(len(reqs))
	mustContain(t, "audit", res.stdout, ": OK\n", "credential.injected "+n+",", "net.request "+n+",")

	// Second run: the launcher, with its default arguments, resuming the
	// first run's session from the state moat kept.
	res = e.mustRun(0, "gemini", ws, "--", "-r", "latest", "-p", "Now say goodbye")
	mustContain(t, "moat gemini's output", res.stdout, "Done: the file is written.")
	if !fake.resumed(prompt) {
		t.Errorf("the second run did not send the first run's conversation: it did not resume")
	}
}
