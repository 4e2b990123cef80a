package serve_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/serve"
)

// The notice queue's URL is on the AWS endpoint, and the endpoint's GetQueueUrl gives the same one.
func TestStartServesTheNoticeQueue(t *testing.T) {
	sc, err := simulate.LoadScenario("small")
	if err != nil {
		t.Fatal(err)
	}
	w, err := simulate.New(sc, simulate.NewVirtualClock(sc.StartTime()), simulate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := serve.Start(t.Context(), w, serve.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if want := c.AWSURL + "/123456789012/" + simulate.NoticeQueueName; c.NoticeQueueURL != want {
		t.Fatalf("NoticeQueueURL %q, want %q", c.NoticeQueueURL, want)
	}
	req, err := http.NewRequest(http.MethodPost, c.AWSURL, strings.NewReader(`{"QueueName":"`+simulate.NoticeQueueName+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS.GetQueueUrl")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ QueueUrl string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.QueueUrl != c.NoticeQueueURL {
		t.Errorf("GetQueueUrl: %q (%v), want %q", out.QueueUrl, err, c.NoticeQueueURL)
	}
}
