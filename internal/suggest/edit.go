package suggest

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/moatsh/moat/internal/config"
	"github.com/moatsh/moat/internal/policy"
)

// Change is what Edit writes into agent.yaml's network section.
type Change struct {
	Strict bool     // set network.policy, which says permissive, to strict
	Allow  []string // rules to append to network.allow, as patterns
	Risky  []Risky  // written after them as comments, never enabled
}

// ChangeOf is the change that applies s.
func ChangeOf(s Suggestion) Change {
	c := Change{Strict: s.Strict, Risky: s.Risky}
	for _, r := range s.Allow {
		c.Allow = append(c.Allow, r.Pattern)
	}
	return c
}

// EditError reports an agent.yaml whose text Edit cannot change safely.
// Line is where the problem is, 0 for the whole file.
type EditError struct {
	Line int
	Why  string
}

func (e *EditError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Why)
	}
	return e.Why
}

// Patch is an edit of agent.yaml: the lines before and the edits that make
// the lines after.
type Patch struct {
	old   *text
	edits []lineEdit
	New   []byte // the file after the edit
}

// Edit returns the edit of agent.yaml (data, read from path, which is used
// only in messages) that makes change: the rules are appended to
// network.allow, a network section is added at the end if there is none,
// and network.policy's value is replaced. Every other byte stays as it
// was. data is checked first as moat reads agent.yaml (config.Parse), and
// the result is parsed again: unless it reads as the same config with the
// rules added, Edit refuses. A layout it cannot edit safely (flow style,
// anchors, tags, a document end marker) is an *EditError. data is
// hostile: whatever it holds, Edit returns an error or a patch.
func Edit(path string, data []byte, change Change) (*Patch, error) {
	before, err := config.Parse(path, data)
	if err != nil {
		return nil, err
	}
	if before.Network.Policy == policy.None {
		return nil, ErrPolicyNone
	}
	t, err := newText(data)
	if err != nil {
		return nil, err
	}
	e := &editor{t: t, change: change}
	if err := e.parse(data[t.bom:]); err != nil {
		return nil, err
	}
	if err := e.plan(); err != nil {
		return nil, err
	}
	after, err := t.apply(e.edits)
	if err != nil {
		return nil, err
	}
	if err := verify(path, before, after, change); err != nil {
		return nil, err
	}
	return &Patch{old: t, edits: e.edits, New: after}, nil
}

// verify checks that after reads as before with change made, and nothing
// else changed.
func verify(path string, before *config.Config, after []byte, change Change) error {
	got, err := config.Parse(path, after)
	if err != nil {
		return &EditError{Why: "the edited file would not read back: " + err.Error()}
	}
	want := *before
	want.Network.Allow = append([]config.AllowRule(nil), before.Network.Allow...)
	for _, p := range change.Allow {
		r, err := policy.ParseRule(p, policy.SourceAllow)
		if err != nil {
			return err
		}
		want.Network.Allow = append(want.Network.Allow, config.AllowRule{Text: p, Rule: r})
	}
	if change.Strict {
		want.Network.Policy = policy.Strict
	}
	// The digest is what approvals pin: every setting, none of the layout.
	if want.Digest() != got.Digest() {
		return &EditError{Why: "the edited file would not read as the same agent.yaml with the rules added"}
	}
	return nil
}

// editor plans the line edits on one file.
type editor struct {
	t      *text
	change Change
	tokens token.Tokens
	body   ast.Node // the document's top-level node; nil when it is empty
	edits  []lineEdit
}

func (e *editor) parse(src []byte) error {
	e.tokens = lexer.Tokenize(string(src))
	for _, tk := range e.tokens {
		if tk.Type == token.DocumentEndType {
			return &EditError{Line: line(tk), Why: `a document end marker ("...")`}
		}
	}
	f, err := parser.Parse(e.tokens, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return &EditError{Why: "the file does not parse: " + err.Error()}
	}
	if len(f.Docs) > 0 {
		e.body = f.Docs[0].Body
	}
	if _, comment := e.body.(*ast.CommentGroupNode); comment {
		e.body = nil
	}
	return nil
}

// plan finds the network section and plans the edits.
func (e *editor) plan() error {
	if e.body == nil {
		e.appendSection(1)
		return nil
	}
	top, err := blockPairs(e.body, "agent.yaml's top level")
	if err != nil {
		return err
	}
	for _, kv := range top {
		if keyName(kv) == "network" {
			return e.editSection(kv)
		}
	}
	e.appendSection(column(top[0].Key))
	return nil
}

// appendSection adds a network section at the end of the file, its key at
// column col, like the other top-level keys.
func (e *editor) appendSection(col int) {
	indent := strings.Repeat(" ", col-1)
	lines := []string{indent + "network:" + e.t.eol}
	lines = append(lines, e.allowBlock(indent+"  ")...)
	e.edits = append(e.edits, e.t.insertAfter(len(e.t.lines), lines))
}

// editSection edits an existing network section.
func (e *editor) editSection(kv *ast.MappingValueNode) error {
	switch v := kv.Value.(type) {
	case *ast.NullNode:
		if err := e.emptyValue(kv); err != nil {
			return err
		}
		indent := strings.Repeat(" ", column(kv.Key)+1)
		e.edits = append(e.edits, e.t.insertAfter(line(kv.Key.GetToken()), e.allowBlock(indent)))
		return nil
	case *ast.MappingNode:
		if v.IsFlowStyle {
			return &EditError{Line: line(v.GetToken()), Why: "network is written in flow style ({...})"}
		}
	}
	opts, err := blockPairs(kv.Value, "network")
	if err != nil {
		return err
	}
	var allow, pol *ast.MappingValueNode
	for _, o := range opts {
		switch keyName(o) {
		case "allow":
			allow = o
		case "policy":
			pol = o
		}
	}
	if e.change.Strict {
		if err := e.setStrict(pol); err != nil {
			return err
		}
	}
	if allow != nil {
		return e.extendAllow(allow)
	}
	if block := e.allowBlock(strings.Repeat(" ", column(opts[0].Key)-1)); block != nil {
		e.edits = append(e.edits, e.t.insertAfter(e.endOf(kv), block))
	}
	return nil
}

// setStrict replaces the value of network.policy with strict, keeping its
// quotes.
func (e *editor) setStrict(pol *ast.MappingValueNode) error {
	if pol == nil {
		return &EditError{Why: "network.policy is set in a way this editor cannot find"}
	}
	v, ok := pol.Value.(*ast.StringNode)
	if !ok {
		return &EditError{Line: line(pol.Key.GetToken()), Why: "network.policy's value is not a plain string"}
	}
	tk := v.GetToken()
	n := line(tk)
	from, ok := e.t.byteCol(n, tk.Position.Column)
	if !ok {
		return &EditError{Line: n, Why: "network.policy's value is not where the parser says"}
	}
	rest := e.t.line(n)[from:]
	for _, q := range []string{"", "'", `"`} {
		if strings.HasPrefix(rest, q+v.Value+q) {
			e.edits = append(e.edits, e.t.replaceInLine(n, from+len(q), from+len(q)+len(v.Value), "strict"))
			return nil
		}
	}
	return &EditError{Line: n, Why: "network.policy's value is written in a way this editor does not change"}
}

// extendAllow appends the rules to an existing network.allow.
func (e *editor) extendAllow(kv *ast.MappingValueNode) error {
	switch v := kv.Value.(type) {
	case *ast.NullNode:
		if err := e.emptyValue(kv); err != nil {
			return err
		}
		indent := strings.Repeat(" ", column(kv.Key)+1)
		e.edits = append(e.edits, e.t.insertAfter(line(kv.Key.GetToken()), e.items(indent)))
		return nil
	case *ast.SequenceNode:
		if v.IsFlowStyle {
			return e.extendFlow(v, strings.Repeat(" ", column(kv.Key)-1))
		}
		indent := strings.Repeat(" ", column(v)-1)
		e.edits = append(e.edits, e.t.insertAfter(e.endOf(kv), e.items(indent)))
		return nil
	}
	return &EditError{Line: line(kv.Key.GetToken()), Why: "network.allow is not a list (an anchor, alias or tag)"}
}

// extendFlow adds the rules inside a flow list, before its "]", and the
// risky ones as comments on the lines after it.
func (e *editor) extendFlow(seq *ast.SequenceNode, indent string) error {
	end := seq.End
	if end == nil || end.Position == nil {
		return &EditError{Line: line(seq.GetToken()), Why: `network.allow's "]" cannot be found`}
	}
	n := line(end)
	at, ok := e.t.byteCol(n, end.Position.Column)
	if !ok || !strings.HasPrefix(e.t.line(n)[at:], "]") || !e.t.restIsEmpty(n, at+1) {
		return &EditError{Line: n, Why: `network.allow's "]" is not alone at the end of its line`}
	}
	quoted := make([]string, len(e.change.Allow))
	for i, p := range e.change.Allow {
		quoted[i] = yamlString(p)
	}
	sep := ", "
	switch e.tokenBefore(end) {
	case token.SequenceStartType:
		sep = ""
	case token.CollectEntryType:
		sep = " "
	}
	if len(quoted) > 0 {
		e.edits = append(e.edits, e.t.replaceInLine(n, at, at, sep+strings.Join(quoted, ", ")))
	}
	if comments := e.riskyComments(indent); len(comments) > 0 {
		e.edits = append(e.edits, e.t.insertAfter(n, comments))
	}
	return nil
}

// tokenBefore is the type of the last token before tk that is not a
// comment.
func (e *editor) tokenBefore(tk *token.Token) token.Type {
	i := e.indexOf(tk)
	for i--; i >= 0; i-- {
		if e.tokens[i].Type != token.CommentType {
			return e.tokens[i].Type
		}
	}
	return token.UnknownType
}

func (e *editor) indexOf(tk *token.Token) int {
	for i, t := range e.tokens {
		if t == tk || t.Position != nil && tk.Position != nil && *t.Position == *tk.Position {
			return i
		}
	}
	return len(e.tokens)
}

// emptyValue checks that kv's null value is written as nothing at all
// (not ~ or null), so that lines can follow its key.
func (e *editor) emptyValue(kv *ast.MappingValueNode) error {
	colon := kv.Start
	n := line(colon)
	at, ok := e.t.byteCol(n, colon.Position.Column)
	if !ok || !e.t.restIsEmpty(n, at+1) || e.nextLineOf(colon) <= n {
		return &EditError{Line: n, Why: fmt.Sprintf("%s is set to null explicitly", keyName(kv))}
	}
	return nil
}

// nextLineOf is the line of the first token after tk that is not a
// comment, or a line past the end.
func (e *editor) nextLineOf(tk *token.Token) int {
	for _, t := range e.tokens[min(e.indexOf(tk)+1, len(e.tokens)):] {
		if t.Type != token.CommentType {
			return line(t)
		}
	}
	return len(e.t.lines) + 1
}

// endOf returns the last line of kv's value: before the next key at kv's
// column or to its left (or the end of the file), without the blank and
// comment lines in between, which may belong to that key.
func (e *editor) endOf(kv *ast.MappingValueNode) int {
	key := kv.Key.GetToken()
	col := key.Position.Column
	last := len(e.t.lines)
	for _, t := range e.tokens[min(e.indexOf(key)+1, len(e.tokens)):] {
		if t.Type == token.CommentType || line(t) <= line(key) || t.Position.Column > col {
			continue
		}
		if t.Type == token.SequenceEntryType && t.Position.Column == col {
			continue // a block list may sit at its key's own column
		}
		last = line(t) - 1
		break
	}
	for last > line(key) && e.t.blankOrComment(last) {
		last--
	}
	return last
}

// allowBlock is an "allow:" key at indent and the items below it.
func (e *editor) allowBlock(indent string) []string {
	items := e.items(indent + "  ")
	if len(items) == 0 {
		return nil
	}
	return append([]string{indent + "allow:" + e.t.eol}, items...)
}

// items are the rules as block list items at indent, then the risky ones
// as comments.
func (e *editor) items(indent string) []string {
	var lines []string
	for _, p := range e.change.Allow {
		lines = append(lines, indent+"- "+yamlString(p)+e.t.eol)
	}
	return append(lines, e.riskyComments(indent)...)
}

// riskyComments are the risky rules as commented-out list items, each
// with its reason, so that applying the edit enables none of them.
func (e *editor) riskyComments(indent string) []string {
	var lines []string
	for _, r := range e.change.Risky {
		lines = append(lines, fmt.Sprintf("%s# - %s  # not added, risky: %s%s", indent, yamlString(r.Pattern), r.Reason, e.t.eol))
	}
	return lines
}

// Block renders change as a network section to paste into agent.yaml, for
// a file Edit cannot change.
func Block(change Change) string {
	e := &editor{t: &text{eol: "\n"}, change: change}
	lines := []string{"network:\n"}
	if change.Strict {
		lines = append(lines, "  policy: strict\n")
	}
	return strings.Join(append(lines, e.allowBlock("  ")...), "")
}

// yamlString writes a rule as a YAML string: plain when it is a plain
// name, double-quoted when it holds "*", ":" or brackets, which YAML reads
// otherwise. Rules are printable ASCII, so Go's quoting is YAML's.
func yamlString(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789.-_") == "" && s != "" && s[0] != '-' {
		return s
	}
	return fmt.Sprintf("%q", s)
}

// blockPairs returns the pairs of a block mapping; anything else is an
// *EditError naming what.
func blockPairs(n ast.Node, what string) ([]*ast.MappingValueNode, error) {
	switch v := n.(type) {
	case *ast.MappingNode:
		if v.IsFlowStyle {
			return nil, &EditError{Line: line(v.GetToken()), Why: what + " is written in flow style ({...})"}
		}
		if len(v.Values) > 0 {
			return v.Values, nil
		}
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{v}, nil
	}
	return nil, &EditError{Line: line(n.GetToken()), Why: what + " is not a plain mapping (an anchor, alias or tag)"}
}

// keyName is a mapping key as written, or "" for a key that is not a
// plain string.
func keyName(kv *ast.MappingValueNode) string {
	if s, ok := kv.Key.(*ast.StringNode); ok {
		return s.Value
	}
	return ""
}

// column is where n's token starts; 1 when unknown.
func column(n ast.Node) int {
	if n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
		return 1
	}
	return max(n.GetToken().Position.Column, 1)
}

func line(tk *token.Token) int {
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Line
}
