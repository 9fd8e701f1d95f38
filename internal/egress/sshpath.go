package egress

// SSHAgentPath, under AttestHost, is where the relay asks the proxy for the run's ssh agent.
const SSHAgentPath = "/v1/ssh-agent"
