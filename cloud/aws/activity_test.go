package awscloud

import (
	"strings"
	"testing"

	"github.com/marmot-project/marmot/cloud"
)

var descriptions = []struct {
	desc string
	kind cloud.ActivityKind
	id   string
}{
	{"Launching a new EC2 instance: i-0123456789abcdef0", cloud.ActivityLaunch, "i-0123456789abcdef0"},
	{"Launching a new EC2 instance.  Status Reason: The image id 'ami-xxxxxxxx' does not exist. Launching EC2 instance failed.", cloud.ActivityLaunch, ""},
	{"Launching a new EC2 instance: i-0abc.  Status Reason: Instance became unhealthy while waiting for instance to be in InService state.", cloud.ActivityLaunch, "i-0abc"},
	{"Terminating EC2 instance: i-1234567890abcdef0", cloud.ActivityTerminate, "i-1234567890abcdef0"},
	{"Terminating EC2 instance: i-1234567890abcdef0 - Waiting For ELB connection draining", cloud.ActivityTerminate, "i-1234567890abcdef0"},
	{"Terminating EC2 instance: sir-7a688402", cloud.ActivityTerminate, ""},
	{"Terminating EC2 instance: i-", cloud.ActivityTerminate, ""},
	{"Updating load balancers/target groups: Successful. Status Reason: Added: arn:…", cloud.ActivityOther, ""},
	{"", cloud.ActivityOther, ""},
}

func TestParseDescription(t *testing.T) {
	for _, d := range descriptions {
		kind, id := parseDescription(d.desc)
		if kind != d.kind || id != d.id {
			t.Errorf("parseDescription(%q) = %s %q, want %s %q", d.desc, kind, id, d.kind, d.id)
		}
	}
}

// FuzzParseDescription: whatever Auto Scaling writes, the parse does not panic, tells launches and
// terminations by their prefix, and returns either no id or an "i-" id that the text names right
// after the ": ".
func FuzzParseDescription(f *testing.F) {
	for _, d := range descriptions {
		f.Add(d.desc)
	}
	f.Fuzz(func(t *testing.T, desc string) {
		kind, id := parseDescription(desc)
		switch {
		case strings.HasPrefix(desc, launchPrefix):
			if kind != cloud.ActivityLaunch {
				t.Fatalf("%q: kind %s", desc, kind)
			}
		case strings.HasPrefix(desc, terminatePrefix):
			if kind != cloud.ActivityTerminate {
				t.Fatalf("%q: kind %s", desc, kind)
			}
		default:
			if kind != cloud.ActivityOther || id != "" {
				t.Fatalf("%q: %s %q", desc, kind, id)
			}
		}
		if id == "" {
			return
		}
		if len(id) < 3 || !strings.HasPrefix(id, "i-") || strings.Trim(id[2:], "0123456789abcdef") != "" {
			t.Fatalf("%q: id %q is not an instance id", desc, id)
		}
		if !strings.Contains(desc, ": "+id) {
			t.Fatalf("%q: id %q is not named after \": \"", desc, id)
		}
	})
}
