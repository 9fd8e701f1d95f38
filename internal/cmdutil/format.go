package cmdutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"text/tabwriter"
	"text/template"

	"github.com/moatsh/moat/internal/termtext"
)

// Format is a parsed --format value: a Go template run once per item, as
// docker's --format is. A value starting with "table" prints a header row
// and aligns the columns.
type Format struct {
	tmpl  *template.Template
	table bool
}

// formatFuncs are the functions a --format template may call, those of
// docker's templates that make sense for moat's fields.
var formatFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(escapeC1(b)), err
	},
	"join":  joinAny,
	"split": strings.Split,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"truncate": func(s string, n int) string {
		if r := []rune(s); len(r) > n {
			return string(r[:n])
		}
		return s
	},
}

// joinAny joins a list; a header cell (a string) passes as it is.
func joinAny(v any, sep string) string {
	switch v := v.(type) {
	case []string:
		return strings.Join(v, sep)
	case string:
		return v
	}
	return fmt.Sprint(v)
}

// CheckOutputFlags refuses a listing's --quiet, --json and --format
// together: each says what to print instead of the table.
func CheckOutputFlags(quiet, json bool, format string) error {
	n := 0
	for _, set := range []bool{quiet, json, format != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return FlagErrorf("--quiet, --json and --format cannot be combined")
	}
	return nil
}

// ParseFormat parses a --format value; a template that does not parse is
// a usage error.
func ParseFormat(format string) (*Format, error) {
	f := &Format{}
	if rest, ok := strings.CutPrefix(format, "table"); ok {
		f.table, format = true, strings.TrimLeft(rest, " ")
	}
	// Like docker, \t and \n typed in a shell's single quotes mean a tab
	// and a newline.
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	t, err := template.New("format").Funcs(formatFuncs).Option("missingkey=error").Parse(format)
	if err != nil {
		return nil, FlagErrorf("invalid --format template: %v", err)
	}
	f.tmpl = t
	return f, nil
}

// Execute writes each item through the template, one line each; a table
// starts with header (the column names by field, executed through the
// same template) and is aligned. On a terminal the output is filtered
// like every field moat shows there: names, commands and workspaces are
// the agent's text.
func (f *Format) Execute(w io.Writer, terminal bool, header map[string]string, items []any) error {
	if terminal {
		tw := termtext.NewWriter(w)
		if err := f.execute(tw, header, items); err != nil {
			return err
		}
		return tw.Flush()
	}
	return f.execute(w, header, items)
}

func (f *Format) execute(w io.Writer, header map[string]string, items []any) error {
	out := w
	var tw *tabwriter.Writer
	if f.table && header != nil {
		tw = tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		out = tw
		var buf bytes.Buffer
		// A template the header map cannot fill (a function on a field
		// that needs the field's type) gets no header, not an error.
		if f.tmpl.Execute(&buf, header) == nil {
			fmt.Fprintln(out, buf.String())
		}
	}
	for _, item := range items {
		var buf bytes.Buffer
		if err := f.tmpl.Execute(&buf, item); err != nil {
			// A field the item does not have is the template's fault.
			return templateError(err, item)
		}
		fmt.Fprintln(out, buf.String())
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// missingField finds the field name in text/template's "can't evaluate
// field X in type pkg.T", which names one of moat's Go types.
var missingField = regexp.MustCompile(`can't evaluate field (\w+) in type`)

// templateError words a failed --format template for its user: a field
// the item lacks is named with the fields it has, never with Go's type.
func templateError(err error, item any) error {
	m := missingField.FindStringSubmatch(err.Error())
	if m == nil {
		return FlagErrorf("invalid --format template: %v", err)
	}
	return &FlagError{Err: WithHint(
		fmt.Errorf("invalid --format template: there is no field .%s", m[1]),
		"Fields: "+strings.Join(fieldNames(item), ", ")+".")}
}

// fieldNames lists the fields a template can name on item, as .Name.
func fieldNames(item any) []string {
	t := reflect.TypeOf(item)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for f := range t.Fields() {
		if f.IsExported() {
			names = append(names, "."+f.Name)
		}
	}
	return names
}
