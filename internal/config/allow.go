package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/moatsh/moat/internal/policy"
)

// allowEntryKeys are the keys of a network.allow entry written as a
// mapping, in the order hints list them.
var allowEntryKeys = []string{"host", "methods", "paths", "read-only", "tunnel-only"}

// allowEntryHint shows the mapping form of a network.allow entry.
const allowEntryHint = `Write a host ("api.example.com") or a mapping such as {host: api.example.com, methods: [GET, HEAD], paths: ["/v1/**"]}.`

// allowEntry decodes one network.allow entry: a host rule as a string, or
// a mapping with host and optional methods, paths or read-only. It also
// returns the node of the host, where a duplicate is reported.
func (d *decoder) allowEntry(at ast.Node) (AllowRule, ast.Node, error) {
	if err := d.unquotedWildcard(at); err != nil {
		return AllowRule{}, nil, err
	}
	n, err := d.resolve(at)
	if err != nil {
		return AllowRule{}, nil, err
	}
	if _, isMap := n.(*ast.MappingNode); !isMap {
		if _, isPair := n.(*ast.MappingValueNode); !isPair {
			a, err := d.allowHost(at)
			return a, at, err
		}
	}
	kvs, _ := pairs(n)
	var hostNode, methodsNode, pathsNode, readOnlyNode, tunnelNode ast.Node
	var methods, paths []string
	var methodNodes, pathNodes []ast.Node
	readOnly, tunnel := false, false
	seen := map[string]string{}
	for _, kv := range kvs {
		k, err := d.allowEntryKey(kv, seen)
		if err != nil {
			return AllowRule{}, nil, err
		}
		switch k {
		case "host":
			hostNode = kv.Value
		case "methods":
			methodsNode = kv.Key
			methods, methodNodes, err = d.strList(kv.Value, "network.allow methods", writeAsList("methods"))
		case "paths":
			pathsNode = kv.Key
			paths, pathNodes, err = d.strList(kv.Value, "network.allow paths", writeAsList("paths"))
		case "read-only":
			readOnlyNode = kv.Key
			readOnly, err = d.boolean(kv.Value, "network.allow read-only")
		case "tunnel-only":
			tunnelNode = kv.Key
			tunnel, err = d.boolean(kv.Value, "network.allow tunnel-only")
		}
		if err != nil {
			return AllowRule{}, nil, err
		}
	}
	if hostNode == nil {
		return AllowRule{}, nil, d.errorf(at, allowEntryHint, "network.allow: an entry written as a mapping needs a host")
	}
	if methodsNode != nil && readOnlyNode != nil {
		second := readOnlyNode
		if before(readOnlyNode, methodsNode) {
			second = methodsNode
		}
		return AllowRule{}, nil, d.errorf(second, "Keep one of them: read-only: true is methods: [GET, HEAD].",
			"network.allow: an entry sets both methods and read-only")
	}
	if tunnel {
		for _, n := range []ast.Node{methodsNode, pathsNode, readOnlyNode} {
			if n != nil {
				return AllowRule{}, nil, d.errorf(n, "Remove tunnel-only to check its requests, or the request rules to tunnel it.",
					"network.allow: a tunnel-only host's requests are not seen, so methods, paths and read-only cannot apply")
			}
		}
	}
	a, err := d.allowHost(hostNode)
	if err != nil {
		return AllowRule{}, nil, err
	}
	if tunnel {
		if a.Rule.Prefix != nil {
			return AllowRule{}, nil, d.errorf(tunnelNode, "Name the host: tunnel-only applies to names.",
				"network.allow: tunnel-only applies to host names, not to IP addresses or ranges")
		}
		a.TunnelOnly = true
		return a, hostNode, nil
	}
	if readOnly {
		methods = slices.Clone(policy.ReadOnly)
	}
	line, _ := position(at)
	req, err := policy.ParseRequests(methods, paths, line)
	if err != nil {
		lists := requestLists{methodsNode, pathsNode, methodNodes, pathNodes}
		return AllowRule{}, nil, d.requestRuleError(at, lists, a.Text, err)
	}
	a.Rule.Requests = req
	return a, hostNode, nil
}

// allowEntryKey decodes a key of a mapping entry, refusing unknown and
// repeated ones.
func (d *decoder) allowEntryKey(kv *ast.MappingValueNode, seen map[string]string) (string, error) {
	k, err := d.key(kv.Key, "network.allow key")
	if err != nil {
		return "", err
	}
	if !slices.Contains(allowEntryKeys, k) {
		hint := "Valid keys of a network.allow entry: " + strings.Join(allowEntryKeys, ", ") + "."
		if s := suggest(k, allowEntryKeys); s != "" {
			hint = fmt.Sprintf("Did you mean %q?", s)
		}
		return "", d.errorf(kv.Key, hint, "network.allow: unknown key %q in an entry", k)
	}
	if first, dup := seen[k]; dup {
		return "", d.errorf(kv.Key, "Remove one of them.", "network.allow: duplicate key %q in an entry%s", k, firstAt(first))
	}
	seen[k] = posString(kv.Key)
	return k, nil
}

// allowHost decodes a host rule: a whole string entry, or a mapping
// entry's host.
func (d *decoder) allowHost(at ast.Node) (AllowRule, error) {
	if err := d.unquotedWildcard(at); err != nil {
		return AllowRule{}, err
	}
	s, err := d.str(at, "network.allow")
	if err != nil {
		return AllowRule{}, err
	}
	r, p := checkAllowRule(s)
	if p != nil {
		return AllowRule{}, d.errorAt(at, p)
	}
	return AllowRule{Text: s, Rule: r}, nil
}

// requestLists are the nodes of a mapping entry's methods and paths: each
// key, and each item.
type requestLists struct {
	methodsKey, pathsKey ast.Node
	methods, paths       []ast.Node
}

// requestRuleError reports a method or path that does not parse at the
// item it names, or at the key of an empty list.
func (d *decoder) requestRuleError(entry ast.Node, l requestLists, host string, err error) error {
	var re *policy.RequestRuleError
	if !errors.As(err, &re) {
		return d.errorAt(entry, &problem{msg: err.Error(), err: err})
	}
	at, nodes := l.methodsKey, l.methods
	if strings.HasPrefix(re.What, "path") {
		at, nodes = l.pathsKey, l.paths
	}
	// The last item with this text: a duplicate is reported at its second
	// occurrence.
	for i := len(nodes) - 1; i >= 0; i-- {
		if s, _ := d.str(nodes[i], ""); s == re.Input {
			at = nodes[i]
			break
		}
	}
	if at == nil {
		at = entry
	}
	why := *re
	why.Fix = ""
	return d.errorAt(at, &problem{msg: fmt.Sprintf("network.allow %s: %s", host, why.Error()),
		hint: sentence(re.Fix, allowEntryHint), err: err})
}

// before reports whether a starts before b in the file.
func before(a, b ast.Node) bool {
	la, ca := position(a)
	lb, cb := position(b)
	return la < lb || la == lb && ca < cb
}
