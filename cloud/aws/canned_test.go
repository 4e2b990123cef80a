package awscloud

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// A canned AWS: an httptest server that answers each Query action with XML a test chooses (often a
// real AWS sample from ../shared/fixtures/aws) and records the forms it was sent.

// fixtures is the shared fixture folder, as seen from this package's directory.
const fixtures = "../../../shared/fixtures/aws"

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// reply is a canned answer.
type reply struct {
	status int
	body   string
}

func ok(body string) reply { return reply{http.StatusOK, body} }

type canned struct {
	t      *testing.T
	mu     sync.Mutex
	answer func(action string, form url.Values) reply
	forms  []url.Values
	server *httptest.Server
}

func newCanned(t *testing.T, answer func(action string, form url.Values) reply) *canned {
	t.Helper()
	c := &canned{t: t, answer: answer}
	c.server = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.server.Close)
	return c
}

func (c *canned) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.forms = append(c.forms, r.PostForm)
	c.mu.Unlock()
	rep := c.answer(r.PostForm.Get("Action"), r.PostForm)
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(rep.status)
	_, _ = w.Write([]byte(rep.body))
}

// sent returns the forms of the requests for action, in order.
func (c *canned) sent(action string) []url.Values {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []url.Values
	for _, f := range c.forms {
		if f.Get("Action") == action {
			out = append(out, f)
		}
	}
	return out
}

// provider returns a Provider pointed at the canned server; without opts, retries are immediate.
func (c *canned) provider(opts ...Option) *Provider {
	return testProvider(c.server, opts...)
}

// testProvider builds a Provider the way production does (NewFromConfig), on a bare config with
// static credentials so that nothing from the machine's environment leaks in.
func testProvider(s *httptest.Server, opts ...Option) *Provider {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:  s.Client(),
	}
	opts = append([]Option{WithEndpoint(s.URL), WithRetry(3, 0)}, opts...)
	return NewFromConfig(cfg, opts...)
}

var bg = context.Background()
