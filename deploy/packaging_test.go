// Package deploy holds what operators install: Marathon app definitions, the IAM policy, systemd
// units, Prometheus alerting rules. This file checks the packaging around them: the Dockerfile and
// .dockerignore, the static binaries the image needs, the systemd units against the binaries' flags
// (and systemd-analyze verify), and the alerting rules with promtool and against the metrics the code
// exports.
package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the module root, one level up from deploy/.
const repoRoot = ".."

// commands are the binaries the image and the units ship, by directory under cmd/.
var commands = []string{"autoscaler", "hibernator", "simulate"}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binaries builds the three commands once per test run as the Dockerfile does (CGO_ENABLED=0,
// -trimpath) and returns the directory that holds them.
func binaries(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the three binaries; skipped with -short")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "marmot-packaging-"); buildErr != nil {
			return
		}
		args := []string{"build", "-trimpath", "-o", buildDir + string(os.PathSeparator)}
		for _, c := range commands {
			args = append(args, "./cmd/"+c)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

// The binaries the image copies onto distroless/static (no libc) are statically linked: no ELF
// interpreter, no dynamic section, no shared library needed.
func TestBinariesAreStatic(t *testing.T) {
	dir := binaries(t)
	for _, c := range commands {
		t.Run(c, func(t *testing.T) {
			f, err := elf.Open(filepath.Join(dir, c))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("program header %v: the binary is dynamically linked", p.Type)
				}
			}
			if s := f.Section(".interp"); s != nil {
				t.Error("has an .interp section")
			}
			if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
				t.Errorf("needs shared libraries %v", libs)
			}
		})
	}
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(args), " ")})
		cur.Reset()
	}
	return out
}

// The Dockerfile is multi-stage: a golang builder at the go.mod's Go version that seeds the
// go-marathon module before downloading, builds every command with CGO_ENABLED=0 and the version
// variable that exists, and a distroless/static (or scratch) stage that copies exactly those
// binaries and runs as a non-root user, exposing the daemons' default ports.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	args := map[string]string{}
	var froms []instruction
	for _, in := range ins {
		switch in.cmd {
		case "ARG":
			name, val, _ := strings.Cut(in.args, "=")
			args[name] = strings.Trim(val, `"`)
		case "FROM":
			froms = append(froms, in)
		}
	}
	expand := func(s string) string {
		return os.Expand(s, func(k string) string { return args[k] })
	}
	if len(froms) != 2 {
		t.Fatalf("%d FROM lines, want 2 (builder and runtime)", len(froms))
	}
	builder := strings.Fields(expand(froms[0].args))
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVersion == nil {
		t.Fatal("no go line in go.mod")
	}
	if len(builder) != 3 || builder[0] != "golang:"+string(goVersion[1]) || !strings.EqualFold(builder[1], "AS") {
		t.Errorf("builder stage %q, want golang:%s AS <name> (go.mod says go %s)", expand(froms[0].args), goVersion[1], goVersion[1])
	}
	stage := builder[len(builder)-1]
	runtime := expand(froms[1].args)
	if !strings.HasPrefix(runtime, "gcr.io/distroless/static") && runtime != "scratch" {
		t.Errorf("runtime stage %q, want gcr.io/distroless/static… (CA certificates, no libc) or scratch", runtime)
	}

	var seeded, downloaded, built bool
	var out string
	var copied []string
	var user string
	var exposed []string
	for _, in := range ins {
		inBuilder := in.line < froms[1].line
		switch {
		case in.cmd == "RUN" && inBuilder:
			if strings.Contains(in.args, "scripts/seed-modules.sh") {
				seeded = true
			}
			if strings.Contains(in.args, "go mod download") {
				if !seeded {
					t.Errorf("line %d: go mod download before scripts/seed-modules.sh: the proxy refuses go-marathon's .info", in.line)
				}
				downloaded = true
			}
			if !strings.Contains(in.args, "go build") {
				continue
			}
			built = true
			if !strings.Contains(in.args, "CGO_ENABLED=0") {
				t.Errorf("line %d: go build without CGO_ENABLED=0", in.line)
			}
			for _, c := range commands {
				if !strings.Contains(in.args, " ./cmd/"+c) {
					t.Errorf("line %d: go build does not build ./cmd/%s", in.line, c)
				}
			}
			if m := regexp.MustCompile(`-o (\S+)/`).FindStringSubmatch(in.args); m != nil {
				out = m[1]
			}
			checkVersionVariable(t, in)
		case in.cmd == "COPY" && inBuilder:
			fields := strings.Fields(in.args)
			for _, src := range fields[:len(fields)-1] {
				if strings.HasPrefix(src, "--") || src == "." {
					continue
				}
				if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
					t.Errorf("line %d: COPY %s: %v", in.line, src, err)
				}
			}
		case in.cmd == "COPY":
			fields := strings.Fields(in.args)
			if !slices.Contains(fields, "--from="+stage) {
				t.Errorf("line %d: COPY %s does not copy from the %s stage", in.line, in.args, stage)
				continue
			}
			for _, f := range fields[:len(fields)-1] {
				if !strings.HasPrefix(f, "--") {
					copied = append(copied, f)
				}
			}
		case in.cmd == "USER" && !inBuilder:
			user = in.args
		case in.cmd == "EXPOSE":
			exposed = strings.Fields(in.args)
		}
	}
	if !seeded || !downloaded || !built {
		t.Errorf("builder: seeds %v, downloads %v, builds %v: want all three", seeded, downloaded, built)
	}
	var want []string
	for _, c := range commands {
		want = append(want, out+"/"+c)
	}
	if !slices.Equal(copied, want) {
		t.Errorf("the runtime stage copies %v, want the builder's %v", copied, want)
	}
	if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("USER %q: the image must run as a non-root user", user)
	}
	if !slices.Equal(exposed, []string{"9101", "9102", "9103"}) {
		t.Errorf("EXPOSE %v, want the daemons' default ports 9101 9102 9103", exposed)
	}
	for _, flagDefault := range []struct{ file, flag, port string }{
		{"cmd/autoscaler/config.go", `"listen", ":9101"`, "9101"},
		{"cmd/hibernator/config.go", `"listen", ":9102"`, "9102"},
		{"cmd/hibernator/config.go", `"activator-listen", ":9103"`, "9103"},
	} {
		src, err := os.ReadFile(filepath.Join(repoRoot, flagDefault.file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(src, []byte(flagDefault.flag)) {
			t.Errorf("%s no longer defaults %s: update EXPOSE, the units and docs/operations.md", flagDefault.file, flagDefault.flag)
		}
	}
}

// checkVersionVariable: a -X in the build sets a package variable that exists, or --version would
// silently print "devel".
func checkVersionVariable(t *testing.T, in instruction) {
	t.Helper()
	for _, m := range regexp.MustCompile(`-X ([\w./-]+)\.(\w+)=`).FindAllStringSubmatch(in.args, -1) {
		dir, ok := strings.CutPrefix(m[1], "github.com/marmot-project/marmot/")
		if !ok {
			t.Errorf("line %d: -X %s.%s is not a package of this module", in.line, m[1], m[2])
			continue
		}
		files, _ := filepath.Glob(filepath.Join(repoRoot, dir, "*.go"))
		found := false
		decl := regexp.MustCompile(`(?m)^\s*(var\s+)?` + m[2] + `\s+string\b`)
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err == nil && !strings.HasSuffix(f, "_test.go") && decl.Match(src) {
				found = true
			}
		}
		if !found {
			t.Errorf("line %d: -X %s.%s: no string variable %s in %s", in.line, m[1], m[2], m[2], dir)
		}
	}
}

// .dockerignore keeps out of the build context nothing the build needs: go.mod, go.sum, the seed
// script, and every source and embedded file of the packages the three commands import.
func TestDockerignoreKeepsWhatTheBuildNeeds(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []*regexp.Regexp
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Fatalf("%q: exceptions are not supported by this test; keep .dockerignore to plain exclusions", line)
		}
		patterns = append(patterns, globRegexp(strings.Trim(filepath.ToSlash(filepath.Clean(line)), "/")))
	}
	ignored := func(path string) bool {
		// A pattern excludes a path when it matches the path or one of its parent directories.
		for p := path; p != "." && p != "/"; p = filepath.Dir(p) {
			for _, re := range patterns {
				if re.MatchString(filepath.ToSlash(p)) {
					return true
				}
			}
		}
		return false
	}
	needed := []string{"go.mod", "go.sum", "scripts/seed-modules.sh"}
	cmd := exec.Command("go", "list", "-deps", "-json=Dir,Module,GoFiles,EmbedFiles", "./cmd/...")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			Dir                 string
			Module              *struct{ Main bool }
			GoFiles, EmbedFiles []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			needed = append(needed, filepath.Join(rel, f))
		}
	}
	if len(needed) < 20 {
		t.Fatalf("only %d files found to check: go list's output changed?", len(needed))
	}
	for _, f := range needed {
		if ignored(f) {
			t.Errorf(".dockerignore excludes %s, which the image build needs", f)
		}
	}
	for _, f := range []string{".git", "hibernator.test", "bin/autoscaler", "artifacts/x"} {
		if !ignored(f) {
			t.Errorf(".dockerignore sends %s to the build context", f)
		}
	}
}

// globRegexp turns a .dockerignore pattern (Go filepath.Match syntax plus **) into an anchored regexp.
func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// unit is a systemd unit file: its keys by section, continuation lines joined, in order.
type unit map[string][][2]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";")) {
			continue
		}
		if cur.Len() == 0 && strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		k, v, _ := strings.Cut(cur.String(), "=")
		u[section] = append(u[section], [2]string{k, strings.Join(strings.Fields(v), " ")})
		cur.Reset()
	}
	return u
}

// get is the last value of key in section ("" when unset).
func (u unit) get(section, key string) string {
	v := ""
	for _, kv := range u[section] {
		if kv[0] == key {
			v = kv[1]
		}
	}
	return v
}

// envFile reads KEY=VALUE lines.
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("%s: %q is not KEY=VALUE", path, line)
		}
		env[k] = v
	}
	return env
}

// Each unit runs its binary with flags the binary has, every variable it uses is in the example
// environment file, it is hardened and restarted, and systemd-analyze verify accepts it.
func TestSystemdUnits(t *testing.T) {
	dir := binaries(t)
	for _, c := range []string{"autoscaler", "hibernator"} {
		t.Run(c, func(t *testing.T) {
			path := filepath.Join("systemd", "marmot-"+c+".service")
			u := parseUnit(t, path)
			exe := "/usr/local/bin/marmot-" + c
			start := strings.Fields(u.get("Service", "ExecStart"))
			if len(start) == 0 || start[0] != exe {
				t.Fatalf("ExecStart %q, want %s …", u.get("Service", "ExecStart"), exe)
			}
			var help bytes.Buffer
			cmd := exec.Command(filepath.Join(dir, c), "--help")
			cmd.Stderr, cmd.Stdout = &help, &help
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s --help: %v\n%s", c, err, help.String())
			}
			// Every flag in the unit, those in the comments included, is one the binary lists
			// (systemctl's own flags in the install notes aside).
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ours := regexp.MustCompile(`(?m)^.*systemctl .*$`).ReplaceAllString(string(text), "")
			for _, f := range regexp.MustCompile(`(?:^|\s)(--[a-z][a-z-]*)`).FindAllStringSubmatch(ours, -1) {
				if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(f[1]) + `(\s|$)`).MatchString(help.String()) {
					t.Errorf("%s mentions %s, which %s --help does not list", path, f[1], c)
				}
			}
			envPath := filepath.Join("systemd", "marmot-"+c+".env")
			if got, want := u.get("Service", "EnvironmentFile"), "/etc/marmot/"+c+".env"; got != want {
				t.Errorf("EnvironmentFile %q, want %q (the example is %s)", got, want, envPath)
			}
			env := envFile(t, envPath)
			for _, m := range regexp.MustCompile(`\$\{?(\w+)\}?`).FindAllStringSubmatch(u.get("Service", "ExecStart"), -1) {
				if _, ok := env[m[1]]; !ok {
					t.Errorf("ExecStart uses $%s, which %s does not set", m[1], envPath)
				}
			}
			for k, v := range env {
				if regexp.MustCompile(`(?i)password|secret|token|_KEY\b`).MatchString(k) {
					t.Errorf("%s sets %s=%s: secrets go in LoadCredential= files, not the environment file", envPath, k, v)
				}
			}
			want := map[string]string{
				"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
				"PrivateDevices": "yes", "Restart": "always", "CapabilityBoundingSet": "", "ExecReload": "/bin/kill -HUP $MAINPID",
			}
			for k, v := range want {
				if got := u.get("Service", k); got != v {
					t.Errorf("%s=%q, want %q", k, got, v)
				}
			}
			if u.get("Service", "DynamicUser") != "yes" && u.get("Service", "User") == "" {
				t.Error("runs as root: set DynamicUser=yes or User=")
			}
			if d, err := time.ParseDuration(u.get("Service", "TimeoutStopSec")); c == "hibernator" && (err != nil || d <= 30*time.Second) {
				t.Errorf("TimeoutStopSec=%s: the hibernator answers held requests for up to --drain-timeout (30s) after SIGTERM", u.get("Service", "TimeoutStopSec"))
			}
			verifyUnit(t, path, filepath.Join(dir, c), envPath)
		})
	}
}

// verifyUnit runs systemd-analyze verify on a copy of the unit whose binary and environment file
// point at the ones built and checked in (verify insists the executable exists).
func verifyUnit(t *testing.T, path, binary, envPath string) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed (Debian package systemd): unit not verified")
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	absEnv, err := filepath.Abs(envPath)
	if err != nil {
		t.Fatal(err)
	}
	s := regexp.MustCompile(`(?m)^ExecStart=\S+`).ReplaceAllString(string(data), "ExecStart="+binary)
	s = regexp.MustCompile(`(?m)^EnvironmentFile=\S+`).ReplaceAllString(s, "EnvironmentFile="+absEnv)
	tmp := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(sa, "verify", tmp)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if msg := strings.TrimSpace(out.String()); err != nil || msg != "" {
		if strings.Contains(msg, "Failed to connect to bus") || strings.Contains(msg, "System has not been booted with systemd") {
			t.Skipf("systemd-analyze verify cannot run in this container: %s", msg)
		}
		t.Errorf("systemd-analyze verify %s: %v\n%s", path, err, msg)
	}
}

// The -ldflags of the Dockerfile's build stamp the version that --version prints.
func TestDockerfileStampsVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary; skipped with -short")
	}
	var ldflags string
	for _, in := range parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile")) {
		if m := regexp.MustCompile(`-ldflags "([^"]+)"`).FindStringSubmatch(in.args); in.cmd == "RUN" && m != nil {
			ldflags = m[1]
		}
	}
	if ldflags == "" {
		t.Fatal("no go build -ldflags in the Dockerfile")
	}
	const v = "9.8.7-packaging-test"
	bin := filepath.Join(t.TempDir(), "autoscaler")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", strings.ReplaceAll(ldflags, "${VERSION}", v), "-o", bin, "./cmd/autoscaler")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), v) {
		t.Errorf("autoscaler --version: %v, %q; want it to print %s", err, out, v)
	}
}
