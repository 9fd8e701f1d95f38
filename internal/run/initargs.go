package run

// initArgs is the agent's container command, moat-init's arguments: the
// agent's own variables (agent.yaml env, then -e), "--", then the command.
//
// The agent's variables never enter the container's env, which the
// engine gives to moat-init and so to everything it runs as root: the
// loader honours LD_PRELOAD and LD_AUDIT for the shell that runs moat-init
// before a line of it runs, and PATH, BASH_ENV and the like would choose
// what root runs. moat-init applies them with env(1) after it has dropped
// to the agent's user, so they reach the agent's process alone, and win
// over the container's env there, as docker's -e does.
func initArgs(env, command []string) []string {
	args := make([]string, 0, len(env)+1+len(command))
	args = append(args, env...)
	args = append(args, initSeparator)
	return append(args, command...)
}

// initSeparator ends the agent's variables in moat-init's arguments.
const initSeparator = "--"
