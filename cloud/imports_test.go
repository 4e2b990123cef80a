package cloud_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportBoundaries keeps DESIGN.md's package table true: cloud and cloud/cloudtest use the
// standard library (and cloud), cloud/aws only cloud and the AWS SDK. Tests may import more.
func TestImportBoundaries(t *testing.T) {
	const module = "github.com/marmot-project/marmot/"
	allowed := map[string]func(path string) bool{
		".":         stdlib,
		"cloudtest": func(p string) bool { return stdlib(p) || p == module+"cloud" },
		"aws": func(p string) bool {
			return stdlib(p) || p == module+"cloud" || strings.HasPrefix(p, "github.com/aws/")
		},
	}
	for dir, ok := range allowed {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !ok(path) {
					t.Errorf("%s imports %s", file, path)
				}
			}
		}
	}
}

// stdlib tells standard library paths by their first element, which has no dot.
func stdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
