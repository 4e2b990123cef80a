package marathon

import (
	"os"
	"strings"
	"testing"
)

func collect(t *testing.T, body string) []Event {
	t.Helper()
	var got []Event
	if err := ReadEvents(strings.NewReader(body), func(e Event) { got = append(got, e) }, nil); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestReadEventsUpstreamExample(t *testing.T) {
	data, err := os.ReadFile("../../shared/fixtures/marathon/events/sse-stream.rest-api-example.txt")
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, string(data))
	if len(got) < 3 {
		t.Fatalf("want at least 3 events, got %d", len(got))
	}
	if got[0].Type != "event_stream_attached" {
		t.Fatalf("first event %q", got[0].Type)
	}
	su := got[1]
	if su.Type != "status_update_event" || su.AppID != "/foo" || su.TaskStatus != "TASK_FAILED" ||
		su.TaskID != "foo.0664256e-6771-11e5-94e1-be5b2935a987" || su.Time.IsZero() {
		t.Fatalf("status update decoded as %+v", su)
	}
}

func TestReadEventsFramingVariants(t *testing.T) {
	// Marathon frames with CRLF and sends heartbeats as a lone "\r" then "\n"; other servers use LF or CR.
	for name, body := range map[string]string{
		"crlf":      "event: deployment_success\r\ndata: {\"id\":\"d1\",\"plan\":{\"id\":\"d1\",\"target\":{\"apps\":[{\"id\":\"/a\"}]}}}\r\n\r\n",
		"lf":        "event: deployment_success\ndata: {\"id\":\"d1\",\"plan\":{\"id\":\"d1\",\"target\":{\"apps\":[{\"id\":\"/a\"}]}}}\n\n",
		"cr":        "event: deployment_success\rdata: {\"id\":\"d1\",\"plan\":{\"id\":\"d1\",\"target\":{\"apps\":[{\"id\":\"/a\"}]}}}\r\r",
		"heartbeat": "\r\n\r\nevent: deployment_success\r\ndata: {\"id\":\"d1\",\"plan\":{\"id\":\"d1\",\"target\":{\"apps\":[{\"id\":\"/a\"}]}}}\r\n\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			got := collect(t, body)
			if len(got) != 1 || got[0].Type != "deployment_success" || got[0].DeploymentID != "d1" || len(got[0].AffectedApps) != 1 || got[0].AffectedApps[0] != "/a" {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestReadEventsFindsAppsInNestedGroups(t *testing.T) {
	got := collect(t, "event: deployment_success\r\ndata: {\"id\":\"d2\",\"plan\":{\"id\":\"d2\",\"target\":{\"id\":\"/\",\"apps\":[],\"groups\":[{\"id\":\"/web\",\"apps\":[{\"id\":\"/web/frontend\"}],\"groups\":[{\"id\":\"/web/x\",\"apps\":[{\"id\":\"/web/x/y\"}]}]}]}}}\r\n\r\n")
	if len(got) != 1 || len(got[0].AffectedApps) != 2 || got[0].AffectedApps[0] != "/web/frontend" || got[0].AffectedApps[1] != "/web/x/y" {
		t.Fatalf("got %+v", got)
	}
}

func TestReadEventsKeepsUnknownTypes(t *testing.T) {
	// go-marathon silently drops instance_changed_event; we must not.
	got := collect(t, "event: instance_changed_event\r\ndata: {\"instanceId\":\"a.instance-1\",\"runSpecId\":\"/a\",\"condition\":\"Running\"}\r\n\r\n")
	if len(got) != 1 || got[0].AppID != "/a" || got[0].TaskID != "a.instance-1" {
		t.Fatalf("got %+v", got)
	}
}

func FuzzReadEvents(f *testing.F) {
	if data, err := os.ReadFile("../../shared/fixtures/marathon/events/sse-stream.rest-api-example.txt"); err == nil {
		f.Add(string(data))
	}
	f.Add("event: x\r\ndata: {\r\n\r\n")
	f.Add("data: {\"eventType\":\"app_terminated_event\",\"appId\":\"/x\"}\n\n")
	f.Add("\r")
	f.Fuzz(func(t *testing.T, body string) {
		_ = ReadEvents(strings.NewReader(body), func(Event) {}, func() {})
	})
}
