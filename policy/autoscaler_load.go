package policy

import (
	"fmt"
	"reflect"
)

// LoadAutoscalerPolicy reads an autoscaler policy from YAML. Decoding is strict (an unknown key is an
// error); every field not given takes its default (DefaultAutoscalerPolicy, DefaultPoolPolicy); then
// the whole policy is validated. The error is always Errors, listing every problem at once, in document
// order, with its field path and what is allowed, e.g.
//
//	pools[2].scale_down.unneeded_for: "10" is not a duration, e.g. "10m"
func LoadAutoscalerPolicy(data []byte) (*AutoscalerPolicy, error) {
	var p AutoscalerPolicy
	shape, ok := decodeDocument(data, &p)
	if !ok {
		return nil, shape.errs
	}
	p.applyDefaults(shape.given)
	if errs := shape.withValidation(p.validate()); len(errs) > 0 {
		shape.sort(errs)
		return nil, errs
	}
	return &p, nil
}

// applyDefaults sets every field that the document did not give to its default.
func (p *AutoscalerPolicy) applyDefaults(given map[string]bool) {
	fillDefaults(reflect.ValueOf(p).Elem(), reflect.ValueOf(DefaultAutoscalerPolicy()), "", given)
	def := reflect.ValueOf(DefaultPoolPolicy())
	for i := range p.Pools {
		fillDefaults(reflect.ValueOf(&p.Pools[i]).Elem(), def, fmt.Sprintf("pools[%d]", i), given)
	}
}
