package awscloud

import (
	"strings"

	"github.com/marmot-project/marmot/cloud"
)

// Auto Scaling names an activity's instance only in its free-text Description (wire-facts.md §5.2):
//
//	Launching a new EC2 instance: i-0123456789abcdef0
//	Launching a new EC2 instance.  Status Reason: We currently do not have sufficient … capacity …
//	Terminating EC2 instance: i-0123456789abcdef0
//
// A failed launch has no instance. Anything else (a warm pool, an instance refresh) is "other".
const (
	launchPrefix    = "Launching a new EC2 instance"
	terminatePrefix = "Terminating EC2 instance"
)

// parseDescription returns what an activity does and the instance it names, if any.
func parseDescription(desc string) (cloud.ActivityKind, string) {
	kind, rest := cloud.ActivityOther, ""
	switch {
	case strings.HasPrefix(desc, launchPrefix):
		kind, rest = cloud.ActivityLaunch, desc[len(launchPrefix):]
	case strings.HasPrefix(desc, terminatePrefix):
		kind, rest = cloud.ActivityTerminate, desc[len(terminatePrefix):]
	default:
		return kind, ""
	}
	rest, ok := strings.CutPrefix(rest, ": ")
	if !ok {
		return kind, ""
	}
	return kind, instanceIDPrefix(rest)
}

// instanceIDPrefix returns the instance id s starts with ("i-" and hex digits), or "".
func instanceIDPrefix(s string) string {
	if !strings.HasPrefix(s, "i-") {
		return ""
	}
	n := len("i-")
	for n < len(s) && isHex(s[n]) {
		n++
	}
	if n == len("i-") {
		return ""
	}
	return s[:n]
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }
