package autoscaler

import (
	"go/build"
	"strings"
	"testing"
)

// TestImportsKeepTheLoopApartFromTheClients: the loop reaches Mesos, Marathon and AWS only through
// its own interfaces and cloud.Provider, so that the simulator can run the same code; the clients
// (mesos, marathon, cloud/aws and their libraries) are wired in by cmd/autoscaler. Test files are
// not checked.
func TestImportsKeepTheLoopApartFromTheClients(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/marmot-project/marmot/policy": true,
		"github.com/marmot-project/marmot/cloud":  true,
		"github.com/marmot-project/marmot/cost":   true,
	}
	for _, path := range pkg.Imports {
		first, _, _ := strings.Cut(path, "/")
		switch {
		case !strings.Contains(first, "."): // the standard library
		case allowed[path]:
		case strings.HasPrefix(path, "github.com/prometheus/client_golang/"), path == "go.uber.org/zap":
		default:
			t.Errorf("autoscaler imports %s: only policy, cloud, cost, Prometheus and zap are allowed", path)
		}
	}
}
