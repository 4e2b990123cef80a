package awsapi

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The Query protocols encode every parameter as one form field. Auto Scaling (awsQuery) spells a list
// `Name.member.N` and a list of structures `Name.member.N.Field`; EC2 (ec2Query) flattens them to
// `Name.N` and `Name.N.Field` (wire-facts.md §5.1). A form is one such set of fields, and a list of
// structures is a list of sub-forms holding the fields below each index, so one parser serves both.

// maxListIndex bounds the N of `Name.N`. AWS lists are far shorter (the longest we serve, group names,
// takes 1,600); the bound keeps a hostile index from meaning anything.
const maxListIndex = 100000

// form is the parameters of one Query request, each given once.
type form map[string]string

// parseForm decodes a form-encoded body. A malformed escape or a parameter given twice is an error:
// the SDKs never send either, so such a body is garbage rather than a request.
func parseForm(body string) (form, error) {
	values, err := url.ParseQuery(body)
	if err != nil {
		return nil, fmt.Errorf("the request body is not a valid form: %w", err)
	}
	f := make(form, len(values))
	for k, vs := range values {
		if len(vs) > 1 {
			return nil, fmt.Errorf("the parameter %s is given %d times", k, len(vs))
		}
		f[k] = vs[0]
	}
	return f, nil
}

// paramError is a parameter that is missing or has a value the operation cannot take. Each protocol
// words it in its own envelope (Auto Scaling ValidationError, EC2 MissingParameter or
// InvalidParameterValue).
type paramError struct {
	Param   string
	Value   string
	Missing bool
	Reason  string // what the value must be, e.g. "must be an integer"
}

func (e *paramError) Error() string {
	if e.Missing {
		return "missing parameter " + e.Param
	}
	return fmt.Sprintf("invalid value %q for %s: %s", e.Value, e.Param, e.Reason)
}

func missing(param string) error { return &paramError{Param: param, Missing: true} }

func invalid(param, value, reason string) error {
	return &paramError{Param: param, Value: value, Reason: reason}
}

// str returns a parameter and whether it was given.
func (f form) str(name string) (string, bool) {
	v, ok := f[name]
	return v, ok
}

// required returns a parameter that must be given and not be empty.
func (f form) required(name string) (string, error) {
	v, ok := f[name]
	if !ok || v == "" {
		return "", missing(name)
	}
	return v, nil
}

// integer returns an integer parameter, or def when it is not given.
func (f form) integer(name string, def int) (int, bool, error) {
	v, ok := f[name]
	if !ok {
		return def, false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, true, invalid(name, v, "must be an integer")
	}
	return n, true, nil
}

// requiredInt returns an integer parameter that must be given.
func (f form) requiredInt(name string) (int, error) {
	n, ok, err := f.integer(name, 0)
	if err == nil && !ok {
		err = missing(name)
	}
	return n, err
}

// boolean returns a boolean parameter, or def when it is not given. The Query protocols write booleans
// as exactly "true" or "false".
func (f form) boolean(name string, def bool) (bool, bool, error) {
	v, ok := f[name]
	if !ok {
		return def, false, nil
	}
	switch v {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, true, invalid(name, v, "must be true or false")
}

// requiredBool returns a boolean parameter that must be given.
func (f form) requiredBool(name string) (bool, error) {
	b, ok, err := f.boolean(name, false)
	if err == nil && !ok {
		err = missing(name)
	}
	return b, err
}

// timestamp returns an ISO 8601 time parameter (the SDKs send "2006-01-02T15:04:05.999Z"), or the zero
// time when it is not given.
func (f form) timestamp(name string) (time.Time, error) {
	v, ok := f[name]
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, invalid(name, v, "must be an ISO 8601 time such as 2026-01-05T00:00:00Z")
	}
	return t, nil
}

// indexed groups the fields below prefix by their list index: `prefix.N` and `prefix.N.rest`. It returns
// the indices in order and, for each, the fields with `prefix.N.` cut off (the bare `prefix.N` is kept
// under the empty key).
func (f form) indexed(prefix string) ([]int, map[int]form, error) {
	var order []int
	byIndex := map[int]form{}
	dotted := prefix + "."
	for k, v := range f {
		if !strings.HasPrefix(k, dotted) {
			continue
		}
		rest := k[len(dotted):]
		idx, field, dot := strings.Cut(rest, ".")
		n, err := strconv.Atoi(idx)
		if err != nil || n < 1 || n > maxListIndex || strconv.Itoa(n) != idx {
			return nil, nil, invalid(k, v, fmt.Sprintf("the list index must be a number from 1 to %d", maxListIndex))
		}
		if dot && field == "" {
			return nil, nil, invalid(k, v, "the parameter name must not end in a dot")
		}
		sub, ok := byIndex[n]
		if !ok {
			sub = form{}
			byIndex[n] = sub
			order = append(order, n)
		}
		sub[field] = v
	}
	sort.Ints(order)
	return order, byIndex, nil
}

// list returns the strings of a list parameter: prefix is "Name.member" for Auto Scaling and "Name" for
// EC2. Gaps in the numbering are allowed and the order is by index.
func (f form) list(prefix string) ([]string, error) {
	order, byIndex, err := f.indexed(prefix)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(order))
	for _, n := range order {
		sub := byIndex[n]
		v, ok := sub[""]
		if !ok || len(sub) > 1 {
			return nil, invalid(fmt.Sprintf("%s.%d", prefix, n), v, "must be a single value")
		}
		out = append(out, v)
	}
	return out, nil
}

// entry is one structure of a list of structures: its fields, and the parameter prefix they were found
// under (e.g. "Filters.member.2") so that an error can name the parameter the client sent.
type entry struct {
	form
	path string
}

// wrap names a parameter error of the entry by its full parameter name.
func (e entry) wrap(err error) error {
	if pe, ok := err.(*paramError); ok {
		full := *pe
		full.Param = e.path + "." + pe.Param
		return &full
	}
	return err
}

// structs returns the structures of a list-of-structures parameter, in index order.
func (f form) structs(prefix string) ([]entry, error) {
	order, byIndex, err := f.indexed(prefix)
	if err != nil {
		return nil, err
	}
	out := make([]entry, 0, len(order))
	for _, n := range order {
		sub := byIndex[n]
		path := prefix + "." + strconv.Itoa(n)
		if v, ok := sub[""]; ok {
			return nil, invalid(path, v, "must be a structure")
		}
		out = append(out, entry{form: sub, path: path})
	}
	return out, nil
}

// filter is one Name/Values filter of a Describe call.
type filter struct {
	Name   string
	Values []string
}

// filters reads a filter list: Auto Scaling writes `Filters.member.N.Name` with
// `Filters.member.N.Values.member.M`, EC2 `Filter.N.Name` with `Filter.N.Value.M`.
func (f form) filters(prefix, valuesPrefix string) ([]filter, error) {
	subs, err := f.structs(prefix)
	if err != nil {
		return nil, err
	}
	out := make([]filter, 0, len(subs))
	for _, sub := range subs {
		name, err := sub.required("Name")
		if err != nil {
			return nil, sub.wrap(err)
		}
		values, err := sub.list(valuesPrefix)
		if err == nil && len(values) == 0 {
			err = missing(valuesPrefix + ".1")
		}
		if err != nil {
			return nil, sub.wrap(err)
		}
		out = append(out, filter{Name: name, Values: values})
	}
	return out, nil
}
