package config

import (
	"fmt"

	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/token"
)

// agent.yaml is written by the agent as much as by the user, so a file the
// agent left behind must not stall or exhaust the next run. The YAML parser
// takes time and memory that grow faster than the input with nesting depth
// and with the number of keys in a block mapping, so its input is bounded
// in two steps before it runs (docs/benchmarks.md has the numbers):
//
//  1. a count over the raw bytes that nothing in YAML can hide from: every
//     line and every character that can start a token; this bounds the
//     tokenizer's work;
//  2. over the tokenizer's own tokens, their number and the nesting depth
//     of the collections they open; this bounds the parser's work.
const (
	maxDepth      = 64      // nested lists and mappings, counting both styles
	maxTokens     = 4096    // keys, values, indicators and comments
	maxIndicators = 1 << 15 // lines plus characters that can start a token
)

// boundsHint is the remedy for a file over the token bounds.
const boundsHint = "agent.yaml holds a few settings; remove what the run does not need, " +
	"and put long text in a file in the workspace instead."

// checkBounds refuses data over the bounds above, before the YAML parser
// sees it, and returns its tokens otherwise. Nesting is checked first, on
// as much of the file as the other bounds let through, so a deep file is
// told it is deep.
func checkBounds(path string, data []byte) (token.Tokens, error) {
	if len(data) > maxFileSize {
		return nil, tooLarge(path)
	}
	end, line, col := countIndicators(data)
	tokens := lexer.Tokenize(string(data[:end]))
	if err := checkDepth(path, tokens); err != nil {
		return nil, err
	}
	if end < len(data) {
		return nil, &Error{File: path, Line: line, Col: col, Remedy: boundsHint,
			Msg: fmt.Sprintf("too many lines and YAML indicators (more than %d)", maxIndicators)}
	}
	if len(tokens) > maxTokens {
		line, col := tokenPos(tokens[maxTokens])
		return nil, &Error{File: path, Line: line, Col: col, Remedy: boundsHint,
			Msg: fmt.Sprintf("too many YAML tokens (more than %d keys, values and indicators)", maxTokens)}
	}
	return tokens, nil
}

func checkDepth(path string, tokens token.Tokens) error {
	line, col, ok := depthWithin(tokens)
	if ok {
		return nil
	}
	return &Error{File: path, Line: line, Col: col,
		Msg:    fmt.Sprintf("nesting deeper than %d levels", maxDepth),
		Remedy: "Flatten the lists and mappings here: agent.yaml needs only a few levels."}
}

func tooLarge(path string) error {
	return &Error{File: path, Msg: "the file is larger than 1 MiB", Remedy: boundsHint}
}

// countIndicators returns the length of the longest prefix of data with at
// most maxIndicators lines and characters that can start a YAML token, and
// the line and column of the character after it. It ignores context
// (quotes, block scalars) on purpose: it can count too many, never too few.
func countIndicators(data []byte) (end, line, col int) {
	n, line, lineStart := 0, 1, 0
	for i, c := range data {
		switch c {
		case '\n':
			line, lineStart = line+1, i+1
		case '[', ']', '{', '}', ',', ':', '-', '?', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		default:
			continue
		}
		if n++; n > maxIndicators {
			return i, line, i - lineStart + 1
		}
	}
	return len(data), 0, 0
}

func tokenPos(tk *token.Token) (line, col int) {
	if tk.Position == nil {
		return 1, 1
	}
	return tk.Position.Line, tk.Position.Column
}

// level is one open block collection: the column of its entries and
// whether it is a sequence ("-") or a mapping ("key:", "?").
type level struct {
	col int
	seq bool
}

// depthWithin reports whether no collection in tokens is nested more than
// maxDepth levels deep, and where the first one that is starts if not.
// Flow collections count their brackets; block collections are tracked by
// the column of their entries, as YAML does, with a sequence allowed at the
// column of the key that holds it.
func depthWithin(tokens token.Tokens) (line, col int, ok bool) {
	var block []level
	flow := 0
	for i, tk := range tokens {
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			if flow++; len(block)+flow > maxDepth {
				line, col := tokenPos(tk)
				return line, col, false
			}
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
		case token.DocumentHeaderType, token.DocumentEndType:
			block, flow = block[:0], 0
		case token.SequenceEntryType, token.MappingKeyType, token.MappingValueType:
			if flow > 0 {
				continue
			}
			start := entryStart(tokens, i)
			line, col := tokenPos(start)
			block = enter(block, level{col: col, seq: tk.Type == token.SequenceEntryType})
			if len(block) > maxDepth {
				return line, col, false
			}
		}
	}
	return 0, 0, true
}

// entryStart is the token where the entry of tokens[i] starts: the
// indicator itself for "-" and "?", the key for ":" (the token before it,
// when that is on the same line).
func entryStart(tokens token.Tokens, i int) *token.Token {
	tk := tokens[i]
	if tk.Type != token.MappingValueType || i == 0 {
		return tk
	}
	line, _ := tokenPos(tk)
	if kl, _ := tokenPos(tokens[i-1]); kl == line {
		return tokens[i-1]
	}
	return tk
}

// enter closes the block collections that an entry at l's column ends and
// opens l's collection unless l is the next entry of the innermost one.
func enter(block []level, l level) []level {
	for len(block) > 0 {
		top := block[len(block)-1]
		if top.col < l.col || (top.col == l.col && !top.seq && l.seq) {
			break
		}
		if top == l {
			return block
		}
		block = block[:len(block)-1]
	}
	return append(block, l)
}
