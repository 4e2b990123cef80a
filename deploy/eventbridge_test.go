package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The EventBridge rule forwards exactly the events the autoscaler reads: every one of AWS's published
// examples that cloud/aws reads as a notice (its testdata) matches the pattern, and the queue policy
// names the queue the IAM policy lets the autoscaler read.
func TestEventBridgeRuleForwardsTheNotices(t *testing.T) {
	var pattern struct {
		Source     []string `json:"source"`
		DetailType []string `json:"detail-type"`
	}
	readJSON(t, filepath.Join("eventbridge", "marmot-notices-rule.json"), &pattern)
	examples, err := filepath.Glob(filepath.Join(repoRoot, "cloud", "aws", "testdata", "eventbridge", "*.json"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no EventBridge examples in cloud/aws/testdata: %v", err)
	}
	for _, path := range examples {
		var ev struct {
			Source     string `json:"source"`
			DetailType string `json:"detail-type"`
			Type       string // "Notification": an SNS envelope around an event, not an event
		}
		readJSON(t, path, &ev)
		if ev.Type == "Notification" {
			continue
		}
		if !slices.Contains(pattern.Source, ev.Source) || !slices.Contains(pattern.DetailType, ev.DetailType) {
			t.Errorf("%s (%s from %s) does not match the rule %+v", filepath.Base(path), ev.DetailType, ev.Source, pattern)
		}
	}
	var queue struct {
		Statement []struct{ Resource string }
	}
	readJSON(t, filepath.Join("eventbridge", "marmot-notices-queue-policy.json"), &queue)
	var iam struct {
		Statement []struct {
			Action   []string
			Resource any
		}
	}
	readJSON(t, "autoscaler-iam-policy.json", &iam)
	var readable string
	for _, s := range iam.Statement {
		if r, ok := s.Resource.(string); ok && slices.Contains(s.Action, "sqs:ReceiveMessage") {
			readable = r
		}
	}
	if len(queue.Statement) != 1 || readable == "" || lastColon(queue.Statement[0].Resource) != lastColon(readable) {
		t.Errorf("the queue policy's queue %+v is not the one the IAM policy lets the autoscaler read (%q)", queue.Statement, readable)
	}
}

func lastColon(arn string) string {
	for i := len(arn) - 1; i >= 0; i-- {
		if arn[i] == ':' {
			return arn[i+1:]
		}
	}
	return arn
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
