// Package config owns agent.yaml: its schema, a strict decoder whose errors
// carry file:line:col and a remedy, and a digest of the result. Decoding is
// the only validation: it turns the file into typed values (resolved
// dependencies, parsed network rules and mappings, parsed mounts) that
// later layers use without parsing them again. docs/agent-yaml.md is the
// user-facing reference; keep the two in step.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/moatsh/moat/internal/deps"
)

// FileName is the name of the config file in a workspace.
const FileName = "agent.yaml"

// maxFileSize bounds what Load reads; agent.yaml is a few lines.
const maxFileSize = 1 << 20

// Config is a decoded agent.yaml; only Parse (and Load) make one. The zero
// value is the config of a workspace without the file. Fields left out of
// the file are zero; the defaults they stand for are applied by the caller.
type Config struct {
	Name string // run name; "" lets the CLI pick a random one
	// Dependencies is the resolved set (deps.ResolveSpecs): requirements
	// added, sorted by Key, Docker's source set from docker.install.
	Dependencies []deps.Dep
	// DependencySpecs are the specs as written, in order: what the digest
	// hashes.
	DependencySpecs []string
	Env             map[string]string // extra environment variables
	Mounts          []Mount           // Source as written; the caller resolves it against the workspace
	Command         []string          // default command; nil when not set
	Docker          Docker            // options of the Docker mode
	// Image is the run's base image as agent.yaml names it ("" for
	// config.yaml's base_image); Dockerfile the path, relative to the
	// workspace, of one moat builds the base from. At most one is set.
	Image      string
	Dockerfile string
	Network    Network // agent.yaml's network section
	// Ports are the run's ports to publish on the host, in order.
	Ports []Port
	// Grants are the grant names as written, in order, no duplicates,
	// then the mcp servers' grants that grants: does not name.
	Grants []string
	// MCP are the MCP servers the agent's launcher configures, in order.
	MCP       []MCPServer
	Resources Resources // limits below the user's; see RunLimits
	// Agent is the agent profile (internal/agent) that 'moat run' starts,
	// "" for none; AgentLine and AgentCol are where agent.yaml names it,
	// for the error when no profile has that name.
	Agent               string
	AgentLine, AgentCol int
	// AgentSetup is what the applied agent profile asks of the run; nil
	// when none was applied.
	AgentSetup *AgentSetup
	Path       string // the file it came from; "" when there was none
}

// AgentSetup is what an agent profile needs from the run beyond
// agent.yaml's settings.
type AgentSetup struct {
	Name string // the profile's name
	// State lists the directories, absolute paths in the container, that
	// are kept per workspace and agent in the moat home and mounted back
	// at every run.
	State []string
	// Instructions is the file, an absolute path in the container, that
	// the agent reads standing instructions from; moat mounts a read-only
	// note about the sandbox there. "" for none.
	Instructions string
	// Files are files of the profile's own, mounted read-only at their
	// paths in the container (managed settings the agent cannot edit).
	Files []AgentFile
	// Seed are files written into a state directory when moat makes it,
	// never afterwards: defaults the agent may change, such as settings
	// that skip first-run screens. Path is inside one of State.
	Seed []AgentFile
	// GrantFiles are login files holding placeholders, each mounted
	// read-only for a run that has its grant.
	GrantFiles []GrantFile
}

// GrantFile is a login file the agent reads a grant's credential from.
type GrantFile struct {
	Kind string // the grant's kind
	Path string // in the container
	// Login is the file's content for the grant's public fields (an
	// account id, never a secret).
	Login func(public map[string]string) string
}

// AgentFile is a file a profile gives the run: its absolute path in the
// container and its content.
type AgentFile struct {
	Path    string
	Content string
}

// Load reads dir/agent.yaml, which must be a regular file inside dir (see
// ReadInside). A missing file is not an error: it returns an
// empty Config with Path "". The Path of the result, and of any error, is
// filepath.Join(dir, FileName), so it is relative when dir is.
func Load(dir string) (*Config, error) {
	path := filepath.Join(dir, FileName)
	data, err := ReadInside(dir, FileName, maxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, misnamed(dir)
	}
	var tooLarge *TooLargeError
	if errors.As(err, &tooLarge) {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot be read: " + err.Error(),
			Remedy: "agent.yaml must be a regular file of at most 1 MiB inside the workspace (a link may point only inside it)."}
	}
	return Parse(path, data)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, tooLarge(path)
	}
	return data, nil
}

// misnamed reports an agent.yml that would otherwise be silently ignored.
func misnamed(dir string) error {
	yml := filepath.Join(dir, "agent.yml")
	if _, err := os.Stat(yml); err != nil {
		return nil
	}
	return &Error{
		File:   yml,
		Msg:    "moat reads " + FileName + ", not agent.yml",
		Remedy: fmt.Sprintf("Rename it with 'mv %s %s'.", yml, filepath.Join(dir, FileName)),
	}
}

// parseDocument parses one YAML document (UTF-8, an optional byte order
// mark) and returns a decoder for it and its body, which is nil when the
// document is empty.
func parseDocument(path string, data []byte) (*decoder, ast.Node, error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if err := checkUTF8(path, data); err != nil {
		return nil, nil, err
	}
	tokens, err := checkBounds(path, data)
	if err != nil {
		return nil, nil, err
	}
	f, err := parser.Parse(tokens, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return nil, nil, syntaxError(path, err)
	}
	d := &decoder{file: path, anchors: make(map[string]ast.Node)}
	body, err := d.body(f)
	return d, body, err
}

// Parse decodes and validates data read from path. path is used only in
// messages. An empty document gives an empty Config. Parse stops at the
// first problem, in file order, and returns it as an *Error.
func Parse(path string, data []byte) (*Config, error) {
	d, body, err := parseDocument(path, data)
	if err != nil {
		return nil, err
	}
	c := &Config{Path: path}
	if err := d.document(body, c); err != nil {
		return nil, err
	}
	if err := d.checkDocker(c); err != nil {
		return nil, err
	}
	addMCPGrants(c)
	c.Dependencies = c.Docker.WithSource(c.Dependencies)
	return c, nil
}

// checkUTF8 rejects a file that is not UTF-8, pointing at the first bad byte.
func checkUTF8(path string, data []byte) error {
	if utf8.Valid(data) {
		return nil
	}
	line, col := 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			break
		}
		col++
		if r == '\n' {
			line, col = line+1, 1
		}
		data = data[size:]
	}
	return &Error{File: path, Line: line, Col: col, Msg: "the file is not valid UTF-8",
		Remedy: "Save the file as UTF-8."}
}

// body returns the one document with content, or nil when there is none.
// Duplicate keys are found by the decoder, which words the message.
func (d *decoder) body(f *ast.File) (ast.Node, error) {
	var body ast.Node
	for _, doc := range f.Docs {
		switch doc.Body.(type) {
		case nil, *ast.DirectiveNode, *ast.CommentGroupNode:
			continue
		}
		if body != nil {
			return nil, d.secondDocument(doc)
		}
		body = doc.Body
	}
	return body, nil
}

// secondDocument reports a second document, at its "---" when there is one.
func (d *decoder) secondDocument(doc *ast.DocumentNode) error {
	err := d.errorf(doc.Body, `Remove the "---" line: agent.yaml holds a single document.`,
		"expected one YAML document, found a second one")
	if tk := doc.Start; tk != nil && tk.Position != nil {
		err.Line, err.Col = tk.Position.Line, tk.Position.Column
	}
	return err
}
