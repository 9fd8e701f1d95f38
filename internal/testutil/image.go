package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// CopyFromImage copies the file at path in image (such as the BuildKit
// client in the sidecar image) into dir, executable, with the docker CLI.
func CopyFromImage(image, path, dir string) (string, error) {
	out, err := exec.Command("docker", "create", "--label", "moat-test=copy", image).Output()
	if err != nil {
		return "", fmt.Errorf("the image %s is missing ('docker create': %v)", image, err)
	}
	id := strings.TrimSpace(string(out))
	defer exec.Command("docker", "rm", "-f", id).Run()
	dst := filepath.Join(dir, filepath.Base(path))
	if out, err := exec.Command("docker", "cp", id+":"+path, dst).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copying %s out of %s: %v\n%s", path, image, err, out)
	}
	return dst, os.Chmod(dst, 0o755)
}
