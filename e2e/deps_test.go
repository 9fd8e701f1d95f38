//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// TestDebianPackagesAndToolchains builds an image with a Debian package
// named by apt:NAME and toolchains from the registry (Debian's Ruby and
// Vim, Bun from its npm tarball), and runs each in the agent's container.
// agent.yaml asking for an apt: package needs approval, like npm: and pip:.
func TestDebianPackagesAndToolchains(t *testing.T) {
	t.Parallel()
	e := newMoat(t)
	e.writeConfig("buildkit_image: " + buildkitImageID + "\nnpm_registry: " + npmRegistryFor(t, "bun") + "\n")
	yaml := "dependencies: [apt:htop, ruby, vim, bun]\n"
	untrusted := e.untrustedWorkspace(map[string]string{"agent.yaml": yaml})
	res := e.run("run", untrusted, "--", "true")
	if res.code != 125 {
		t.Fatalf("an unapproved apt: package ran (exit %d):\n%s", res.code, res)
	}
	mustContain(t, "approval request", res.stderr, "the image build would install debian:htop")

	ws := e.workspace(map[string]string{"agent.yaml": yaml})
	res = e.mustRun(0, "run", ws, "--", "sh", "-c",
		`htop --version | head -1; ruby -e 'puts "ruby #{6*7}"'; bun -e 'console.log("bun", 6*7)'; vim --version | head -1`)
	mustContain(t, "stdout", res.stdout, "htop 3.", "ruby 42", "bun 42", "VIM - Vi IMproved")
	if !strings.Contains(res.stderr, "Building image") {
		t.Errorf("the first run with these dependencies did not build:\n%s", res)
	}
}
