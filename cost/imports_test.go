package cost

import (
	"go/build"
	"strings"
	"testing"
)

// TestImportsOnlyStdlib keeps cost where DESIGN.md puts it: the daemons and the simulator import it,
// so it imports nothing but the standard library. Test files are not checked.
func TestImportsOnlyStdlib(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("no imports found: the check would pass vacuously")
	}
	for _, path := range pkg.Imports {
		if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
			t.Errorf("cost imports %s: only the standard library is allowed", path)
		}
	}
}
