package policy

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a duration in YAML ("90s", "10m", "1h30m"). A malformed value does not fail decoding: it
// is kept and reported by validation with its field path, so that one run lists every error.
type Duration struct {
	D   time.Duration
	raw string
	bad bool
}

// Dur makes a Duration from a time.Duration.
func Dur(d time.Duration) Duration { return Duration{D: d, raw: d.String()} }

// IsSet reports whether the field was given (or defaulted).
func (d Duration) IsSet() bool { return d.raw != "" }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	d.raw = n.Value
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		d.bad = true
		return nil
	}
	d.D = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.D.String(), nil }

// MarshalJSON renders the duration as Go's duration string, for /status.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.D.String() + `"`), nil }

// Check adds an error to errs when the duration is malformed or negative.
func (d Duration) Check(errs *Errors, path string) {
	switch {
	case d.bad:
		errs.Addf(path, "%q is not a duration, e.g. \"10m\"", d.raw)
	case d.D < 0:
		errs.Addf(path, "%s must not be negative", d.raw)
	}
}

// FieldError is one validation error: the field path ("pools[2].scale_down.unneeded_for") and what is
// wrong with it, including what is allowed.
type FieldError struct {
	Path    string
	Message string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Message }

// Errors is every validation error of one document. A nil or empty Errors means valid.
type Errors []FieldError

// Addf appends an error at path.
func (e *Errors) Addf(path, format string, args ...any) {
	*e = append(*e, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Err returns e as an error, or nil when there is none.
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.Error()
	}
	return fmt.Sprintf("%d error(s):\n  %s", len(e), strings.Join(lines, "\n  "))
}
