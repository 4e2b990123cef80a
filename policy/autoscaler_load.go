package policy

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadAutoscalerPolicy reads an autoscaler policy from YAML. Decoding is strict (an unknown key is an
// error); every field not given takes its default (DefaultAutoscalerPolicy, DefaultPoolPolicy); then
// the whole policy is validated. The error is always Errors, listing every problem at once with its
// field path and what is allowed, e.g.
//
//	pools[2].scale_down.unneeded_for: "10" is not a duration, e.g. "10m"
func LoadAutoscalerPolicy(data []byte) (*AutoscalerPolicy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{{Path: documentPath, Message: err.Error()}}
	}
	var p AutoscalerPolicy
	err := decodeStrict(data, &p)
	var typeErr *yaml.TypeError
	if err != nil && !errors.As(err, &typeErr) {
		// Not about a field (e.g. excessive aliasing): nothing below can be trusted.
		return nil, Errors{{Path: documentPath, Message: err.Error()}}
	}
	shape := policyShape{given: map[string]bool{}, failed: map[string]bool{}}
	shape.walk(&doc, reflect.TypeFor[AutoscalerPolicy](), "")
	errs := shape.errs
	if typeErr != nil && len(errs) == 0 {
		// yaml.v3 saw a problem the walk did not: never accept the document silently.
		for _, msg := range typeErr.Errors {
			errs.Addf(documentPath, "%s", msg)
		}
	}
	if shape.failed[documentPath] {
		return nil, errs
	}
	p.applyDefaults(shape.given)
	for _, e := range p.validate() {
		if !shape.covers(e.Path) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &p, nil
}

// documentPath is the path of errors about the document as a whole.
const documentPath = "(document)"

// maxPolicyNodes bounds the walk: aliases can make a small document a huge tree.
const maxPolicyNodes = 1 << 16

// policyShape walks a YAML document alongside the Go type it decodes into, so that every unknown key and
// every value of the wrong kind is reported with its field path (yaml.v3 reports them by line only), and
// records which fields were given, so that only the others take their defaults.
type policyShape struct {
	given  map[string]bool // paths of the fields given a non-null value
	failed map[string]bool // paths already reported; validation does not report them again
	errs   Errors
	nodes  int
}

var yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

func (s *policyShape) walk(n *yaml.Node, t reflect.Type, at string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if s.nodes++; s.nodes > maxPolicyNodes {
		if s.nodes == maxPolicyNodes+1 {
			s.fail(documentPath, "has more than %d values (too many aliases?)", maxPolicyNodes)
		}
		return
	}
	switch {
	case n.Kind == yaml.DocumentNode:
		if len(n.Content) > 0 {
			s.walk(n.Content[0], t, at)
		}
	case isNull(n):
	case reflect.PointerTo(t).Implements(yamlUnmarshaler):
		// Duration and Budget keep a malformed value and report it from validation.
	case t.Kind() == reflect.Struct:
		s.mapping(n, t, at)
	case t.Kind() == reflect.Slice:
		s.sequence(n, t, at)
	default:
		s.scalar(n, t, at)
	}
}

func (s *policyShape) mapping(n *yaml.Node, t reflect.Type, at string) {
	if n.Kind != yaml.MappingNode {
		s.fail(orDocument(at), "must be a mapping with the fields %s", strings.Join(yamlFieldNames(t), ", "))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" { // "<<: *defaults" merges another mapping's fields here
			s.merge(v, t, at)
			continue
		}
		p := joinPath(at, k.Value)
		f, ok := fieldByYAMLName(t, k.Value)
		switch line, dup := seen[k.Value]; {
		case dup:
			s.fail(p, "is given twice (lines %d and %d)", line, k.Line)
		case !ok:
			s.fail(p, "unknown field; allowed: %s", strings.Join(yamlFieldNames(t), ", "))
		case !isNull(v):
			s.given[p] = true
			s.walk(v, f.Type, p)
		}
		seen[k.Value] = k.Line
	}
}

func (s *policyShape) merge(v *yaml.Node, t reflect.Type, at string) {
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, c := range v.Content {
			s.merge(c, t, at)
		}
		return
	}
	s.mapping(v, t, at)
}

func (s *policyShape) sequence(n *yaml.Node, t reflect.Type, at string) {
	if n.Kind != yaml.SequenceNode {
		s.fail(at, "%s is not a list: write [%s] or one item per line", describeNode(n), n.Value)
		return
	}
	for i, c := range n.Content {
		s.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", at, i))
	}
}

func (s *policyShape) scalar(n *yaml.Node, t reflect.Type, at string) {
	if n.Kind != yaml.ScalarNode {
		s.fail(at, "%s is not allowed here: expected %s", describeNode(n), kindName(t))
		return
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		s.fail(at, "%q is not %s", n.Value, kindName(t))
	}
}

func (s *policyShape) fail(at, format string, args ...any) {
	s.failed[at] = true
	s.errs.Addf(at, format, args...)
}

// covers reports whether path, or a field that holds it, was already reported.
func (s *policyShape) covers(path string) bool {
	for p := path; p != ""; {
		if s.failed[p] {
			return true
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return false
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number, e.g. 3"
	case reflect.Float32, reflect.Float64:
		return "a number, e.g. 0.8"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	}
	return "a mapping"
}

func joinPath(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}

func orDocument(at string) string {
	if at == "" {
		return documentPath
	}
	return at
}

func yamlTagName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func fieldByYAMLName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); yamlTagName(f) == name && name != "" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func yamlFieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name := yamlTagName(t.Field(i)); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// applyDefaults sets every field that the document did not give to its default.
func (p *AutoscalerPolicy) applyDefaults(given map[string]bool) {
	fillDefaults(reflect.ValueOf(p).Elem(), reflect.ValueOf(DefaultAutoscalerPolicy()), "", given)
	def := reflect.ValueOf(DefaultPoolPolicy())
	for i := range p.Pools {
		fillDefaults(reflect.ValueOf(&p.Pools[i]).Elem(), def, fmt.Sprintf("pools[%d]", i), given)
	}
}

// fillDefaults copies def's fields into dst where the document gave no value, descending into the
// sections (nested structs) it did give. Lists are given whole or not at all.
func fillDefaults(dst, def reflect.Value, at string, given map[string]bool) {
	t := dst.Type()
	for i := range t.NumField() {
		name := yamlTagName(t.Field(i))
		if name == "" {
			continue
		}
		p := joinPath(at, name)
		ft := t.Field(i).Type
		switch {
		case !given[p]:
			dst.Field(i).Set(def.Field(i))
		case ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(yamlUnmarshaler):
			fillDefaults(dst.Field(i), def.Field(i), p, given)
		}
	}
}

// sortedKeys returns m's keys in order, for deterministic messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
