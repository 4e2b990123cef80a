package daemon

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time: go build -ldflags "-X github.com/marmot-project/marmot/internal/daemon.version=1.2.3".
// When empty, the module version and the VCS revision recorded in the build are used.
var version string

// Version is this build's version: the -ldflags -X value when set, else the main module's version
// from the build info (a tag for "go install ...@v1.2.3"), with the VCS revision and a "-dirty" mark
// when the tree had changes, else "devel".
func Version() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	if rev != "" && v == "devel" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += "+" + rev + modified
	}
	return v
}

// VersionLine is what --version prints: "<name> <version> (<go version> <os>/<arch>)".
func VersionLine(name string) string {
	return fmt.Sprintf("%s %s (%s %s/%s)", name, Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
