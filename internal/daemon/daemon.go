// Package daemon is the plumbing Marmot's daemons (cmd/autoscaler, cmd/hibernator) share: flags and
// their usage text, the JSON logger, configuration problems listed all at once, the status server,
// signals and SIGHUP reloads, leader election (ha.go), credentials for Mesos and Marathon
// (security.go) and --version (version.go).
package daemon

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ListFlag is a flag that may be repeated, each value a comma-separated list; blanks are dropped.
type ListFlag []string

func (l *ListFlag) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value.
func (l *ListFlag) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// Usage sets fs's usage to head, the flags as written on a command line, then tail.
func Usage(fs *flag.FlagSet, w io.Writer, head, tail string) {
	fs.Usage = func() {
		fmt.Fprint(w, head)
		PrintFlags(w, fs)
		fmt.Fprint(w, tail)
	}
}

// PrintFlags lists the flags as they are written on a command line, with two dashes.
func PrintFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, text := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if f.DefValue != "" && f.DefValue != "false" {
			text += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, text)
	})
}

// Problems collects every configuration problem, so that a daemon reports them all at once, each
// naming its flag.
type Problems []string

// Add records one problem.
func (p *Problems) Add(format string, a ...any) { *p = append(*p, fmt.Sprintf(format, a...)) }

// AddLines records each line of err's message (or each joined error) prefixed with prefix.
func (p *Problems) AddLines(prefix string, err error) {
	for _, m := range Unjoin(err) {
		for line := range strings.SplitSeq(m, "\n") {
			p.Add("%s%s", prefix, line)
		}
	}
}

// Err is nil without problems, else one error listing them one per line.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New(strings.Join(p, "\n"))
}

// Unjoin splits an errors.Join error into its messages.
func Unjoin(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// CheckAddr adds a problem when addr is not host:port or :port.
func (p *Problems) CheckAddr(flagName, addr string) {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		p.Add("--%s: %q is not host:port or :port", flagName, addr)
	}
}

// LogLevel parses a --log-level value into level, adding a problem when it is not a level.
func (p *Problems) LogLevel(value string, level *zapcore.Level) {
	if err := level.Set(value); err != nil {
		p.Add("--log-level: %q is not one of debug, info, warn, error", value)
	}
}

// NewLogger is the daemons' logger: JSON lines on w at level.
func NewLogger(w io.Writer, level zapcore.Level) *zap.Logger {
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(w), level))
}
