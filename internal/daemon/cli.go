package daemon

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/marmot-project/marmot/marathon"
	"github.com/marmot-project/marmot/policy"
)

// Command is a daemon's command line, for Configure.
type Command[C any] struct {
	Name string // "autoscaler", "hibernator"
	// PolicyUsage is what "check-policy" prints when not given one file; PolicyKind names the policy
	// in its errors ("autoscaler policy"); LoadPolicy reads and checks a policy file.
	PolicyUsage, PolicyKind string
	LoadPolicy              func(path string) error
	// Parse reads the flags; Version is whether the configuration asks for --version.
	Parse   func(args []string) (C, error)
	Version func(C) bool
}

// Configure is the start of a daemon's run, before it is wired: "check-policy FILE" checks a policy,
// "help" is "--help", then Parse reads the flags. --help exits 0; a configuration with problems is
// reported on stderr and exits 2; --version prints VersionLine and exits 0. When exit is true the
// daemon exits with code; otherwise cfg is its configuration.
func (c Command[C]) Configure(args []string, stdout, stderr io.Writer) (cfg C, code int, exit bool) {
	if len(args) > 0 {
		switch args[0] {
		case "check-policy":
			return cfg, c.checkPolicy(args[1:], stdout, stderr), true
		case "help":
			args = []string{"--help"}
		}
	}
	cfg, err := c.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, 0, true
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: invalid configuration:\n%s\n", c.Name, err)
		return cfg, 2, true
	}
	if c.Version(cfg) {
		fmt.Fprintln(stdout, VersionLine(c.Name))
		return cfg, 0, true
	}
	return cfg, 0, false
}

// checkPolicy is "<daemon> check-policy FILE".
func (c Command[C]) checkPolicy(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, c.PolicyUsage)
		return 2
	}
	if err := c.LoadPolicy(args[0]); err != nil {
		fmt.Fprintf(stderr, "%s: invalid %s:\n%s\n", args[0], c.PolicyKind, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[0])
	return 0
}

// LoadPolicy reads a policy file and checks it with decode; the error lists every problem, one per
// line, each with its field path.
func LoadPolicy[P any](path string, decode func(data []byte) (P, error)) (P, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var zero P
		return zero, err
	}
	p, err := decode(data)
	var list policy.Errors
	if errors.As(err, &list) {
		lines := make([]string, len(list))
		for i, e := range list {
			lines[i] = e.Error()
		}
		var zero P
		return zero, errors.New(strings.Join(lines, "\n"))
	}
	return p, err
}

// MarathonURLs adds the problems of --marathon-url: none given, or URLs Marathon's client refuses.
func (p *Problems) MarathonURLs(urls []string) {
	if len(urls) == 0 {
		p.Add("--marathon-url: required, e.g. http://marathon.mesos:8080")
	} else if err := (marathon.Config{URLs: urls}).Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			p.Add("--marathon-url: %s", line)
		}
	}
}

// NoArgs adds a problem when the command line has arguments after its flags.
func (p *Problems) NoArgs(fs *flag.FlagSet) {
	if fs.NArg() > 0 {
		p.Add("unexpected arguments %q (flags come as --name value)", fs.Args())
	}
}
