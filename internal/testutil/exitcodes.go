package testutil

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// ExitCodeRow is one row of the exit-code table in docs/runs.md.
type ExitCodeRow struct {
	Commands string // "run" or "others"
	Code     string // as documented: "0", "N", "128+n"
	Examples []ExitCodeExample
}

// ExitCodeExample is a command line the docs give for a row, with the exit
// code it must have.
type ExitCodeExample struct {
	Argv []string // without the leading "moat"
	Code int
}

var exampleRe = regexp.MustCompile("`moat ([^`]+)`(?: exits ([0-9]+))?")

// DocumentedExitCodes reads the table under "## Exit codes" in the
// Markdown file at path (docs/runs.md): the codes as the docs state them,
// and their examples, so that tests compare them with moat's.
func DocumentedExitCodes(path string) ([]ExitCodeRow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	_, section, ok := strings.Cut(string(data), "\n## Exit codes\n")
	if !ok {
		return nil, fmt.Errorf("%s has no \"## Exit codes\" section", path)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var rows []ExitCodeRow
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if !strings.HasPrefix(line, "|") || len(cells) != 4 || cells[0] == "commands" || strings.HasPrefix(cells[0], "---") {
			continue
		}
		row := ExitCodeRow{Commands: cells[0], Code: cells[1]}
		for _, m := range exampleRe.FindAllStringSubmatch(cells[3], -1) {
			code, err := strconv.Atoi(cells[1])
			if m[2] != "" {
				code, err = strconv.Atoi(m[2])
			}
			if err != nil {
				return nil, fmt.Errorf("%s: the example %q of code %s says no exit code", path, m[0], cells[1])
			}
			row.Examples = append(row.Examples, ExitCodeExample{Argv: splitWords(m[1]), Code: code})
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no exit-code table under \"## Exit codes\"", path)
	}
	return rows, nil
}

// splitWords splits a command line as a shell would for the docs'
// examples: words separated by spaces, single quotes keeping spaces.
func splitWords(s string) []string {
	var words []string
	var word strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, word.String())
				word.Reset()
			}
			inWord = false
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}
