package deps

import (
	"maps"
	"slices"
	"strings"
)

// registry is the recipe table, sorted by name. Apt entries install Debian
// bookworm packages; node and go download official releases pinned below.
var registry = []Entry{
	apt("build-essential", "C/C++ compiler, make and headers", []string{"build-essential"},
		"build-essentials", "buildessential", "gcc", "g++", "cc"),
	{
		Name:        "bun",
		Description: "Bun, the JavaScript runtime and package manager, native build from the npm registry",
		Method:      MethodTarball,
		Default:     "1.4.5",
		Versions:    []string{"1.4.5"},
		Tarballs:    bunTarballs,
		Commands:    map[string]Command{"bun": {Exec: []string{"bin/bun"}}}, // "bun x" is bunx
		Packages:    []string{"ca-certificates", "curl"},
		Aliases:     []string{"bunjs", "bun.js", "bunx", "oven"},
	},
	{
		Name:        "claude-code",
		Description: "Claude Code, Anthropic's coding agent (command claude), native build from the npm registry",
		Method:      MethodTarball,
		Default:     "2.1.332",
		Versions:    []string{"2.1.332"},
		Tarballs:    claudeCodeTarballs,
		Commands:    map[string]Command{"claude": {Exec: []string{"bin/claude"}}},
		Packages:    []string{"ca-certificates", "curl"},
		Aliases:     []string{"claude", "claude-cli"},
	},
	{
		Name:        "codex",
		Description: "Codex, OpenAI's coding agent, native build from the npm registry",
		Method:      MethodTarball,
		Default:     "0.171.0",
		Versions:    []string{"0.171.0"},
		Tarballs:    codexTarballs,
		Commands:    map[string]Command{"codex": {Exec: []string{"vendor/bin/codex"}, Path: []string{"vendor/codex-path"}}},
		Packages:    []string{"ca-certificates", "curl"},
		Aliases:     []string{"codex-cli", "openai-codex"},
	},
	apt("curl", "HTTP client", []string{"curl"}),
	{
		Name:        "docker",
		Description: "Docker CLI, with the host's engine (docker:host) or a private daemon (docker:dind)",
		Method:      MethodDocker,
		Packages:    []string{"docker.io"},
		Aliases:     []string{"docker-ce", "docker-cli", "docker.io", "dockerd", "dind"},
	},
	{
		Name:        "gemini-cli",
		Description: "Gemini CLI, Google's coding agent (command gemini), with its own Node.js, from the npm registry",
		Method:      MethodTarball,
		Default:     "0.61.0",
		Versions:    []string{"0.61.0"},
		Tarballs:    geminiTarballs,
		Commands:    map[string]Command{"gemini": {Exec: []string{"node/bin/node", "cli/bundle/gemini.js"}}},
		Packages:    []string{"ca-certificates", "curl"},
		Aliases:     []string{"gemini"},
	},
	apt("gh", "GitHub CLI (Debian's build)", []string{"gh"}, "github-cli"),
	apt("git", "Git version control", []string{"git"}, "git-core"),
	{
		Name:        "go",
		Description: "Go toolchain, the release the go command itself downloads (golang.org/toolchain)",
		Method:      MethodGo,
		Default:     "1.24",
		Versions:    []string{"1.22", "1.23", "1.24", "1.25", "1.26"},
		Pins: map[string]string{
			"1.22": "1.22.12", "1.23": "1.23.12", "1.24": "1.24.13",
			"1.25": "1.25.14", "1.26": "1.26.11",
		},
		Sums:     goSums,
		Packages: []string{"ca-certificates", "curl", "unzip"},
		Aliases:  []string{"golang", "go-lang"},
	},
	apt("java", "Debian's OpenJDK 17 (headless JDK: java, javac, jar)", []string{"openjdk-17-jdk-headless"},
		"jdk", "openjdk", "javac", "jre", "java17", "openjdk-17"),
	apt("jq", "JSON processor", []string{"jq"}),
	apt("less", "pager", []string{"less"}),
	apt("make", "GNU make", []string{"make"}, "gmake"),
	{
		Name: "maven", Description: "Apache Maven (Debian's), with Java", Method: MethodApt,
		Packages: []string{"maven"}, Requires: []string{"java"}, Aliases: []string{"mvn"},
	},
	{
		Name:        "node",
		Description: "Node.js with npm, from nodejs.org",
		Method:      MethodNode,
		Default:     "22",
		// 18 is not offered: no published SHA-256 of its release could be
		// recorded (see nodeSums).
		Versions: []string{"20", "22", "24"},
		Pins: map[string]string{
			"20": "20.20.2", "22": "22.23.3", "24": "24.21.0",
		},
		Sums:     nodeSums,
		Packages: []string{"ca-certificates", "curl", "xz-utils"},
		Aliases:  []string{"nodejs", "node.js", "npm", "npx"},
	},
	apt("psql", "PostgreSQL client", []string{"postgresql-client"},
		"postgres", "postgresql", "postgresql-client", "pg"),
	apt("python", "Debian's Python 3.11 with pip and venv", []string{
		"python-is-python3", "python3", "python3-pip", "python3-venv",
	}, "python3", "py", "pip", "pip3", "python3.11"),
	apt("ripgrep", "fast recursive search (command rg)", []string{"ripgrep"}, "rg"),
	apt("ruby", "Debian's Ruby 3.1 with gem, bundler and headers", []string{"bundler", "ruby", "ruby-dev"},
		"ruby3", "gem", "bundle", "rubygems"),
	apt("rust", "Debian's Rust 1.63 (rustc, cargo); for a newer one, use rustup in the run", []string{"cargo", "rustc"},
		"rustc", "cargo", "rust-lang", "rustlang"),
	apt("sqlite3", "SQLite command-line shell", []string{"sqlite3"}, "sqlite"),
	apt("ssh", "OpenSSH client (ssh, scp)", []string{"openssh-client"},
		"openssh", "openssh-client", "ssh-client", "scp"),
	apt("unzip", "zip archive extractor", []string{"unzip"}),
	{
		Name: "uv", Description: "uv, Astral's Python package manager, from PyPI (pip:uv), with Python", Method: MethodPip,
		Aliases: []string{"astral-uv", "uvx"},
	},
	apt("vim", "Vim editor", []string{"vim"}, "vi"),
	apt("wget", "HTTP downloader", []string{"wget"}),
	apt("zip", "zip archive creator", []string{"zip"}),
}

// methodRequires names the registry entry each package method needs.
var methodRequires = map[Method]string{
	MethodNPM:       "node",
	MethodPip:       "python",
	MethodGoInstall: "go",
}

// prefixAliases maps prefixes users write by mistake to the right one.
var prefixAliases = map[string]string{
	"golang": "go",
	"node":   "npm",
	"pip3":   "pip",
	"pipx":   "pip",
	"pnpm":   "npm",
	"python": "pip",
	"uv":     "pip",
	"yarn":   "npm",
}

// aptPrefixes are prefixes users write for a Debian package ("deb:htop"
// -> "apt:htop").
var aptPrefixes = []string{"apt-get", "deb", "debian", "dpkg"}

func apt(name, desc string, pkgs []string, aliases ...string) Entry {
	return Entry{Name: name, Description: desc, Method: MethodApt, Packages: pkgs, Aliases: aliases}
}

// Registry returns a copy of every registry entry, sorted by name.
func Registry() []Entry {
	out := make([]Entry, len(registry))
	for i, e := range registry {
		out[i] = e.clone()
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Lookup returns a copy of the entry called name.
func Lookup(name string) (Entry, bool) {
	for _, e := range registry {
		if e.Name == name {
			return e.clone(), true
		}
	}
	return Entry{}, false
}

func (e Entry) clone() Entry {
	e.Versions = slices.Clone(e.Versions)
	e.Pins = maps.Clone(e.Pins)
	e.Requires = slices.Clone(e.Requires)
	e.Packages = slices.Clone(e.Packages)
	e.Aliases = slices.Clone(e.Aliases)
	e.Commands = maps.Clone(e.Commands)
	tarballs := make(map[string][]Tarball, len(e.Tarballs))
	for v, ts := range e.Tarballs {
		tarballs[v] = slices.Clone(ts)
	}
	if e.Tarballs != nil {
		e.Tarballs = tarballs
	}
	return e
}
