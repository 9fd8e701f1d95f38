// Package egress owns a run's proxy sidecar process: the configuration the
// CLI hands it on stdin (token, policy, grants with their secrets, the
// audit key), and serving the proxy with it inside the sidecar container
// until it is stopped, recording every request in the run's audit log. It
// also owns the relay's side (the port hand-over) and the start-time
// attestation of a run's egress: what the CLI expects (PlanAttestation),
// the checks the relay runs from the agent's namespace (Attester), and the
// proxy's endpoints that answer them and record the result. It joins the
// pure parts (internal/policy, internal/grant, internal/proxy) and knows
// nothing of engines or the CLI.
package egress
