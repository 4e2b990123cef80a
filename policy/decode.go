package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// The strict decoder of both policy documents (LoadAutoscalerPolicy, LoadHibernationPolicy). It knows
// nothing of either policy and serves any document that decodes into a struct with yaml tags: decode
// with decodeDocument, fill what the document did not give with fillDefaults, validate, and merge the
// errors with policyShape.withValidation.

// decodeDocument decodes a policy document into out, a pointer to a policy struct: strictly, with every
// unknown key, repeated key and value of the wrong kind reported by field path. The returned shape
// says which fields the document gave (for defaults) and which it already reported (for validation).
// ok is false when the document cannot be used at all.
func decodeDocument(data []byte, out any) (shape *policyShape, ok bool) {
	shape = &policyShape{given: map[string]bool{}, failed: map[string]bool{}, pos: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		shape.fail(documentPath, "%s", err)
		return shape, false
	}
	if doc.Kind != 0 { // an empty document leaves every field to its default
		shape.walk(&doc, reflect.TypeOf(out).Elem(), "")
		shape.decode(&doc, out)
	}
	return shape, !shape.failed[documentPath]
}

// sort orders errors as their fields appear in the document.
func (s *policyShape) sort(errs Errors) {
	sort.SliceStable(errs, func(i, j int) bool { return s.posOf(errs[i].Path) < s.posOf(errs[j].Path) })
}

// withValidation returns the decoding errors followed by validation's, leaving out each validation
// error about a value that decoding already reported, so that one mistake is reported once.
func (s *policyShape) withValidation(validation Errors) Errors {
	errs := s.errs
	for _, e := range validation {
		if !s.covers(e.Path) {
			errs = append(errs, e)
		}
	}
	return errs
}

// documentPath is the path of errors about the document as a whole.
const documentPath = "(document)"

// maxPolicyNodes bounds the walk: aliases can make a small document a huge tree.
const maxPolicyNodes = 1 << 16

// policyShape walks a YAML document alongside the Go type it decodes into. It reports every unknown
// key, repeated key and value of the wrong kind with its field path (yaml.v3 reports them by line
// only, and drops a list item it cannot decode, which would shift the paths of the items after it),
// and removes each from the document so that the strict decode that follows keeps every item in its
// place. It also records which fields were given, so that only the others take their defaults.
type policyShape struct {
	given  map[string]bool // paths of the fields given a non-null value
	failed map[string]bool // paths already reported; validation does not report them again
	pos    map[string]int  // where each path is in the document (line and column), to list errors in order
	errs   Errors
	nodes  int
}

// decode decodes the document the walk cleaned, strictly. What the walk reported is gone from it, so
// an error left is one the walk did not foresee (or excessive aliasing): it is reported, never ignored.
func (s *policyShape) decode(doc *yaml.Node, out any) {
	clean, err := yaml.Marshal(doc)
	if err == nil {
		err = decodeStrict(clean, out)
	}
	var te *yaml.TypeError
	switch {
	case errors.As(err, &te):
		for _, msg := range te.Errors {
			s.fail(documentPath, "%s", msg)
		}
	case err != nil:
		s.fail(documentPath, "%s", err)
	}
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
	if _, seen := s.pos[at]; !seen {
		s.at(at, n)
	}
	switch {
	case n.Kind == yaml.DocumentNode:
		if len(n.Content) > 0 {
			s.walk(n.Content[0], t, at)
		}
	case isNull(n):
	case reflect.PointerTo(t).Implements(yamlUnmarshaler):
		// Duration and Budget keep a malformed scalar and report it from validation.
		if n.Kind != yaml.ScalarNode {
			s.reject(n, at, "%s is not allowed here: expected %s", describeNode(n), kindName(t))
		}
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
		s.reject(n, orDocument(at), "must be a mapping with the fields %s", strings.Join(yamlFieldNames(t), ", "))
		return
	}
	seen := map[string]int{}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := joinPath(at, k.Value)
		f, known := fieldByYAMLName(t, k.Value)
		line, dup := seen[k.Value]
		switch {
		case k.Tag == "!!merge": // "<<: *defaults" merges another mapping's fields here
			s.merge(v, t, at)
		case dup:
			s.fail(p, "is given twice (lines %d and %d)", line, k.Line)
			continue
		case !known:
			s.at(p, k)
			s.fail(p, "unknown field; allowed: %s", strings.Join(yamlFieldNames(t), ", "))
			continue
		case !isNull(v):
			s.given[p] = true
			s.at(p, k)
			s.walk(v, f.Type, p)
		}
		seen[k.Value] = k.Line
		kept = append(kept, k, v)
	}
	n.Content = kept
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
		s.reject(n, at, "%s is not a list: write [%s] or one item per line", describeNode(n), n.Value)
		return
	}
	for i, c := range n.Content {
		s.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", at, i))
	}
}

func (s *policyShape) scalar(n *yaml.Node, t reflect.Type, at string) {
	if n.Kind != yaml.ScalarNode {
		s.reject(n, at, "%s is not allowed here: expected %s", describeNode(n), kindName(t))
		return
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		s.reject(n, at, "%q is not %s", n.Value, kindName(t))
	}
}

// reject reports a value and replaces it with null, which decodes to the zero value in place.
func (s *policyShape) reject(n *yaml.Node, at, format string, args ...any) {
	s.fail(at, format, args...)
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null", Line: n.Line, Column: n.Column}
}

func (s *policyShape) fail(at, format string, args ...any) {
	s.failed[at] = true
	s.errs.Addf(at, format, args...)
}

// covers reports whether path, or a field that holds it, was already reported.
func (s *policyShape) covers(path string) bool {
	for p := path; ; {
		if s.failed[p] {
			return true
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// at records where path is in the document.
func (s *policyShape) at(path string, n *yaml.Node) {
	s.pos[path] = n.Line<<16 | n.Column
}

// posOf returns where path is in the document, or the nearest field that holds it; errors of the
// document as a whole come first.
func (s *policyShape) posOf(path string) int {
	for p := path; ; {
		if l, ok := s.pos[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return 0
		}
		p = p[:i]
	}
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
	switch t {
	case reflect.TypeFor[Duration]():
		return "a duration, e.g. \"10m\""
	case reflect.TypeFor[Budget]():
		return "a number of agents or a percentage, e.g. 2 or \"10%\""
	}
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

// decodeStrict decodes one YAML document into out, rejecting unknown keys. An empty document is not
// an error (every field takes its default).
func decodeStrict(data []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
