// Package deps implements 'moat deps list' and 'moat deps info': the
// dependencies agent.yaml may declare.
package deps

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/moatsh/moat/internal/cmdutil"
	"github.com/moatsh/moat/internal/deps"
)

// NewCmdDeps builds 'moat deps' and its subcommands.
func NewCmdDeps(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deps",
		Short: "List and describe the dependencies agent.yaml can declare",
		Args:  cmdutil.NoArgs,
	}
	cmd.AddCommand(newCmdList(f), newCmdInfo(f))
	return cmd
}

func newCmdList(f *cmdutil.Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the known dependencies",
		Example: `  $ moat deps list
  $ moat deps list --json`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg := deps.Registry()
			if asJSON {
				return cmdutil.WriteJSON(f.IOStreams.Out, registryJSON(reg))
			}
			tw := tabwriter.NewWriter(f.IOStreams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tINSTALL\tDEFAULT\tDESCRIPTION")
			for _, e := range reg {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.Method, dash(e.Default), e.Description)
			}
			fmt.Fprintln(tw, "npm:<pkg>[@ver]\tnpm\t-\tan npm package, installed globally (adds node)")
			fmt.Fprintln(tw, "pip:<pkg>[@ver]\tpip\t-\ta Python package (adds python)")
			fmt.Fprintln(tw, "go:<module/path>[@ver]\tgo-install\t-\ta Go program, go install'ed (adds go)")
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "Print the registry as a JSON array")
	return cmd
}

func newCmdInfo(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "info <name>",
		Short:   "Describe one dependency",
		Example: `  $ moat deps info node`,
		Args:    cmdutil.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _, _ := strings.Cut(args[0], "@")
			e, ok := deps.Lookup(name)
			if !ok {
				if _, err := deps.Parse(args[0]); err != nil {
					return err
				}
				return fmt.Errorf("%q is a dynamic package: it is installed by its package manager, not from moat's registry", args[0])
			}
			w := f.IOStreams.Out
			fmt.Fprintf(w, "Name:         %s\nDescription:  %s\nInstall:      %s\n", e.Name, e.Description, e.Method)
			if len(e.Versions) > 0 {
				fmt.Fprintf(w, "Default:      %s\nVersions:     %s\n", e.Default, strings.Join(e.Versions, ", "))
			}
			if len(e.Packages) > 0 {
				fmt.Fprintf(w, "Packages:     %s\n", strings.Join(e.Packages, " "))
			}
			if len(e.Requires) > 0 {
				fmt.Fprintf(w, "Requires:     %s (added automatically)\n", strings.Join(e.Requires, ", "))
			}
			fmt.Fprintf(w, "\nIn agent.yaml:\n  dependencies: [%s]\n", usage(e))
			if e.Method == deps.MethodDocker {
				fmt.Fprintln(w, "  (or docker:dind; docs/docker.md compares the two modes)")
			}
			return nil
		},
	}
}

func usage(e deps.Entry) string {
	switch {
	case e.Method == deps.MethodDocker:
		return "docker:host"
	case e.Default != "":
		return e.Name + "@" + e.Default
	}
	return e.Name
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
