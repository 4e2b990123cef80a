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

// Configure is the start of a daemon's run, before it is wired: "check-policy ARGS" runs check,
// "help" is "--help", then parse reads the flags. --help exits 0; a configuration with problems is
// reported on stderr and exits 2; --version (version of the configuration) prints VersionLine and
// exits 0. When exit is true the daemon exits with code; otherwise cfg is its configuration.
func Configure[C any](name string, args []string, stdout, stderr io.Writer, check func(args []string, stdout, stderr io.Writer) int,
	parse func(args []string) (C, error), version func(C) bool) (cfg C, code int, exit bool) {
	if len(args) > 0 {
		switch args[0] {
		case "check-policy":
			return cfg, check(args[1:], stdout, stderr), true
		case "help":
			args = []string{"--help"}
		}
	}
	cfg, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, 0, true
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: invalid configuration:\n%s\n", name, err)
		return cfg, 2, true
	}
	if version(cfg) {
		fmt.Fprintln(stdout, VersionLine(name))
		return cfg, 0, true
	}
	return cfg, 0, false
}

// CheckPolicy is "<daemon> check-policy FILE": usage is printed for anything but one file, what names
// the kind of policy in the error, and load reads and checks the file.
func CheckPolicy(args []string, stdout, stderr io.Writer, usage, what string, load func(path string) error) int {
	if len(args) != 1 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if err := load(args[0]); err != nil {
		fmt.Fprintf(stderr, "%s: invalid %s:\n%s\n", args[0], what, err)
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
