package cli

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

// column of a list table: a header and the keys tried in order to fill it.
type column struct {
	header string
	keys   []string
	format func(any) string
}

// view says how one command renders its `data` as a table.
type view struct {
	// rows, when set, extracts the list to print with columns.
	rows    func(data any) []any
	columns []column
	// fields, for a single object, lists the keys shown first (in order);
	// remaining scalar keys follow sorted.
	fields []string
	// only limits a single-object table to fields.
	only bool
	// empty is printed when the list has no rows.
	empty string
}

// printResult writes data in the selected format. In table mode message (the
// envelope message of an action) is printed first when non-empty.
func printResult(e *env, message string, data any, v view) error {
	switch e.output {
	case outputJSON:
		return writeJSON(e.out, data)
	case outputYAML:
		return writeYAML(e.out, data)
	default:
		if message != "" {
			if _, err := fmt.Fprintln(e.out, message); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
		}
		return writeTable(e.out, data, v)
	}
}

func writeJSON(w io.Writer, data any) error {
	b, err := json.MarshalIndent(data, "", "  ")
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

func writeYAML(w io.Writer, data any) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(data); err != nil {
		return fmt.Errorf("encode yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode yaml: %w", err)
	}
	return nil
}

func writeTable(w io.Writer, data any, v view) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	switch {
	case v.rows != nil:
		rows := v.rows(data)
		if len(rows) == 0 && v.empty != "" {
			if _, err := fmt.Fprintln(w, v.empty); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			return nil
		}
		headers := make([]string, len(v.columns))
		for i, c := range v.columns {
			headers[i] = c.header
		}
		fmt.Fprintln(tw, strings.Join(headers, "\t"))
		for _, r := range rows {
			obj, _ := r.(map[string]any)
			cells := make([]string, len(v.columns))
			for i, c := range v.columns {
				val := lookup(obj, c.keys...)
				if c.format != nil {
					cells[i] = c.format(val)
				} else {
					cells[i] = cell(val)
				}
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
	default:
		obj, ok := data.(map[string]any)
		if !ok {
			if data == nil {
				return nil
			}
			fmt.Fprintln(tw, cell(data))
			break
		}
		seen := map[string]bool{}
		for _, k := range v.fields {
			if val, ok := obj[k]; ok {
				fmt.Fprintf(tw, "%s:\t%s\n", k, cell(val))
				seen[k] = true
			}
		}
		if !v.only {
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
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// lookup returns the first present, non-nil key of obj.
func lookup(obj map[string]any, keys ...string) any {
	for _, k := range keys {
		path := strings.Split(k, ".")
		var cur any = obj
		for _, p := range path {
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[p]
		}
		if cur != nil {
			return cur
		}
	}
	return nil
}

// cell renders one value for a table: scalars plainly, lists of scalars comma
// separated, anything else as compact JSON.
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
	case map[string]any:
		// a flat mapping (labels) reads best as sorted k=v pairs
		keys := make([]string, 0, len(t))
		for k, x := range t {
			switch x.(type) {
			case map[string]any, []any:
				b, _ := json.Marshal(t)
				return string(b)
			}
			keys = append(keys, k)
		}
		if len(keys) == 0 {
			return "-"
		}
		sort.Strings(keys)
		for i, k := range keys {
			keys[i] = k + "=" + cell(t[k])
		}
		return strings.Join(keys, ",")
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return fmt.Sprint(t)
		}
		return string(b)
	}
}

// listOf returns data itself when it is a list, or data[key] when that is.
func listOf(key string) func(any) []any {
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
