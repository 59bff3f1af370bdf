package hermes

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
)

// table says how a command shows its data in table mode.
type table struct {
	// list extracts the rows of a list answer; columns are its headers (keys of each row).
	list    func(any) []any
	columns []string
	empty   string
	// first lists the keys of a single object shown first.
	first []string
}

// print writes data in the session's format. In table mode a non-empty message is printed first.
func (s *session) print(message string, data any, t table) error {
	switch s.output {
	case "json":
		b, err := json.MarshalIndent(data, "", "  ")
		if err != nil {
			return fmt.Errorf("encode json: %w", err)
		}
		_, err = fmt.Fprintf(s.out, "%s\n", b)
		return err
	case "yaml":
		enc := yaml.NewEncoder(s.out)
		enc.SetIndent(2)
		if err := enc.Encode(data); err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		return enc.Close()
	}
	if message != "" {
		fmt.Fprintln(s.out, message)
	}
	return writeTable(s.out, data, t)
}

func writeTable(w io.Writer, data any, t table) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if t.list != nil {
		rows := t.list(data)
		if len(rows) == 0 {
			if t.empty != "" {
				fmt.Fprintln(w, t.empty)
			}
			return nil
		}
		hdr := make([]string, len(t.columns))
		for i, c := range t.columns {
			hdr[i] = strings.ToUpper(c)
		}
		fmt.Fprintln(tw, strings.Join(hdr, "\t"))
		for _, r := range rows {
			obj, _ := r.(map[string]any)
			cells := make([]string, len(t.columns))
			for i, c := range t.columns {
				cells[i] = cell(lookup(obj, c))
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		return tw.Flush()
	}
	obj, ok := data.(map[string]any)
	if !ok {
		if data != nil {
			fmt.Fprintln(tw, cell(data))
		}
		return tw.Flush()
	}
	seen := map[string]bool{}
	for _, k := range t.first {
		if v, ok := obj[k]; ok {
			fmt.Fprintf(tw, "%s:\t%s\n", k, cell(v))
			seen[k] = true
		}
	}
	rest := make([]string, 0, len(obj))
	for k := range obj {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		fmt.Fprintf(tw, "%s:\t%s\n", k, cell(obj[k]))
	}
	return tw.Flush()
}

// lookup follows a dotted key.
func lookup(obj map[string]any, key string) any {
	var cur any = obj
	for _, p := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func cell(v any) string {
	switch t := v.(type) {
	case nil:
		return "-"
	case string:
		if t == "" {
			return "-"
		}
		return strings.ReplaceAll(t, "\n", `\n`)
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	case []any:
		parts := make([]string, 0, len(t))
		for _, x := range t {
			switch x.(type) {
			case map[string]any, []any:
				b, _ := json.Marshal(t)
				return string(b)
			}
			parts = append(parts, cell(x))
		}
		if len(parts) == 0 {
			return "-"
		}
		return strings.Join(parts, ",")
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return fmt.Sprint(t)
		}
		return string(b)
	}
}

// listAt returns data when it is a list, or the list under key (ml-serve nests lists as data.data).
func listAt(key string) func(any) []any {
	return func(data any) []any {
		if l, ok := data.([]any); ok {
			return l
		}
		if m, ok := data.(map[string]any); ok {
			if l, ok := m[key].([]any); ok {
				return l
			}
		}
		return nil
	}
}
