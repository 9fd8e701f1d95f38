package cmdutil

import (
	"fmt"
	"strings"
	"time"

	"github.com/moatsh/moat/internal/state"
)

// RunView is a run as 'moat list --json', 'moat inspect' and their
// --format templates show it. Its keys are stable (fields are only ever
// added): every key is always present, a list is [] when empty, and a
// value that does not exist yet (an exit code, a finish time) is null.
// The Go field names are what a template names ({{.ID}}, {{.State}}).
type RunView struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	State        string          `json:"state"`
	ExitCode     *int            `json:"exit_code"`
	Error        string          `json:"error"`
	Workspace    string          `json:"workspace"`
	Command      []string        `json:"command"`
	Image        string          `json:"image"`
	ImageHash    string          `json:"image_hash"`
	Dependencies []string        `json:"dependencies"`
	ContainerID  string          `json:"container_id"`
	Detached     bool            `json:"detached"`
	Keep         bool            `json:"keep"`
	TTY          bool            `json:"tty"`
	CreatedAt    time.Time       `json:"created_at"`
	StartedAt    *time.Time      `json:"started_at"`
	FinishedAt   *time.Time      `json:"finished_at"`
	MoatVersion  string          `json:"moat_version"`
	Policy       string          `json:"policy"`
	Grants       []string        `json:"grants"`
	Privileges   []PrivilegeView `json:"privileges"`
	Volumes      []VolumeView    `json:"volumes"`
	Sidecars     []SidecarView   `json:"sidecars"`
	Limits       *LimitsView     `json:"limits"`
	Ports        []PortView      `json:"ports"`
}

// PortView is a port of the run published on the host.
type PortView struct {
	HostIP        string `json:"host_ip"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
}

// PrivilegeView is one elevation a run received.
type PrivilegeView struct {
	What   string `json:"what"`
	Reason string `json:"reason"`
	Effect string `json:"effect"`
}

// VolumeView is an engine volume a run uses; a kept cache says where it
// came from.
type VolumeView struct {
	Name         string `json:"name"`
	Keep         bool   `json:"keep"`
	Workspace    string `json:"workspace"`
	ConfigDigest string `json:"config_digest"`
	CreatedBy    string `json:"created_by"`
}

// SidecarView is a container serving a run.
type SidecarView struct {
	Role   string      `json:"role"`
	Name   string      `json:"name"`
	Limits *LimitsView `json:"limits"`
}

// LimitsView is a container's resource limits; 0 is no limit.
type LimitsView struct {
	Memory int64   `json:"memory"`
	CPUs   float64 `json:"cpus"`
	Pids   int64   `json:"pids"`
}

// ViewRun returns r as commands show it.
func ViewRun(r *state.Run) RunView {
	v := RunView{
		ID: r.ID, Name: r.Name, State: string(r.Status), ExitCode: r.ExitCode, Error: r.Error,
		Workspace: r.Workspace, Command: orEmpty(r.Command), Image: r.Image, ImageHash: r.ImageHash,
		Dependencies: orEmpty(r.Deps), ContainerID: r.ContainerID, Detached: r.Detached, Keep: r.Keep, TTY: r.TTY,
		CreatedAt: r.CreatedAt, StartedAt: timeOrNil(r.StartedAt), FinishedAt: timeOrNil(r.FinishedAt),
		MoatVersion: r.MoatVersion, Policy: r.Policy, Grants: orEmpty(r.Grants),
		Privileges: []PrivilegeView{}, Volumes: []VolumeView{}, Sidecars: []SidecarView{}, Limits: viewLimits(r.Limits),
		Ports: []PortView{},
	}
	for _, p := range r.Ports {
		v.Ports = append(v.Ports, PortView(p))
	}
	for _, p := range r.Privileges {
		v.Privileges = append(v.Privileges, PrivilegeView(p))
	}
	for _, vol := range r.Volumes {
		v.Volumes = append(v.Volumes, VolumeView(vol))
	}
	for _, s := range r.Sidecars {
		v.Sidecars = append(v.Sidecars, SidecarView{Role: s.Role, Name: s.Name, Limits: viewLimits(s.Limits)})
	}
	return v
}

// ViewRuns returns runs as commands show them, [] for none.
func ViewRuns(runs []*state.Run) []RunView {
	out := make([]RunView, 0, len(runs))
	for _, r := range runs {
		out = append(out, ViewRun(r))
	}
	return out
}

// Status is the state as 'moat list' shows it: with the exit code once
// the command ended ("exited (0)").
func (v RunView) Status() string {
	if v.ExitCode != nil && (v.State == string(state.Exited) || v.State == string(state.Stopped)) {
		return fmt.Sprintf("%s (%d)", v.State, *v.ExitCode)
	}
	return v.State
}

// PortList is the published ports as one line, as 'docker ps' shows them:
// "127.0.0.1:8080->3000/tcp, ...".
func (v RunView) PortList() string {
	out := make([]string, len(v.Ports))
	for i, p := range v.Ports {
		out[i] = state.Port(p).String()
	}
	return strings.Join(out, ", ")
}

// CommandLine is the command as one line, its words joined by spaces.
func (v RunView) CommandLine() string { return strings.Join(v.Command, " ") }

func viewLimits(l *state.Limits) *LimitsView {
	if l == nil {
		return nil
	}
	lv := LimitsView(*l)
	return &lv
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// RunHeaders are the column names of a 'table' --format template over
// RunViews, by field.
var RunHeaders = map[string]string{
	"ID": "RUN ID", "Name": "NAME", "State": "STATE", "Status": "STATUS", "ExitCode": "EXIT CODE",
	"Error": "ERROR", "Workspace": "WORKSPACE", "Command": "COMMAND", "CommandLine": "COMMAND",
	"Image": "IMAGE", "ImageHash": "IMAGE HASH", "Dependencies": "DEPENDENCIES", "ContainerID": "CONTAINER ID",
	"Detached": "DETACHED", "Keep": "KEEP", "TTY": "TTY", "CreatedAt": "CREATED", "StartedAt": "STARTED",
	"FinishedAt": "FINISHED", "MoatVersion": "MOAT VERSION", "Policy": "POLICY", "Grants": "GRANTS",
	"Privileges": "PRIVILEGES", "Volumes": "VOLUMES", "Sidecars": "SIDECARS", "Limits": "LIMITS",
	"Ports": "PORTS", "PortList": "PORTS",
}
