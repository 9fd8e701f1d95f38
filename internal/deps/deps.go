// Package deps parses the dependency specs of agent.yaml ("git", "node@22",
// "npm:typescript", "docker:dind") against an embedded registry of install
// recipes, pins versions, and resolves a list of specs into a sorted,
// deduplicated set. It is pure: it only imports the standard library.
package deps

// Method says how a dependency is installed.
type Method string

const (
	MethodApt       Method = "apt"        // Debian package(s) from the base distribution
	MethodDebian    Method = "debian"     // apt:<package>, any package of the base's Debian release
	MethodNode      Method = "node"       // official nodejs.org tarball for a pinned version
	MethodGo        Method = "go"         // official go.dev tarball for a pinned version
	MethodNPM       Method = "npm"        // npm:<pkg>[@ver], global npm install (needs node)
	MethodPip       Method = "pip"        // pip:<pkg>[@ver] (needs python)
	MethodGoInstall Method = "go-install" // go:<module/path>[@ver] (needs go)
	MethodDocker    Method = "docker"     // docker:host / docker:dind
	// MethodTarball is an agent CLI unpacked from its npm registry
	// tarballs, each checked against a recorded SHA-512 (tarballs.go);
	// neither npm nor node is needed.
	MethodTarball Method = "tarball"
)

// DockerMode says how a run reaches a Docker engine.
type DockerMode string

const (
	DockerHost DockerMode = "host" // the host's engine, through its socket
	DockerDind DockerMode = "dind" // a private daemon inside the run
)

// Entry is one registry record.
type Entry struct {
	Name        string
	Description string
	Method      Method
	Default     string            // default version, "" when unversioned
	Versions    []string          // allowed versions; empty = unversioned (a version is an error)
	Pins        map[string]string // allowed version -> full release installed ("22" -> "22.23.3")
	// Sums holds the SHA-256 of each pinned release's download, by Debian
	// architecture (full release -> "amd64" -> hex). A release is offered
	// only with a sum; an architecture without one is refused at build.
	Sums map[string]map[string]string
	// Tarballs are what each release of a MethodTarball entry unpacks;
	// Commands are the programs it puts on PATH.
	Tarballs map[string][]Tarball
	Commands map[string]Command
	Requires []string // other registry names added automatically
	Packages []string // Debian packages it installs, or helper packages for downloads
	Aliases  []string // names users type by mistake for this entry
}

// Dep is one resolved dependency.
type Dep struct {
	Name     string     // registry name, or the package for npm/pip/go-install
	Method   Method     // how it is installed
	Version  string     // pinned version for node/go, requested one for packages, "" when none
	Mode     DockerMode // only for MethodDocker
	Packages []string   // Debian packages this dep needs, sorted
	// Sums is the SHA-256 of the download by Debian architecture
	// (node and go only).
	Sums map[string]string
	// From says where Docker comes from (MethodDocker only): Debian's
	// packages (the default) or Docker's own apt repository.
	From DockerSource
	// Tarballs and Commands are a MethodTarball release's (see Entry).
	Tarballs []Tarball
	Commands map[string]Command
}

// DockerSource is where a Docker mode's packages come from.
type DockerSource string

const (
	FromDebian DockerSource = ""       // Debian's docker.io: works with any Debian mirror
	FromDocker DockerSource = "docker" // download.docker.com: current releases, needs HTTPS to it
)

// WithDockerSource returns set with every Docker dependency installed from
// src; the choice is part of each one's Key and so of the image hash.
func WithDockerSource(set []Dep, src DockerSource) []Dep {
	out := make([]Dep, len(set))
	for i, d := range set {
		if d.Method == MethodDocker {
			d.From = src
		}
		out[i] = d
	}
	return out
}

// Spec is one parsed dependency spec, before resolution.
type Spec struct {
	Raw     string     // the spec as written
	Name    string     // registry name, or the package for npm/pip/go-install
	Method  Method     // how it is installed
	Version string     // the requested version, "" when none
	Mode    DockerMode // only for MethodDocker
}

// keyPrefix is the spec prefix of methods written as "<prefix>:<name>".
var keyPrefix = map[Method]string{
	MethodApt: "apt:",
	// Not "apt:": a registry entry's key is "apt:<entry>" ("apt:python",
	// three packages), and a Debian package may share its name.
	MethodDebian:    "debian:",
	MethodNPM:       "npm:",
	MethodPip:       "pip:",
	MethodGoInstall: "go:",
}

// Key is the dependency's unique identity, used in the image hash:
// "apt:git", "node@22.23.3", "npm:typescript@5.4.0", "pip:requests",
// "go:golang.org/x/tools/cmd/goimports@latest", "docker:dind".
func (d Dep) Key() string {
	if d.Method == MethodDocker {
		if d.From != FromDebian {
			return "docker:" + string(d.Mode) + "+" + string(d.From)
		}
		return "docker:" + string(d.Mode)
	}
	k := keyPrefix[d.Method] + d.Name
	if d.Version != "" {
		k += "@" + d.Version
	}
	return k
}

// identity names the thing a dep installs, whatever its version or mode;
// two deps with one identity and different keys conflict.
func (d Dep) identity() string {
	return string(d.Method) + ":" + d.Name
}
