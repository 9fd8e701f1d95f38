//go:build e2e

package e2e

import "testing"

// TestAgentSystemFilesAreRoots runs moat as a regular user with a profile
// whose managed settings an agent honours only when root owns them (Gemini
// CLI skips a system settings file of any other owner, and with it the
// quieting and the sandbox note). Mounted from the run's directory they
// would be that user's; moat-init installs them as root's, 0644, and the
// agent cannot write them.
func TestAgentSystemFilesAreRoots(t *testing.T) {
	t.Parallel()
	e, ws, _, _ := newMoatAsUser(t, map[string]string{"agent.yaml": "agent: gemini\n"})
	e.writeConfig("buildkit_image: " + buildkitImageID + "\nnpm_registry: " + npmRegistryFor(t, "gemini-cli") + "\n")
	files := []string{"/etc/gemini-cli/settings.json", "/etc/gemini-cli/moat/GEMINI.md"}
	script := "for f in " + files[0] + " " + files[1] + `; do echo "$(stat -c '%u %a' "$f") $f"; if (echo x >>"$f") 2>/dev/null; then echo "wrote $f"; fi; done`
	res := e.mustRun(0, "run", ws, "--", "sh", "-c", script)
	want := "0 644 " + files[0] + "\n0 644 " + files[1] + "\n"
	if res.stdout != want {
		t.Errorf("owner, mode and writability of the managed files:\n%s\nwant\n%s", res.stdout, want)
	}
}
