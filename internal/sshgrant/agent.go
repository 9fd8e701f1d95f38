package sshgrant

import (
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/moatsh/moat/internal/sshagent"
)

// dialTimeout bounds connecting to the user's ssh-agent: a socket whose
// agent is gone fails at once, but one nobody accepts on must not hang.
const dialTimeout = 5 * time.Second

// DialAgent connects to the ssh-agent listening on socket (SSH_AUTH_SOCK).
// Close the returned closer when done with the agent.
func DialAgent(socket string) (agent.ExtendedAgent, io.Closer, error) {
	if socket == "" {
		return nil, nil, &AgentError{Why: "SSH_AUTH_SOCK is not set"}
	}
	conn, err := net.DialTimeout("unix", socket, dialTimeout)
	if err != nil {
		return nil, nil, &AgentError{Why: "connecting to " + socket, Err: err}
	}
	return agent.NewClient(conn), conn, nil
}

// AgentError reports an ssh-agent that cannot be reached.
type AgentError struct {
	Why string
	Err error
}

func (e *AgentError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("using your ssh-agent: %s: %v", e.Why, e.Err)
	}
	return "using your ssh-agent: " + e.Why
}

func (e *AgentError) Unwrap() error { return e.Err }

// Hint says how to get an agent.
func (e *AgentError) Hint() string {
	return "Start one ('eval \"$(ssh-agent)\"') and add the key ('ssh-add FILE'), or grant the key file with --key FILE."
}

// AgentKey returns the public key of the key with the given SHA256
// fingerprint that upstream holds.
func AgentKey(upstream agent.ExtendedAgent, fingerprint string) (ssh.PublicKey, error) {
	b, err := sshagent.FindAgentKey(upstream, fingerprint)
	if err != nil {
		return nil, err
	}
	return b.Key, nil
}

// AgentKeys lists the keys upstream holds as ssh-add -l does:
// "SHA256:... comment (ED25519)".
func AgentKeys(upstream agent.ExtendedAgent) ([]string, error) {
	keys, err := upstream.List()
	if err != nil {
		return nil, &AgentError{Why: "listing its keys", Err: err}
	}
	var out []string
	for _, k := range keys {
		pub, err := ssh.ParsePublicKey(k.Blob)
		if err != nil {
			continue // a key type x/crypto does not know cannot be granted
		}
		typ := strings.ToUpper(strings.TrimPrefix(strings.TrimPrefix(pub.Type(), "ssh-"), "ecdsa-sha2-"))
		out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s (%s)", ssh.FingerprintSHA256(pub), k.Comment, typ)))
	}
	return out, nil
}
