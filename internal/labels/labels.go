// Package labels owns the label keys moat puts on every engine object it
// creates (containers, images, networks, volumes) and the selectors built from
// them. Cleanup finds objects by these labels, never by name.
package labels

// Prefix is the namespace of every moat label.
const Prefix = "moat."

// Label keys.
const (
	Managed   = Prefix + "managed"    // "true" on everything moat creates
	RunID     = Prefix + "run-id"     // the run an object belongs to
	RunName   = Prefix + "run-name"   // the run's name, for humans reading `docker ps`
	Role      = Prefix + "role"       // what the object is for, see Role* below
	Version   = Prefix + "version"    // the moat version that created it
	ImageHash = Prefix + "image-hash" // content hash of an image's inputs
	Workspace = Prefix + "workspace"  // host path of the run's workspace
	Home      = Prefix + "home"       // which moat home created it (HomeID)
	// A cache volume's origin: the digest of the approved sandbox it was
	// made under, and the run that created it.
	ConfigDigest = Prefix + "config-digest"
	CreatedBy    = Prefix + "created-by"
)

// Roles.
const (
	RoleAgent = "agent" // the container running the agent's command
	RoleImage = "image" // an image moat built
	// RoleHelperImage is an image moat made of another by adding its own
	// binary (image.HelperRepository).
	RoleHelperImage = "helper-image"
	RoleDind        = "dind"       // a run's docker:dind daemon state
	RoleDindCache   = "dind-cache" // a workspace's docker:dind state kept between runs
	RoleProxy       = "proxy"      // a run's egress proxy sidecar
	RoleBuildkit    = "buildkit"   // a run's BuildKit sidecar and its state

	RoleBuildkitCache = "buildkit-cache" // a workspace's BuildKit state kept between runs
)

// ManagedFilter is the label selector that matches every moat object.
const ManagedFilter = Managed + "=true"

// ForRun returns the labels for an object of the given role in a run.
func ForRun(runID, runName, role, version string) map[string]string {
	return map[string]string{
		Managed: "true",
		RunID:   runID,
		RunName: runName,
		Role:    role,
		Version: version,
	}
}

// RunFilter is the label selector matching every object of one run.
func RunFilter(runID string) string { return RunID + "=" + runID }

// RunRoles are the roles of a run's own containers. A container with
// another role, or none, is not a run's, whatever else its labels say: a
// container built or committed from a moat image inherits that image's
// labels.
var RunRoles = []string{RoleAgent, RoleProxy, RoleBuildkit}
