package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/marmot-project/marmot/election"
)

// EnvZKAuth is the environment variable that may hold the ZooKeeper digest credentials
// (user:password) instead of --zk-auth-file.
const EnvZKAuth = "MARMOT_ZK_AUTH"

// HAFlags are the leader-election flags (docs/ha.md). Without --zk the daemon runs as a single
// replica that always leads.
type HAFlags struct {
	ZK             string
	AuthFile       string
	SessionTimeout time.Duration
}

// Register adds --zk, --zk-auth-file and --zk-session-timeout to fs; component names the default path.
func (h *HAFlags) Register(fs *flag.FlagSet, component string) {
	fs.StringVar(&h.ZK, "zk", "", "ZooKeeper `URL` of the leader election, e.g. zk://zk1:2181,zk2:2181/marmot/"+component+
		"/leader; replicas with the same URL elect one leader that runs the control loop (docs/ha.md); without it this replica always leads")
	fs.StringVar(&h.AuthFile, "zk-auth-file", "", "`file` holding user:password for ZooKeeper digest authentication (or $"+EnvZKAuth+")")
	fs.DurationVar(&h.SessionTimeout, "zk-session-timeout", 10*time.Second, "ZooKeeper session timeout: a crashed leader is replaced this long after its last contact (keep it at or below 12s)")
}

// Config checks the flags and returns the election's configuration, nil without --zk. The ID and
// observability fields are filled in by NewElector.
func (h *HAFlags) Config(p *Problems) *election.Config {
	if h.ZK == "" {
		if h.AuthFile != "" {
			p.Add("--zk-auth-file: needs --zk")
		}
		return nil
	}
	cfg, err := election.ParseURL(h.ZK)
	if err != nil {
		p.AddLines("--zk: ", redactErr(err, cfg.Auth))
		return nil
	}
	auth, err := Secret(h.AuthFile, EnvZKAuth)
	if err != nil {
		p.Add("--zk-auth-file: %v", err)
	} else if auth != "" {
		cfg.Auth = auth
	}
	if cfg.Auth != "" && !strings.Contains(cfg.Auth, ":") {
		p.Add("--zk-auth-file: the credentials must be user:password")
	}
	cfg.SessionTimeout = h.SessionTimeout
	var list election.Errors
	if err := cfg.Validate(); errors.As(err, &list) {
		for _, fe := range list {
			switch fe.Field {
			case "session_timeout", "lease":
				p.Add("--zk-session-timeout: %s", fe.Message)
			case "auth":
				p.Add("--zk-auth-file: %s", fe.Message)
			default:
				p.Add("--zk: %s: %s", fe.Field, fe.Message)
			}
		}
	} else if err != nil {
		p.AddLines("--zk: ", redactErr(err, cfg.Auth))
	}
	return &cfg
}

// redactErr keeps a password out of an error message.
func redactErr(err error, auth string) error {
	if _, pw, ok := strings.Cut(auth, ":"); ok && pw != "" && strings.Contains(err.Error(), pw) {
		return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), pw, "xxxxx"))
	}
	return err
}

// NewElector makes the elector for cfg (nil: no election) with this replica's ID from its status
// address ("hostname:port").
func NewElector(cfg *election.Config, component, statusAddr string, log *zap.Logger, reg prometheus.Registerer) (*election.Elector, error) {
	if cfg == nil {
		return nil, nil
	}
	c := *cfg
	id, err := election.DefaultID(statusAddr)
	if err != nil {
		return nil, fmt.Errorf("replica id: %w", err)
	}
	c.ID, c.Logger, c.Metrics = id, log.Named("election"), election.NewMetrics(component, reg)
	return election.New(c)
}

// Lead runs lead while this replica leads: under e's election, with the leader's context, or at once
// with ctx when e is nil (a single replica always leads). It returns when ctx ends, or with lead's
// error when lead stops by itself while leading.
func Lead(ctx context.Context, e *election.Elector, lead func(leaderCtx context.Context) error) error {
	if e == nil {
		return lead(ctx)
	}
	return e.Run(ctx, lead)
}

// Followers wraps a daemon's status handler for leader election. Every replica serves /metrics and
// /status, and /status gains an "election" block. A follower runs no control loop, so its loop's
// health and readiness say nothing: a follower is live, and ready, since it serves status and
// metrics (and the hibernator's activator) and stands ready to take over. A leader answers with its
// loop's /healthz and /readyz. With e nil, h is returned as it is.
func Followers(h http.Handler, e *election.Elector) http.Handler {
	if e == nil {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var doc map[string]json.RawMessage
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &doc) != nil {
			copyResponse(w, rec)
			return
		}
		st, _ := json.Marshal(e.Status())
		doc["election"] = st
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		_ = enc.Encode(doc)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(buf.Bytes())
	})
	for _, path := range []string{"/healthz", "/readyz"} {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			if e.IsLeader() {
				h.ServeHTTP(w, r)
				return
			}
			leader, _ := e.Leader()
			fmt.Fprintf(w, "ok: following %s\n", orNone(leader))
		})
	}
	return mux
}

func orNone(s string) string {
	if s == "" {
		return "(no leader known)"
	}
	return s
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// Secret reads a credential from file (trailing newline dropped) or, without a file, from the
// environment variable env; "" when neither is set.
func Secret(file, env string) (string, error) {
	if file == "" {
		return os.Getenv(env), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return s, nil
}
