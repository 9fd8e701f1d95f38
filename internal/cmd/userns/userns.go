// Package userns implements the hidden 'moat userns-run', which moat-init
// runs, from the copy of moat's binary in a docker:dind run's image, to
// start the inner Docker daemon in a user namespace. It is built into
// moat-sidecar too (see internal/cmd/sidecar).
package userns

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/ociwrap"
	"github.com/moatsh/moat/internal/userns"
)

// NewCmdUsernsRun builds the hidden 'userns-run' command.
func NewCmdUsernsRun() *cobra.Command {
	var o userns.Options
	var files []string
	cmd := &cobra.Command{
		Use:   "userns-run --uid UID --gid GID --sub-start N --sub-count N [--slirp] [--setup DIR [--own DIR]...] -- COMMAND [ARG]...",
		Short: "Internal: run a command as root of a user namespace owned by an unprivileged user",
		Long: `Run a command as uid 0 of a new user and mount namespace (and, with
--slirp, network namespace) in which 0 is the host user UID:GID and
1..N are the host ids from --sub-start. Run it as UID, holding only the
CAP_SETUID and CAP_SETGID capabilities (ambient); it drops them as soon as
the namespace's maps are written. It exits with the command's status.

With --setup DIR it starts as root instead (with CAP_CHOWN, CAP_SYS_ADMIN,
CAP_SETPCAP, CAP_SETUID and CAP_SETGID): it gives the --own directories
to UID:GID, mounts a fresh proc and a read-only sysfs under DIR in a
private mount namespace, becomes UID with only CAP_SETUID and CAP_SETGID,
and goes on as above.`,
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range files {
				ef, err := userns.ParseEnvFile(f)
				if err != nil {
					return fmt.Errorf("--write-env %w", err)
				}
				o.Files = append(o.Files, ef)
			}
			run := userns.Run
			if o.Setup != "" {
				run = userns.FromRoot
			}
			code, err := run(o, args)
			if err != nil {
				fmt.Fprintf(os.Stderr, "moat userns-run: %v\n", err)
			}
			os.Exit(code)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.IntVar(&o.UID, "uid", 0, "host uid of the namespace's root")
	fl.IntVar(&o.GID, "gid", 0, "host gid of the namespace's root")
	fl.IntVar(&o.SubStart, "sub-start", 0, "first host id of the namespace's ids 1..N")
	fl.IntVar(&o.SubCount, "sub-count", 0, "N, how many host ids the namespace's ids 1..N take")
	fl.BoolVar(&o.Slirp, "slirp", false, "give the command its own network, connected to this one's loopback by slirp4netns")
	fl.StringVar(&o.SlirpAPI, "slirp-api", "", "slirp4netns's API socket")
	fl.StringVar(&o.Setup, "setup", "", "as root: first mount a fresh proc and sysfs under this directory in a private mount namespace, "+
		"then become UID keeping only CAP_SETUID and CAP_SETGID")
	fl.StringArrayVar(&o.Own, "own", nil, "with --setup: a directory to create if need be and give to UID:GID first")
	fl.StringArrayVar(&files, "write-env", nil, "with --setup: PATH=VAR, write $VAR to the file PATH, in an --own directory, first")
	return cmd
}

// NewCmdOCIRuntime builds the hidden 'oci-runtime', the runtime a docker:dind
// run's inner daemon runs (through a two-line script, since a runtime is a
// path without arguments): it makes each new container trust the run's
// proxy CA, then runs runc with the same arguments (internal/ociwrap).
func NewCmdOCIRuntime() *cobra.Command {
	return &cobra.Command{
		Use:   "oci-runtime [RUNC-ARG]...",
		Short: "Internal: the inner Docker daemon's runtime, runc with the run's proxy CA trusted",
		Long: `Run runc with these arguments, after making a container that runc
creates trust the run's proxy CA: the image's CA bundle plus the CA in
$MOAT_OCIWRAP_CA is mounted read-only at /dev/moat-ca-bundle.crt, and
SSL_CERT_FILE and the like name it unless the container sets them.
$MOAT_OCIWRAP_RUNC is the real runc. moat-init makes it the inner
daemon's default runtime in a docker:dind run with a proxy.`,
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && (args[0] == "--help" || args[0] == "-h") {
				return cmd.Help()
			}
			os.Exit(ociwrap.Main(args, os.Getenv, cmd.ErrOrStderr()))
			return nil
		},
	}
}
