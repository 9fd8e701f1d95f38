// Package userns starts a command as uid 0 of a new user namespace whose
// root is an unprivileged host user: what moat-init runs a docker:dind
// run's inner Docker daemon (and everything that daemon starts) in, so
// that root there is nobody in particular on the host.
//
// It runs as that user (not root) with only CAP_SETUID and CAP_SETGID, as
// ambient capabilities: the new namespace is then owned by the user, this
// process writes the child's id maps itself (no setuid newuidmap, no
// /etc/subuid), and host uid 0 has no power over the namespace by
// ownership. Right after the maps are written it drops every capability
// on every thread and sets no_new_privs; slirp4netns, which connects the
// namespace's network to the run's loopback, runs with none either.
package userns

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Options say whom the namespace maps and how it reaches the network.
type Options struct {
	UID, GID int // host ids of the namespace's root (uid/gid 0)
	// SubStart and SubCount: namespace ids 1..SubCount are host ids
	// SubStart..SubStart+SubCount-1.
	SubStart, SubCount int
	// Slirp gives the command a network namespace of its own, connected
	// to this one's loopback by slirp4netns (10.0.2.2 there is 127.0.0.1
	// here); without it the command keeps this network namespace, where
	// it has no capability.
	Slirp bool
	// SlirpAPI is the path of slirp4netns's API socket, if any.
	SlirpAPI string
	// Setup, for FromRoot: the directory under which it mounts the fresh
	// proc and sysfs.
	Setup string
	// Own, for FromRoot: directories it creates if need be and gives to
	// UID:GID, the namespace's root.
	Own []string
	// Files, for FromRoot: files it writes (mode 0644) from environment
	// variables before it changes user, each in an Own directory: what a
	// sidecar needs from moat without a mount of the host's file (the
	// run's proxy CA).
	Files []EnvFile
}

// EnvFile is a file written from an environment variable's value.
type EnvFile struct {
	Path, Var string
}

// ParseEnvFile parses PATH=VAR.
func ParseEnvFile(s string) (EnvFile, error) {
	path, v, ok := strings.Cut(s, "=")
	if !ok || !filepath.IsAbs(path) || v == "" {
		return EnvFile{}, fmt.Errorf("%q: want an absolute PATH=VAR", s)
	}
	return EnvFile{Path: filepath.Clean(path), Var: v}, nil
}

// Validate refuses maps that would give the namespace host root.
func (o Options) Validate() error {
	switch {
	case o.UID <= 0 || o.GID <= 0:
		return fmt.Errorf("the namespace's root must be an unprivileged host user, not uid %d gid %d", o.UID, o.GID)
	case o.SubStart <= 0 || o.SubCount <= 0 || o.SubStart+o.SubCount > 1<<32-1:
		return fmt.Errorf("the subordinate id range %d+%d is not valid", o.SubStart, o.SubCount)
	case o.UID >= o.SubStart && o.UID < o.SubStart+o.SubCount, o.GID >= o.SubStart && o.GID < o.SubStart+o.SubCount:
		return fmt.Errorf("the subordinate id range %d+%d holds the namespace's root %d:%d", o.SubStart, o.SubCount, o.UID, o.GID)
	}
	return nil
}
