package conf

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A section is one section of a Fluent Bit configuration, read from the
// classic format ([INPUT] and `Key value` lines) or from YAML (a list item
// under pipeline.inputs and its `key: value` lines). Either way it records
// where each property sits, so that a test can change a value or add a key
// in the file's own format and run it.
type section struct {
	kind  string // service, plugins, parser, input, filter, output
	props []prop
	last  int    // the line of the last property (or of the header)
	inner string // the indentation of a property line added to it
	yaml  bool
}

type prop struct {
	key, value string
	line       int // its line, 0-based
	valueAt    int // where the value starts on that line
}

// name is the section's plugin name, lower-cased ("" for service).
func (s section) name() string { return strings.ToLower(s.get("name")) }

func (s section) get(key string) string {
	for _, p := range s.props {
		if strings.EqualFold(p.key, key) {
			return p.value
		}
	}
	return ""
}

// parseClassic reads Fluent Bit's classic format: [SECTION] headers and
// indented `Key value` lines; comments and blank lines aside.
func parseClassic(text string) ([]section, error) {
	var out []section
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
		case strings.HasPrefix(trimmed, "[") && strings.HasSuffix(trimmed, "]"):
			out = append(out, section{kind: strings.ToLower(strings.Trim(trimmed, "[]")), last: i, inner: "    "})
		case strings.HasPrefix(trimmed, "@"):
			return nil, fmt.Errorf("line %d: %s: directives are outside what this test reads", i+1, trimmed)
		case len(out) == 0:
			return nil, fmt.Errorf("line %d: a property outside any section", i+1)
		default:
			key, _, _ := strings.Cut(trimmed, " ")
			at := len(line) - len(strings.TrimLeft(line, " \t")) + len(key)
			at += len(line[at:]) - len(strings.TrimLeft(line[at:], " \t"))
			s := &out[len(out)-1]
			s.props = append(s.props, prop{key: key, value: strings.TrimSpace(line[at:]), line: i, valueAt: at})
			s.last = i
		}
	}
	return out, nil
}

// parseYAML reads the subset of Fluent Bit's YAML format the shipped files
// keep to: a service map, a plugins list, and pipeline.inputs, .filters and
// .outputs as lists of flat maps, one `key: value` a line. Anything else is
// an error, so that a file never says more than this test compares.
func parseYAML(text string) ([]section, error) {
	var out []section
	top, list := "", ""
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		bad := fmt.Errorf("line %d: %q is outside the YAML this test reads (service, plugins, pipeline.inputs/filters/outputs)", i+1, trimmed)
		keyValue := func(s string, at int) (prop, error) {
			k, v, ok := strings.Cut(s, ":")
			if !ok || strings.ContainsAny(k, " '\"") {
				return prop{}, bad
			}
			rest := v
			v = strings.TrimSpace(v)
			at += len(k) + 1 + len(rest) - len(strings.TrimLeft(rest, " "))
			return prop{key: k, value: unquote(v), line: i, valueAt: at}, nil
		}
		switch {
		case indent == 0:
			top, list = strings.TrimSuffix(trimmed, ":"), ""
			if !strings.HasSuffix(trimmed, ":") || !slices.Contains([]string{"service", "plugins", "pipeline"}, top) {
				return nil, bad
			}
			if top == "service" {
				out = append(out, section{kind: "service", last: i, inner: "  ", yaml: true})
			}
		case top == "service" && indent == 2:
			p, err := keyValue(trimmed, indent)
			if err != nil {
				return nil, err
			}
			s := &out[len(out)-1]
			s.props, s.last = append(s.props, p), i
		case top == "plugins" && indent == 2 && strings.HasPrefix(trimmed, "- "):
			v := strings.TrimSpace(strings.TrimPrefix(trimmed, "- "))
			out = append(out, section{kind: "plugins", yaml: true, last: i,
				props: []prop{{key: "path", value: unquote(v), line: i, valueAt: len(line) - len(v)}}})
		case top == "pipeline" && indent == 2:
			list = strings.TrimSuffix(trimmed, ":")
			if !slices.Contains([]string{"inputs", "filters", "outputs"}, list) || !strings.HasSuffix(trimmed, ":") {
				return nil, bad
			}
		case top == "pipeline" && list != "" && indent == 4 && strings.HasPrefix(trimmed, "- "):
			p, err := keyValue(strings.TrimPrefix(trimmed, "- "), indent+2)
			if err != nil {
				return nil, err
			}
			out = append(out, section{kind: strings.TrimSuffix(list, "s"), props: []prop{p}, last: i, inner: "      ", yaml: true})
		case top == "pipeline" && list != "" && indent == 6 && len(out) > 0 && out[len(out)-1].kind == strings.TrimSuffix(list, "s"):
			p, err := keyValue(trimmed, indent)
			if err != nil {
				return nil, err
			}
			s := &out[len(out)-1]
			s.props, s.last = append(s.props, p), i
		default:
			return nil, bad
		}
	}
	return out, nil
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return strings.ReplaceAll(v[1:len(v)-1], "''", "'")
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

func parseFile(path string) ([]section, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(path, ".yaml") {
		return parseYAML(string(b))
	}
	return parseClassic(string(b))
}

// canonical renders a configuration as Fluent Bit reads it, one line per
// property: sections of a kind in their order (filters apply and outputs are
// numbered in it), keys lower-case and sorted within a section, plugin names
// lower-case, On/Off/true/false as on/off, and the plugin files that
// plugins_file names (relative to dir) read into the plugins section.
func canonical(secs []section, dir string) ([]string, error) {
	order := map[string]int{"service": 0, "parser": 1, "input": 2, "filter": 3, "output": 4}
	type block struct {
		order int
		lines []string
	}
	var blocks []block
	var plugins []string
	for _, s := range secs {
		if s.kind == "plugins" {
			for _, p := range s.props {
				plugins = append(plugins, "path = "+p.value)
			}
			continue
		}
		o, ok := order[s.kind]
		if !ok {
			return nil, fmt.Errorf("section [%s] is outside what this test compares", s.kind)
		}
		var props []string
		for _, p := range s.props {
			key, value := strings.ToLower(p.key), p.value
			if key == "plugins_file" {
				b, err := os.ReadFile(filepath.Join(dir, value))
				if err != nil {
					return nil, err
				}
				more, err := parseClassic(string(b))
				if err != nil {
					return nil, fmt.Errorf("%s: %w", value, err)
				}
				for _, m := range more {
					for _, mp := range m.props {
						plugins = append(plugins, "path = "+mp.value)
					}
				}
				continue
			}
			if key == "name" {
				value = strings.ToLower(value)
			}
			switch strings.ToLower(value) {
			case "on", "true", "yes":
				value = "on"
			case "off", "false", "no":
				value = "off"
			}
			props = append(props, key+" = "+value)
		}
		slices.Sort(props)
		blocks = append(blocks, block{o, append([]string{"[" + s.kind + "]"}, props...)})
	}
	slices.SortStableFunc(blocks, func(a, b block) int { return a.order - b.order })
	var out []string
	if len(plugins) > 0 {
		out = append(append(out, "[plugins]"), plugins...)
	}
	for _, b := range blocks {
		out = append(out, b.lines...)
	}
	return out, nil
}

// An edit sets keys in every section of a kind and plugin name ("" for the
// service section), when is nil or true of it: a key the section has gets
// the value, another is added.
type edit struct {
	kind, name string
	when       func(section) bool
	set        [][2]string
}

// apply returns text with edits made in the file's own format.
func apply(text string, secs []section, edits []edit) string {
	lines := strings.Split(text, "\n")
	added := map[int][]string{}
	for _, e := range edits {
		for _, s := range secs {
			if s.kind != e.kind || s.name() != e.name || e.when != nil && !e.when(s) {
				continue
			}
			for _, kv := range e.set {
				value := kv[1]
				if s.yaml {
					value = "'" + strings.ReplaceAll(value, "'", "''") + "'"
				}
				found := false
				for _, p := range s.props {
					if strings.EqualFold(p.key, kv[0]) {
						lines[p.line] = lines[p.line][:p.valueAt] + value
						found = true
					}
				}
				if !found {
					sep := " "
					if s.yaml {
						sep = ": "
					}
					added[s.last] = append(added[s.last], s.inner+kv[0]+sep+value)
				}
			}
		}
	}
	var out []string
	for i, l := range lines {
		out = append(out, l)
		out = append(out, added[i]...)
	}
	return strings.Join(out, "\n")
}
