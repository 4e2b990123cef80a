package simulate

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// checkShape walks a decoded YAML document against the Scenario type and reports, with field paths,
// what the decoder would otherwise report one at a time and by line number only: unknown keys (with the
// keys allowed there), values of the wrong type, and lists or maps where a single value belongs. Value
// rules (ranges, references between fields) are Validate's job.
func checkShape(doc *yaml.Node) []string {
	var errs []string
	if doc == nil || len(doc.Content) == 0 {
		return nil
	}
	walkShape(doc.Content[0], reflect.TypeFor[Scenario](), "", &errs)
	return errs
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func walkShape(n *yaml.Node, t reflect.Type, path string, errs *[]string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the field at its default
	}
	at := path
	if at == "" {
		at = "scenario"
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		// The type decodes itself (Duration keeps a bad value for Validate to report with its path);
		// it still takes a single value.
		if n.Kind != yaml.ScalarNode {
			*errs = append(*errs, fmt.Sprintf("%s: expected a single value, got %s", at, nodeKind(n)))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, fmt.Sprintf("%s: expected a mapping of fields, got %s", at, nodeKind(n)))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i].Value, n.Content[i+1]
			ft, ok := fields[key]
			if !ok {
				*errs = append(*errs, fmt.Sprintf("%s: unknown field; allowed here: %s", join(path, key), strings.Join(sortedKeys(fields), ", ")))
				continue
			}
			walkShape(val, ft, join(path, key), errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			*errs = append(*errs, fmt.Sprintf("%s: expected a list, got %s", at, nodeKind(n)))
			return
		}
		for i, item := range n.Content {
			walkShape(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, fmt.Sprintf("%s: expected a mapping, got %s", at, nodeKind(n)))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			walkShape(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), errs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			*errs = append(*errs, fmt.Sprintf("%s: expected %s, got %s", at, kindName(t), nodeKind(n)))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			*errs = append(*errs, fmt.Sprintf("%s: %q is not %s", at, n.Value, kindName(t)))
		}
	}
}

// yamlFields maps the YAML keys of a struct to their types, following `,inline` and skipping `-`.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				if _, taken := out[k]; !taken {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	// An inlined struct's field loses to one of the same key in the outer struct (ScheduledFault.Delay
	// is a duration string, Fault.Delay is not in YAML at all).
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); f.IsExported() && name != "" && name != "-" {
			out[name] = f.Type
		}
	}
	return out
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return fmt.Sprintf("%q", n.Value)
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	}
	return "a " + t.Kind().String()
}
