package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/policy"
)

// A git push over HTTPS is a POST to .../git-receive-pack whose body
// starts with the ref updates as pkt-lines ("OLD NEW REF", the first with
// the client's capabilities after a NUL), then a flush ("0000"), then the
// pack. With a push policy (network.git-push), the proxy reads those
// commands before anything goes upstream and refuses the whole push if any
// updates a ref the policy does not allow or deletes one: it answers as a
// git server would, with a report the git client prints per ref
// ("! [remote rejected] main -> main (moat: ...)"). Fetches and clones
// (git-upload-pack) are not affected. What the proxy cannot see: whether
// an update is a fast-forward (the server's branch protection decides
// force pushes), and anything inside a tunnel-only host.

// maxPushCommands bounds the command section the proxy reads.
const maxPushCommands = 1 << 20

const zeroOID40, zeroOID64 = "0000000000000000000000000000000000000000", "0000000000000000000000000000000000000000000000000000000000000000"

// pushCommand is one ref update of a push.
type pushCommand struct {
	oldOID, newOID, ref string
}

// isReceivePack reports whether r is a git push request.
func isReceivePack(r *http.Request) bool {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
		return false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-git-receive-pack-request"
}

// checkPush reads a push's commands and, if the push policy refuses any,
// answers the git client itself and reports true; otherwise it puts the
// body back whole and reports false. A push it cannot read is refused.
func (s *Server) checkPush(w http.ResponseWriter, r *http.Request, x *exchange) bool {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return s.refusePush(w, x, nil, nil, fmt.Errorf("the push is %s-encoded, so moat cannot read which refs it updates", ce))
	}
	var read bytes.Buffer
	cmds, caps, err := readPushCommands(io.TeeReader(io.LimitReader(r.Body, maxPushCommands), &read))
	if err != nil {
		return s.refusePush(w, x, nil, nil, fmt.Errorf("moat could not read the push's ref updates: %w", err))
	}
	var refused []string
	for _, c := range cmds {
		switch {
		case c.newOID == zeroOID40 || c.newOID == zeroOID64:
			refused = append(refused, c.ref)
		case !s.GitPush.Allows(c.ref):
			refused = append(refused, c.ref)
		}
	}
	if len(refused) > 0 {
		return s.refusePush(w, x, cmds, caps, nil)
	}
	body := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(&read, body), body}
	return false
}

// readPushCommands reads pkt-lines up to the flush that ends the commands.
func readPushCommands(rd io.Reader) ([]pushCommand, []string, error) {
	var cmds []pushCommand
	var caps []string
	for {
		line, flush, err := readPktLine(rd)
		if err != nil {
			return nil, nil, err
		}
		if flush {
			if len(cmds) == 0 {
				return nil, nil, errors.New("no ref updates before the flush")
			}
			return cmds, caps, nil
		}
		if strings.HasPrefix(line, "shallow ") {
			continue
		}
		if strings.HasPrefix(line, "push-cert") {
			return nil, nil, errors.New("signed pushes (push certificates) are not read by moat's push policy")
		}
		if len(cmds) == 0 {
			var c string
			line, c, _ = strings.Cut(line, "\x00")
			caps = strings.Fields(c)
		}
		fields := strings.Fields(strings.TrimSuffix(line, "\n"))
		if len(fields) != 3 || !isOID(fields[0]) || !isOID(fields[1]) || !strings.HasPrefix(fields[2], "refs/") {
			return nil, nil, fmt.Errorf("a malformed ref update %q", truncate(line, 120))
		}
		cmds = append(cmds, pushCommand{fields[0], fields[1], fields[2]})
	}
}

// readPktLine reads one pkt-line: its payload, or flush for "0000".
func readPktLine(rd io.Reader) (string, bool, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(rd, hdr[:]); err != nil {
		return "", false, fmt.Errorf("the request ended inside the ref updates: %w", err)
	}
	n, err := strconv.ParseUint(string(hdr[:]), 16, 16)
	if err != nil {
		return "", false, fmt.Errorf("a pkt-line length %q", hdr[:])
	}
	switch {
	case n == 0:
		return "", true, nil
	case n < 4:
		return "", false, fmt.Errorf("a pkt-line length %d", n)
	}
	buf := make([]byte, n-4)
	if _, err := io.ReadFull(rd, buf); err != nil {
		return "", false, fmt.Errorf("the request ended inside a pkt-line: %w", err)
	}
	return string(buf), false, nil
}

func isOID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// refusePush answers a push the policy refused (cmds, with the client's
// capabilities) or could not read (why), and records it.
func (s *Server) refusePush(w http.ResponseWriter, x *exchange, cmds []pushCommand, caps []string, why error) bool {
	reason := func(c pushCommand) string {
		switch {
		case c.newOID == zeroOID40 || c.newOID == zeroOID64:
			return "moat: deleting a ref is refused by network.git-push"
		case !s.GitPush.Allows(c.ref):
			return "moat: network.git-push allows pushes only to " + s.GitPush.Describe()
		}
		return "moat: another ref of this push was refused"
	}
	var d policy.Decision
	if why != nil {
		d = policy.Decision{Rule: why.Error(), Hint: "push without compression or signing, or ask the server's owner"}
	} else {
		var refs []string
		for _, c := range cmds {
			if r := reason(c); !strings.HasSuffix(r, "was refused") {
				refs = append(refs, c.ref)
			}
		}
		d = policy.Decision{
			Rule: fmt.Sprintf("git push to %s refused: network.git-push allows pushes only to %s, and no deletions", strings.Join(refs, ", "), s.GitPush.Describe()),
			Hint: "push to an allowed branch, or add the ref's pattern to network.git-push in agent.yaml",
		}
	}
	x.ev.Decision, x.ev.Duration = denyDecision(d), time.Since(x.ev.Time)
	s.logf("moat proxy: %s: %s", x.target.authority(), d.Rule)
	if why != nil || !hasCap(caps, "report-status") && !hasCap(caps, "report-status-v2") {
		writeDeny(w, d)
		x.ev.Status = policy.DenyStatus
		s.emit(x.ev)
		return true
	}
	var report bytes.Buffer
	report.WriteString(pktLine("unpack ok\n"))
	for _, c := range cmds {
		report.WriteString(pktLine("ng " + c.ref + " " + reason(c) + "\n"))
	}
	report.WriteString("0000")
	var out bytes.Buffer
	if hasCap(caps, "side-band-64k") || hasCap(caps, "side-band") {
		out.WriteString(pktLine("\x02moat: " + d.Rule + "\n"))
		out.WriteString(pktLine("\x01" + report.String()))
		out.WriteString("0000")
	} else {
		out = report
	}
	w.Header().Set("Content-Type", "application/x-git-receive-pack-result")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set(policy.HeaderName, d.Header())
	w.WriteHeader(http.StatusOK)
	w.Write(out.Bytes())
	x.ev.Status = http.StatusOK
	s.emit(x.ev)
	return true
}

func pktLine(payload string) string { return fmt.Sprintf("%04x%s", len(payload)+4, payload) }

func hasCap(caps []string, name string) bool {
	for _, c := range caps {
		if c == name || strings.HasPrefix(c, name+"=") {
			return true
		}
	}
	return false
}
