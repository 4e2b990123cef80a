package policy

import (
	"go/build"
	"strings"
	"testing"
)

// TestImportsOnlyStdlibAndYAML keeps the planners pure: package policy imports the standard library
// and the YAML decoder, nothing of Marmot's and no client library. Test files are not checked.
func TestImportsOnlyStdlibAndYAML(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("no imports found: the check would pass vacuously")
	}
	for _, path := range pkg.Imports {
		first, _, _ := strings.Cut(path, "/")
		stdlib := !strings.Contains(first, ".")
		if !stdlib && path != "gopkg.in/yaml.v3" {
			t.Errorf("policy imports %s: only the standard library and gopkg.in/yaml.v3 are allowed", path)
		}
	}
}
