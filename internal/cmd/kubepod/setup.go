package kubepod

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type setupOptions struct {
	Self    []string
	From    string
	Stage   string
	Wait    string
	Timeout time.Duration
}

func newCmdSetup() *cobra.Command {
	var o setupOptions
	cmd := &cobra.Command{
		Use:   "setup --self FILE... --from DIR --stage DIR [--wait FILE] [--timeout DURATION]",
		Short: "Stage moat's files in a pod, then wait for moat's copy-in",
		Long: `Copy this program to each --self path (mode 0755), and each key of the
ConfigMap mounted at --from (its top-level files; the "..data" links a
ConfigMap mount has are not keys) into --stage (mode 0644). Then, with
--wait, wait until FILE exists ('kube done FILE', run by moat over exec
once it has copied the run's directories in), at most --timeout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return setup(o) },
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&o.Self, "self", nil, "a `file` to copy this program to (repeatable)")
	fl.StringVar(&o.From, "from", "", "the mounted ConfigMap `directory` whose keys to stage")
	fl.StringVar(&o.Stage, "stage", "", "the `directory` to stage the keys in")
	fl.StringVar(&o.Wait, "wait", "", "a `file` to wait for once staged")
	fl.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "how long to wait for --wait at most")
	return cmd
}

func setup(o setupOptions) error {
	if len(o.Self) > 0 {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding this program: %w", err)
		}
		for _, dst := range o.Self {
			if err := copyFile(self, dst, 0o755); err != nil {
				return err
			}
		}
	}
	if o.From != "" {
		if err := stageKeys(o.From, o.Stage); err != nil {
			return err
		}
	}
	if o.Wait != "" {
		return waitForFile(o.Wait, o.Timeout)
	}
	return nil
}

// stageKeys copies the keys of a mounted ConfigMap: its top-level names
// but those starting with "..", which are the mount's own (its "..data"
// link to the current "..<timestamp>" directory); each key is a link into
// it, followed here.
func stageKeys(from, stage string) error {
	if stage == "" {
		return errors.New("--from needs --stage, the directory to stage its keys in")
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return fmt.Errorf("reading the ConfigMap: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		if err := copyFile(filepath.Join(from, e.Name()), filepath.Join(stage, e.Name()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies the regular file src to dst with mode perm, making
// dst's directory if need be; dst appears whole or not at all.
func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if fi, err := in.Stat(); err != nil {
		return err
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("copying %s: not a regular file", src)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return nil
}

// pollInterval is how often waitForFile looks: the wait is for moat's
// exec, which takes far longer.
const pollInterval = 50 * time.Millisecond

// waitForFile returns once name exists, or an error after timeout.
func waitForFile(name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(name); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return waitTimeoutError(name, timeout)
		}
		time.Sleep(pollInterval)
	}
}

func waitTimeoutError(name string, timeout time.Duration) error {
	return fmt.Errorf("%s did not appear within %v: moat did not say to go on (it runs 'kube done %s' over exec); "+
		"is the moat that started this pod still running?", name, timeout, name)
}

func newCmdDone() *cobra.Command {
	var content string
	cmd := &cobra.Command{
		Use:   "done FILE",
		Short: "Create FILE, to end a 'kube setup --wait' or 'kube init --wait-go'",
		Long: `Create FILE, to end a 'kube setup --wait' or 'kube init --wait-go'.

With --content, FILE holds it, written whole under a temporary name and
renamed into place, so that a reader waiting for FILE never sees part of
it (the proxy's address, for the relay).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(filepath.Dir(args[0]), 0o755); err != nil {
				return err
			}
			tmp := args[0] + ".tmp"
			if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, args[0])
		},
	}
	cmd.Flags().StringVar(&content, "content", "", "what FILE holds (empty by default)")
	return cmd
}
