// Package suggest owns the logic of 'moat policy suggest': from the
// requests a run's proxy recorded (internal/trace) and the network section
// of the run's workspace's agent.yaml, the network.allow rules a strict run
// would need to make the same requests, with the risky ones (IP addresses,
// private destinations, wildcards over a whole registrable domain) set
// apart; and the edit of agent.yaml's text that adds them, leaving every
// other byte as it was, rendered as a unified diff. It reads no files and
// prints nothing: agent.yaml's bytes come in, bytes and a diff go out.
package suggest
