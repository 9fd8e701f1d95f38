//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
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

// TestProjectBaseImage: agent.yaml's dockerfile: builds the run's base
// from a Dockerfile in the workspace (its directory the context, packed by
// moat: a link the agent planted to a host file stays a link), reused
// while its context is unchanged; image: names an image of the engine's.
// Each needs approval, pinned by the context's digest or the image's ID,
// and the proxy keeps running on moat's own base image.
func TestProjectBaseImage(t *testing.T) {
	t.Parallel()
	needImage(t, "jq")
	e := newMoat(t)
	const link = "../../host-secret" // outside the context
	files := map[string]string{
		"agent.yaml":                 "dockerfile: .devcontainer/Dockerfile\ndependencies: [jq]\n",
		".devcontainer/greeting.txt": "hello from the context\n",
		".devcontainer/Dockerfile": "FROM " + baseImage + "\nCOPY greeting.txt /etc/greeting\nCOPY . /ctx/\n" +
			"RUN echo built-by-dockerfile > /etc/from-dockerfile\n",
	}
	ws := e.untrustedWorkspace(files)
	if err := os.WriteFile(filepath.Join(ws, ".devcontainer", link), []byte("HOST-SECRET-7c1e"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(link, filepath.Join(ws, ".devcontainer", "leak")); err != nil {
		t.Fatal(err)
	}
	res := e.run("run", ws, "--", "true")
	if res.code != 125 {
		t.Fatalf("an unapproved dockerfile: ran (exit %d):\n%s", res.code, res)
	}
	mustContain(t, "approval request", res.stderr, "built on one made from .devcontainer/Dockerfile", "run as root")
	e.trust(ws)

	show := `cat /etc/greeting /etc/from-dockerfile; jq --version; cat /ctx/leak 2>&1; test -L /ctx/leak && echo leak-is-a-link`
	res = e.mustRun(0, "run", ws, "--", "sh", "-c", show)
	mustContain(t, "stdout", res.stdout, "hello from the context", "built-by-dockerfile", "jq-1.")
	if strings.Contains(res.stdout, "HOST-SECRET") {
		t.Fatalf("a link in the build context brought a host file into the image:\n%s", res.stdout)
	}
	// (Not its target: the engine's build cache does not tell links
	// apart by target, and may give back one from an earlier build.)
	mustContain(t, "the link, as a link", res.stdout, "leak-is-a-link")
	res = e.mustRun(0, "run", ws, "--", "true")
	if strings.Contains(res.stderr, "Building image") {
		t.Errorf("an unchanged dockerfile was built again:\n%s", res)
	}

	// The agent changes a file of the context: approval is asked again.
	if err := os.WriteFile(filepath.Join(ws, ".devcontainer", "greeting.txt"), []byte("changed by the agent\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if res = e.run("run", ws, "--", "true"); res.code != 125 {
		t.Fatalf("a changed context ran without approval (exit %d):\n%s", res.code, res)
	}

	// image: an image of the engine's, here a tag of the project's base.
	tag := "moat-e2e/dev:" + uniqueName(t)
	if out, err := docker(t, "build", "-q", "-t", tag, filepath.Join(ws, ".devcontainer")); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { docker(t, "rmi", tag) })
	ws2 := e.workspace(map[string]string{"agent.yaml": "image: " + tag + "\n"})
	res = e.mustRun(0, "run", ws2, "--", "cat", "/etc/greeting")
	mustContain(t, "stdout of a run on image:", res.stdout, "changed by the agent")
	name := uniqueName(t)
	e.mustRun(0, "run", "-d", "-n", name, ws2, "--", "sleep", "300")
	r := e.find(name)
	out, err := docker(t, "inspect", "--format", "{{.Image}}", "moat-"+r.ID+"-proxy")
	if err != nil {
		t.Fatalf("inspecting the proxy: %v\n%s", err, out)
	}
	if baseID, _ := imageID(baseImage); strings.TrimSpace(out) != baseID {
		t.Errorf("the proxy runs on %s, want moat's base image %s", strings.TrimSpace(out), baseID)
	}
	e.mustRun(0, "stop", name)

	// The tag moved to another image: approval is asked again.
	if out, err := docker(t, "tag", baseImage, tag); err != nil {
		t.Fatalf("docker tag: %v\n%s", err, out)
	}
	if res = e.run("run", ws2, "--", "true"); res.code != 125 {
		t.Fatalf("a moved image: tag ran without approval (exit %d):\n%s", res.code, res)
	}
}
