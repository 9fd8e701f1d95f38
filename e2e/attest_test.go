//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatsh/moat/internal/audit"
	"github.com/moatsh/moat/internal/egress"
	"github.com/moatsh/moat/internal/policy"
)

// The start-time attestation: a run's relay proves, from the agent's
// namespace and before the command runs, that there is no way out but
// the proxy, that the proxy refuses what the policy refuses and answers
// only the run's token, and that it holds each grant's credential.

// envScan prints every environment the agent can read: its own, and each
// /proc/PID/environ (those of root's processes, PID 1 and the relay among
// them, are not readable to it), then how many it read and could not.
const envScan = `read=0; refused=0
env
for f in /proc/[0-9]*/environ; do
	if { tr '\0' '\n' <"$f"; } 2>/dev/null; then read=$((read + 1)); else refused=$((refused + 1)); fi
done
echo "environments read=$read refused=$refused"`

// TestAttestPassesAndHidesItsValues: a strict run with a grant records a
// passed attestation naming its four checks, runs its command (whose
// request gets the grant), and the agent finds none of the attestation's
// values (the nonce, the grant's proof) in any environment it can read.
func TestAttestPassesAndHidesItsValues(t *testing.T) {
	t.Parallel()
	needImage(t, "curl", "git", "python")
	e := newMoat(t)
	s := newAPIServer(t, map[string]string{egressSecret: "granted"})
	e.grantAPI(s, "testapi", egressSecret)
	ws := e.egressWorkspace(s, "grants: [testapi]\n")
	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", name, ws, "--", "sh", "-c",
		`(`+envScan+`) > seen.out 2>&1; curl -sS https://api.test:`+s.port+`/hello > curl.out 2>&1; touch done; sleep 300`)
	waitFor(t, 60*time.Second, "the agent's scan", func() bool { return exists(filepath.Join(ws, "done")) })
	r := e.find(name)
	attestation := agentAttestation(t, r.ID)

	mustContain(t, "the agent's request", readFile(t, ws, "curl.out"), "api-ok granted")
	seen := readFile(t, ws, "seen.out")
	// The controls: the scan read the agent's own environment and its
	// processes', and was refused root's.
	mustContain(t, "the agent's scan", seen, "MOAT_RUN_ID="+r.ID, "HTTP_PROXY=", "environments read=")
	if strings.Contains(seen, "refused=0") {
		t.Errorf("the scan was refused no environment: root's processes (PID 1, the relay) are readable to the agent:\n%s", seen)
	}
	if len(attestation.Proofs) != 1 {
		t.Fatalf("the attestation holds proofs %v, want the grant's", attestation.Proofs)
	}
	for what, v := range map[string]string{"the variable": egress.AttestEnv + "=", "the nonce": attestation.Nonce, "the grant's proof": attestation.Proofs["testapi"]} {
		if strings.Contains(seen, v) {
			t.Errorf("the agent found %s (%s) in an environment it can read", what, v)
		}
	}
	e.mustRun(0, "stop", name)

	att := attestedEvents(t, e, r.ID)
	if len(att) != 1 {
		t.Fatalf("%d egress.attested events, want 1", len(att))
	}
	for _, c := range egress.AttestChecks {
		if got := att[0][audit.AttestCheckPrefix+c]; got != egress.VerdictPass {
			t.Errorf("egress.attested: %s is %q, want pass (%v)", c, got, att[0])
		}
	}
	if att[0][audit.AttestResult] != audit.AttestPassed || att[0][audit.AttestDurationUS] == "" {
		t.Errorf("egress.attested %v, want passed with its duration", att[0])
	}
	mustContain(t, "moat audit", e.mustRun(0, "audit", name).stdout, ": OK\n", audit.KindEgressAttested+" 1",
		"egress attestation: passed in", "grants-live pass, no-direct-route pass, token-only pass")
}

// agentAttestation reads the attestation the CLI gave run runID's agent
// container, from the engine.
func agentAttestation(t *testing.T, runID string) egress.Attestation {
	t.Helper()
	out, err := docker(t, "ps", "-q", "--filter", "label=moat.run-id="+runID, "--filter", "label=moat.role=agent")
	if err != nil || out == "" {
		t.Fatalf("the run's agent container: %q %v", out, err)
	}
	envJSON, err := docker(t, "inspect", "--format", "{{json .Config.Env}}", out)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	if err := json.Unmarshal([]byte(envJSON), &env); err != nil {
		t.Fatal(err)
	}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, egress.AttestEnv+"="); ok {
			a, err := egress.ParseAttestation(v)
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
	}
	t.Fatalf("the agent's container has no %s", egress.AttestEnv)
	return egress.Attestation{}
}

// attestedEvents returns the data of run runID's egress.attested events.
func attestedEvents(t *testing.T, e *moatEnv, runID string) []map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(e.runsDir(), runID, "proxy", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var entry audit.Entry
		if err := json.Unmarshal(sc.Bytes(), &entry); err != nil {
			t.Fatal(err)
		}
		if entry.Kind == audit.KindEgressAttested {
			out = append(out, entry.Data)
		}
	}
	return out
}

// hostileProxy stands in for a run's proxy taken over: it takes the
// relay's port over the proxy's socket, as moat's proxy does, and answers
// the attestation as its knobs say (all zero: as moat's proxy does).
type hostileProxy struct {
	token  string
	proofs map[string]string // the proofs it claims
	// deny is the status of an authorized CONNECT (moat's is 403 with
	// X-Moat-Blocked; another status comes without the header).
	deny     int
	anyToken bool // take every request, with or without the token

	mu      sync.Mutex
	reports []egress.AttestResult
}

func (h *hostileProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.anyToken && r.Header.Get("Proxy-Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("moat:"+h.token)) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="moat"`)
		w.WriteHeader(http.StatusProxyAuthRequired)
		return
	}
	switch {
	case r.Method == http.MethodConnect && h.deny != 0:
		w.WriteHeader(h.deny)
	case r.Method == http.MethodConnect:
		w.Header().Set(policy.HeaderName, "refused by the hostile proxy")
		w.WriteHeader(policy.DenyStatus)
	case r.Method == http.MethodGet:
		json.NewEncoder(w).Encode(map[string]any{"proofs": h.proofs})
	case r.Method == http.MethodPost:
		var res egress.AttestResult
		json.NewDecoder(r.Body).Decode(&res)
		h.mu.Lock()
		h.reports = append(h.reports, res)
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
}

// listen takes one relay's port on the proxy socket in dir and serves it
// until the test ends.
func (h *hostileProxy) listen(t *testing.T, dir string) {
	t.Helper()
	sock := filepath.Join(dir, "proxy.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(sock, 0o666)
	srv := &http.Server{Handler: h}
	t.Cleanup(func() { ln.Close(); srv.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close() // the relay's holder keeps it open while the container lives
		port, err := egress.ReceiveListener(c.(*net.UnixConn))
		if err != nil {
			t.Errorf("the relay handed over no port: %v", err)
			return
		}
		go srv.Serve(port)
		c.Read(make([]byte, 1))
	}()
}

// TestAttestFailsClosed runs moat-init, in a run's own image, with moat's
// relay and a proxy the test plays (a sabotaged one): each sabotage fails
// the check named for it, the run exits 125 with that name and the
// command never runs; the relay reported the failure to the proxy. The
// control, an honest stand-in, runs the command.
func TestAttestFailsClosed(t *testing.T) {
	e := newMoat(t)
	name := uniqueName(t)
	ws := e.workspace(map[string]string{"agent.yaml": "network: {policy: none}\n"}) // every run image has moat-init
	e.mustRun(0, "run", "-n", name, ws, "--", "true")
	img := e.find(name).Image
	const secret = "sk-attest-SECRET-0b1c2d"
	nonce := strings.Repeat("5a", 32)
	a := egress.Attestation{Token: "tok-attest", Nonce: nonce, Deny: "169.254.169.254:80",
		Proofs: map[string]string{"api": egress.GrantProof([]byte(secret), nonce)}}
	tests := []struct {
		name    string
		proxy   *hostileProxy
		network string
		check   string // "" for the control
	}{
		{"honest", &hostileProxy{proofs: a.Proofs}, "none", ""},
		{"the denied CONNECT gets 200", &hostileProxy{proofs: a.Proofs, deny: http.StatusOK}, "none", egress.CheckDenyOutsidePolicy},
		{"any token is taken", &hostileProxy{proofs: a.Proofs, anyToken: true}, "none", egress.CheckTokenOnly},
		{"a wrong grant proof", &hostileProxy{proofs: map[string]string{"api": egress.GrantProof([]byte("another"), nonce)}}, "none", egress.CheckGrantsLive},
		{"a grant proof missing", &hostileProxy{proofs: map[string]string{}}, "none", egress.CheckGrantsLive},
		{"the container has a network", &hostileProxy{proofs: a.Proofs}, "bridge", egress.CheckNoDirectRoute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "moat-attest") // short: a socket's path is at most 107 bytes
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			os.Chmod(dir, 0o755)
			h := tc.proxy
			h.token = a.Token
			h.listen(t, dir)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "docker", "run", "--rm", "--init", "--network", tc.network, "--label", "moat.e2e=attest",
				"-v", dir+":/run/moat/sock", "-v", moatBin+"-sidecar:/run/moat/bin/moat:ro",
				"-e", "MOAT_UID=1000", "-e", "MOAT_GID=1000", "-e", "MOAT_PROXY_PORT=3128",
				"-e", "MOAT_PROXY_SOCKET=/run/moat/sock/proxy.sock", "-e", "MOAT_RELAY=/run/moat/bin/moat",
				"-e", egress.AttestEnv+"="+a.Encode(),
				img, "--", "sh", "-c", "echo the command ran")
			out, err := cmd.CombinedOutput()
			code := exitCode(cmd, err)
			h.mu.Lock()
			reports := h.reports
			h.mu.Unlock()
			if len(reports) != 1 {
				t.Errorf("the proxy got %d reports, want 1", len(reports))
			}
			if tc.check == "" {
				if code != 0 || !strings.Contains(string(out), "the command ran") {
					t.Fatalf("the control: exit %d, output:\n%s\nwant 0 and the command run", code, out)
				}
				return
			}
			if code != 125 || strings.Contains(string(out), "the command ran") {
				t.Fatalf("exit %d, output:\n%s\nwant 125 and the command not run", code, out)
			}
			mustContain(t, "moat-init's output", string(out), "moat-init: egress attestation failed: "+tc.check+": ")
			if strings.Contains(string(out), "static Linux build") {
				t.Errorf("a failed attestation is reported as a broken relay:\n%s", out)
			}
			if len(reports) == 1 {
				if failed, ok := reports[0].Failure(); !ok || failed.Name != tc.check {
					t.Errorf("the report %+v does not name %s as failed", reports[0], tc.check)
				}
			}
		})
	}
}
