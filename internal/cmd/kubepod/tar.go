package kubepod

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/podfs"
)

func newCmdTarIn() *cobra.Command {
	var o podfs.UnpackOptions
	var owner string
	cmd := &cobra.Command{
		Use:   "tar-in DIR [--owner UID:GID] [--keep-owners] [--mirror]",
		Short: "Write the tar stream on stdin into DIR",
		Long: `Write the tar stream on stdin into the directory DIR, as moat's copy-in
does: regular files, directories and symlinks only, never through a
symlink, without set-ID bits. --owner gives every entry to UID:GID,
--keep-owners gives each the archive's owner, --mirror removes what is
in DIR and not in the archive.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if owner != "" {
				o.Owner = &podfs.Owner{}
				var err error
				if o.Owner.UID, o.Owner.GID, err = parseOwner(owner); err != nil {
					return err
				}
			}
			return podfs.Unpack(cmd.InOrStdin(), args[0], o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&owner, "owner", "", "give every entry to `UID:GID`")
	fl.BoolVar(&o.KeepOwners, "keep-owners", false, "give each entry the archive's owner")
	fl.BoolVar(&o.Mirror, "mirror", false, "remove what DIR has and the archive does not")
	cmd.MarkFlagsMutuallyExclusive("owner", "keep-owners")
	return cmd
}

func parseOwner(s string) (uid, gid int, err error) {
	u, g, ok := strings.Cut(s, ":")
	uid, uerr := strconv.Atoi(u)
	gid, gerr := strconv.Atoi(g)
	if !ok || uerr != nil || gerr != nil || uid < 0 || gid < 0 {
		return 0, 0, fmt.Errorf("invalid --owner %q: want UID:GID, two numbers", s)
	}
	return uid, gid, nil
}

func newCmdTarOut() *cobra.Command {
	return &cobra.Command{
		Use:   "tar-out DIR",
		Short: "Write a tar stream of DIR to stdout",
		Long: `Write a tar stream of the directory DIR's regular files, directories and
symlinks to stdout, as moat's copy-out reads it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return podfs.Pack(cmd.OutOrStdout(), args[0])
		},
	}
}
