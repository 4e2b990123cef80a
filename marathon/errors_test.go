package marathon

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	gomarathon "github.com/gambol99/go-marathon"
)

func TestClassify(t *testing.T) {
	locked := gomarathon.NewAPIError(409, []byte(`{"message":"App is locked by one or more deployments.","deployments":[{"id":"d-1"},{"id":"d-2"}]}`))
	err := classify(locked)
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || len(le.Deployments) != 2 || le.Deployments[1] != "d-2" {
		t.Fatalf("409 with deployments → %v", err)
	}
	for _, c := range []struct {
		status int
		body   string
		want   error
	}{
		{404, `{"message":"App '/x' does not exist"}`, ErrNotFound},
		{409, `{"message":"An app with id [/x] already exists."}`, ErrConflict},
		{422, `{"message":"Object is not valid","details":[{"path":"/id","errors":["bad"]}]}`, ErrInvalid},
		{400, `{"message":"Invalid JSON"}`, ErrInvalid},
		{401, `{"message":"no"}`, ErrUnauthorized},
		{sentinelStatus, `{"message":"` + sentinelPrefix + `status 503: busy"}`, ErrUnavailable},
	} {
		if got := classify(gomarathon.NewAPIError(c.status, []byte(c.body))); !errors.Is(got, c.want) {
			t.Errorf("%d %s → %v, want %v", c.status, c.body, got, c.want)
		}
	}
	if got := classify(gomarathon.ErrMarathonDown); !errors.Is(got, ErrUnavailable) {
		t.Errorf("ErrMarathonDown → %v", got)
	}
}

func TestSentinelKeepsStatusAndCause(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://x/v2/apps", nil)
	resp := sentinel(req, 503, "Could not determine the current leader\nretry")
	if resp.StatusCode != sentinelStatus || resp.Header.Get(sentinelCodeHeader) != "503" {
		t.Fatalf("sentinel %+v", resp)
	}
}

func TestConfigValidateListsEveryProblem(t *testing.T) {
	err := Config{URLs: []string{"ftp://x", "::"}, Timeout: -1, Token: "t", BasicAuthUser: "u"}.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"urls[0]", "urls[1]", "timeout", "auth"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
