package run

// The agent's container starts moat-init (internal/image/moat-init.sh),
// which sets the run up as root and then runs the command as the agent.
// What it does is chosen by the container's environment: each feature
// declares, in its initContract, the steps of the script that run for it
// and the MOAT_* variables it sets for them, and sets them through those
// declarations (initVar.is). contract_test.go ties the declarations to the
// script: nothing set that is never read, nothing read that is never set.

// initVar is a MOAT_* variable of the agent's container environment.
type initVar struct {
	name    string
	meaning string
	// forAgent marks a variable moat sets for the agent's own use
	// (docs/runs.md, docs/docker.md), which moat-init does not read.
	forAgent bool
}

// is returns the variable set to value, as the container's env holds it.
func (v initVar) is(value string) string { return v.name + "=" + value }

// initContract is what a feature needs from moat-init: the steps (the
// script's functions, called from its main) that run for it, and the
// variables it sets, which enable and configure them.
type initContract struct {
	steps []string
	env   []initVar
	// sidecar are variables of the feature's sidecars, read by moat's own
	// programs there, not by moat-init.
	sidecar []initVar
}

// The variables of every run, whatever its features.
var (
	envUID     = initVar{name: "MOAT_UID", meaning: "the agent's UID, the workspace owner's: moat-init creates the user and drops to it"}
	envGID     = initVar{name: "MOAT_GID", meaning: "the agent's primary GID, the workspace owner's"}
	envRunID   = initVar{name: "MOAT_RUN_ID", meaning: "the run's ID, for the agent", forAgent: true}
	envRunName = initVar{name: "MOAT_RUN_NAME", meaning: "the run's name, for the agent", forAgent: true}
)

// baseInit is what every run needs from moat-init: the agent's user.
var baseInit = initContract{
	steps: []string{"check_command", "ensure_group", "ensure_user"},
	env:   []initVar{envUID, envGID, envRunID, envRunName},
}
