package marathon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// We read Marathon's event stream ourselves rather than through go-marathon: its SSE listener drops
// every event type it does not know (instance_changed_event among them), delivers events out of order,
// and never tells the application that the stream broke and events were missed (go-marathon #336).

// EventResync is a synthetic event delivered after every (re)connection: events may have been missed,
// so the consumer must re-read the state it caches.
const EventResync = "resync"

// Event is one event of Marathon's event bus, with the fields Marmot reacts to.
type Event struct {
	Type         string // Marathon's eventType (status_update_event, deployment_success, ...) or EventResync
	AppID        string
	TaskID       string
	TaskStatus   string
	DeploymentID string
	AffectedApps []string
	Time         time.Time
	Raw          json.RawMessage
}

// WatchOptions tune Watch.
type WatchOptions struct {
	// Types filters server-side (Marathon 1.3.7+ event_type); empty means every event.
	Types []string
	// Idle is how long a silent stream is trusted; Marathon sends a heartbeat every 10 s (default 35 s).
	Idle time.Duration
	// MaxBackoff caps the wait between reconnections (default 10 s).
	MaxBackoff time.Duration
}

// Watch follows the event stream until ctx ends, calling fn for each event in the order received.
// It reconnects on its own (trying every configured URL, with jittered backoff) and calls fn with an
// EventResync event after each connection. It blocks; fn must not block for long. It returns nil when
// ctx ends.
func (c *Client) Watch(ctx context.Context, opts WatchOptions, fn func(Event)) error {
	if opts.Idle <= 0 {
		opts.Idle = 35 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		base := c.cfg.URLs[attempt%len(c.cfg.URLs)]
		connected, err := c.stream(ctx, base, opts, fn)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			backoff = 100 * time.Millisecond
		}
		c.log.Info("marathon event stream ended, reconnecting", zap.String("url", base), zap.Error(err))
		wait := backoff/2 + time.Duration(rand.Int63n(int64(backoff)))
		if backoff *= 2; backoff > opts.MaxBackoff {
			backoff = opts.MaxBackoff
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// stream runs one connection; connected reports whether it got as far as an open stream.
func (c *Client) stream(ctx context.Context, base string, opts WatchOptions, fn func(Event)) (connected bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	u := base + "/v2/events"
	if len(opts.Types) > 0 {
		q := url.Values{}
		for _, t := range opts.Types {
			q.Add("event_type", t)
		}
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	// Marathon (Jetty) compares Accept with equals: it must be exactly text/event-stream.
	req.Header.Set("Accept", "text/event-stream")
	c.authorize(req)
	client := &http.Client{Transport: c.base} // no Timeout: the stream is long-lived; Idle guards it
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	fn(Event{Type: EventResync})
	idle := time.AfterFunc(opts.Idle, cancel)
	defer idle.Stop()
	err = ReadEvents(resp.Body, func(e Event) {
		idle.Reset(opts.Idle)
		fn(e)
	}, func() { idle.Reset(opts.Idle) })
	return true, err
}

// ReadEvents parses a Server-Sent Events body: "event:" and "data:" lines, a blank line ends an
// event; CRLF, LF and CR line ends are all accepted, and comment or heartbeat lines are skipped.
// alive is called for every line (heartbeats included). It returns at EOF or on a read error.
func ReadEvents(r io.Reader, fn func(Event), alive func()) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	sc.Split(scanLines)
	var typ string
	var data strings.Builder
	for sc.Scan() {
		if alive != nil {
			alive()
		}
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() > 0 {
				fn(decodeEvent(typ, []byte(data.String())))
			}
			typ = ""
			data.Reset()
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			typ = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(line[len("data:"):], " "))
		}
	}
	return sc.Err()
}

// scanLines splits on \r\n, \n or a lone \r (the SSE spec allows all three; Marathon uses \r\n and
// sends its heartbeat as "\r" and "\n" flushed separately).
func scanLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for i, b := range data {
		switch b {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil // need the next byte to know whether \n follows
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

type rawEvent struct {
	EventType  string `json:"eventType"`
	Timestamp  string `json:"timestamp"`
	AppID      string `json:"appId"`
	RunSpecID  string `json:"runSpecId"`
	TaskID     string `json:"taskId"`
	InstanceID string `json:"instanceId"`
	TaskStatus string `json:"taskStatus"`
	ID         string `json:"id"`
	Plan       *struct {
		ID           string    `json:"id"`
		Original     planGroup `json:"original"`
		Target       planGroup `json:"target"`
		AffectedApps []string  `json:"affectedApps"`
	} `json:"plan"`
}

// planGroup is a group of a deployment plan. Marathon nests apps in their groups (/web/frontend sits
// in the /web group under the root), so the apps are collected recursively.
type planGroup struct {
	Apps []struct {
		ID string `json:"id"`
	} `json:"apps"`
	Groups []planGroup `json:"groups"`
}

func (g planGroup) appIDs(out []string) []string {
	for _, a := range g.Apps {
		out = appendUnique(out, a.ID)
	}
	for _, sub := range g.Groups {
		out = sub.appIDs(out)
	}
	return out
}

func decodeEvent(typ string, data []byte) Event {
	e := Event{Type: typ, Raw: append(json.RawMessage(nil), data...)}
	var r rawEvent
	if err := json.Unmarshal(data, &r); err != nil {
		return e
	}
	if e.Type == "" {
		e.Type = r.EventType
	}
	e.AppID = r.AppID
	if e.AppID == "" {
		e.AppID = r.RunSpecID
	}
	e.TaskID = r.TaskID
	if e.TaskID == "" {
		e.TaskID = r.InstanceID
	}
	e.TaskStatus = r.TaskStatus
	e.Time = parseTime(r.Timestamp)
	e.DeploymentID = r.ID
	if r.Plan != nil {
		e.DeploymentID = r.Plan.ID
		e.AffectedApps = append(e.AffectedApps, r.Plan.AffectedApps...)
		e.AffectedApps = r.Plan.Target.appIDs(e.AffectedApps)
		e.AffectedApps = r.Plan.Original.appIDs(e.AffectedApps)
	}
	return e
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
