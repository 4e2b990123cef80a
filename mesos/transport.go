package mesos

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	mesoslib "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/client"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/framing"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpmaster"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/master/calls"
	frames "github.com/mesos/mesos-go/api/v1/lib/recordio"
	"go.uber.org/zap"
)

// maxErrorBody bounds how much of an error body is kept (the master's texts are one line).
const maxErrorBody = 4 << 10

// statusError is what our httpcli error mapper makes of a response with status ≥ 300. mesos-go's own
// mapper (apierrors) hides the status code and prefixes the master's text with its own, sometimes
// wrong, words (409 becomes "incompatible API version", wire-facts §2); ours keeps both as they were.
type statusError struct {
	status   int
	body     string
	location string // the Location header of a 307
}

func (e *statusError) Error() string { return http.StatusText(e.status) + ": " + e.body }

func mapError(res *http.Response) error {
	if res == nil || res.StatusCode < 300 {
		return nil
	}
	var body []byte
	if res.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
		_ = res.Body.Close()
	}
	return &statusError{status: res.StatusCode, body: strings.TrimSpace(string(body)), location: res.Header.Get("Location")}
}

// noLeaderText is the master's 503 body when no master is elected (wire-facts §1.2).
const noLeaderText = "No leader elected"

// sender returns a mesos-go sender for one master. httpcli.Client must not be reconfigured while in
// use, so each attempt gets its own (it is a small struct over the shared *http.Client).
func (c *Client) sender(base *url.URL) calls.Sender {
	opts := []httpcli.Opt{
		httpcli.Endpoint(base.String() + apiPath),
		// mesos-go's default codec is protobuf (wire-facts §2); Marmot, and its simulator, speak JSON.
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeJSON]),
		httpcli.Do(c.http.Do),
		httpcli.ErrorMapper(mapError),
	}
	if c.auth != "" {
		opts = append(opts, httpcli.DefaultHeader("Authorization", c.auth))
	}
	cli := httpcli.New(opts...)
	cli.With(httpcli.HandleResponse(func(res *http.Response, rc client.ResponseClass, err error) (mesoslib.Response, error) {
		r, err := cli.HandleResponse(res, rc, err)
		// mesos-go frames a stream with a 4 MiB record limit ("max protobuf size"); in JSON the
		// SUBSCRIBED snapshot of a thousand agents is larger, and the stream would fail with
		// "bufio.Scanner: token too long" on every subscription. Streams get a larger limit.
		hr, ok := r.(*httpcli.Response)
		if !ok || err != nil || hr.Decoder == nil {
			return r, err
		}
		if rc == client.ResponseClassStreaming || rc == client.ResponseClassAuto && res.ContentLength < 0 {
			body := res.Body
			hr.Decoder = codecs.ByMediaType[codecs.MediaTypeJSON].NewDecoder(func() framing.Reader {
				return frames.NewReader(body, frames.MaxMessageSize(maxStreamRecord))
			})
		}
		return r, err
	}))
	return httpmaster.NewSender(cli.Send)
}

// maxStreamRecord bounds one record of an event stream: a SUBSCRIBED snapshot of the whole cluster,
// some 5 MB per thousand agents in JSON. mesos-go reserves half of it up front; the pages it never
// writes are never resident.
const maxStreamRecord = 64 << 20

// candidates lists the masters to try: the remembered leader first, then the configured ones in order.
func (c *Client) candidates() []*url.URL {
	c.mu.Lock()
	leader := c.leader
	c.mu.Unlock()
	out := []*url.URL{leader}
	for _, m := range c.masters {
		if m.String() != leader.String() {
			out = append(out, m)
		}
	}
	return out
}

func (c *Client) setLeader(base *url.URL) {
	c.mu.Lock()
	old := c.leader
	c.leader = base
	c.mu.Unlock()
	if old.String() != base.String() {
		c.log.Info("mesos leader changed", zap.String("from", old.String()), zap.String("to", base.String()))
	}
}

// exchange is one open answer from the leading master.
type exchange struct {
	resp   mesoslib.Response
	master string
	ctx    context.Context    // the attempt's; it ends when the attempt timed out
	cancel context.CancelFunc // ends the request; call it after reading the body
}

func (x *exchange) close() {
	if x.resp != nil {
		_ = x.resp.Close()
	}
	x.cancel()
}

// roundTrip sends call to the leading master and returns its open, successful answer.
//
// mesos-go neither follows the master's 307 nor knows other masters (wire-facts §1.2, §2), so this does:
// a 307 re-targets the call at the Location (protocol-relative, resolved against the current scheme);
// a 503 or a transport failure moves on to the next master; any other answer is final. The master that
// answers becomes the remembered leader. Each attempt is bounded by c.timeout: for a stream only until
// the answer's headers arrive, otherwise until the caller closes the exchange.
func (c *Client) roundTrip(ctx context.Context, call *master.Call, stream bool) (*exchange, error) {
	r := &route{call: call.GetType().String(), queue: c.candidates(), tried: map[string]bool{}}
	for base, ok := r.next(); ok; base, ok = r.next() {
		x, err := c.attempt(ctx, base, call, stream)
		if err == nil {
			c.setLeader(base)
			return x, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if final := c.judge(r, base, err); final != nil {
			return nil, final
		}
	}
	return nil, r.last
}

// route is one call's way to the leader: the masters still to try and what the tried ones said.
type route struct {
	call  string
	queue []*url.URL
	tried map[string]bool
	hops  int
	last  *Error // the failure to report if no master is left
}

// next returns the next master not tried yet.
func (r *route) next() (*url.URL, bool) {
	for len(r.queue) > 0 {
		base := r.queue[0]
		r.queue = r.queue[1:]
		if !r.tried[base.String()] {
			r.tried[base.String()] = true
			return base, true
		}
	}
	return nil, false
}

func (r *route) fail(kind error, base *url.URL, status int, msg string, cause error) *Error {
	return &Error{Kind: kind, Call: r.call, Master: base.String(), Status: status, Message: msg, Err: cause}
}

// judge decides what a failed attempt at base means: a final answer (returned), or a reason to go on
// to the redirect's target or the next master (recorded in r).
func (c *Client) judge(r *route, base *url.URL, err error) *Error {
	log := c.log.With(zap.String("call", r.call), zap.String("master", base.String()))
	var se *statusError
	switch {
	case errors.As(err, &se) && se.status == http.StatusTemporaryRedirect:
		c.redirect(r, base, se)
	case errors.As(err, &se) && se.status == http.StatusServiceUnavailable:
		kind := ErrUnavailable
		if strings.Contains(se.body, noLeaderText) {
			kind = ErrNoLeader
		}
		r.last = r.fail(kind, base, se.status, se.body, nil)
		log.Debug("mesos master unavailable, trying the next", zap.String("message", se.body))
	case errors.As(err, &se):
		// A master that answers anything but 307/503 is the leader (standbys redirect first).
		c.setLeader(base)
		return r.fail(kindOf(se.status), base, se.status, se.body, nil)
	case isProtocolError(err):
		return r.fail(ErrProtocol, base, 0, err.Error(), err)
	default:
		r.last = r.fail(ErrUnavailable, base, 0, err.Error(), err)
		log.Debug("mesos master unreachable, trying the next", zap.Error(err))
	}
	return nil
}

// redirect puts a 307's target at the head of the route, within maxRedirects hops.
func (c *Client) redirect(r *route, base *url.URL, se *statusError) {
	next, err := redirectTarget(base, se.location)
	switch {
	case err != nil || r.hops >= maxRedirects:
		r.last = r.fail(ErrNoLeader, base, se.status, redirectProblem(se.location, err), err)
	case r.tried[next.String()]:
		// A stale pointer back at a master that already failed (or redirected) in this call: keep its
		// answer as the one to report, unless there is none.
		if r.last == nil {
			r.last = r.fail(ErrNoLeader, base, se.status, "redirected back to "+next.String(), nil)
		}
	default:
		r.hops++
		c.log.Debug("following mesos leader redirect", zap.String("call", r.call), zap.String("master", base.String()), zap.String("leader", next.String()))
		r.queue = append([]*url.URL{next}, r.queue...)
	}
}

// attempt sends call to one master.
func (c *Client) attempt(ctx context.Context, base *url.URL, call *master.Call, stream bool) (*exchange, error) {
	actx, cancel := context.WithCancel(ctx)
	// A timer rather than context.WithTimeout, because for a stream only the wait for the headers is
	// bounded; for a call it runs on until the body is read.
	timer := time.AfterFunc(c.timeout, cancel)
	resp, err := c.sender(base).Send(actx, calls.NonStreaming(call))
	if err != nil {
		timer.Stop()
		if ctx.Err() == nil && actx.Err() != nil && !isStatus(err) {
			err = &timeoutError{after: c.timeout, err: err}
		}
		if resp != nil {
			_ = resp.Close()
		}
		cancel()
		return nil, err
	}
	if stream {
		timer.Stop()
	}
	return &exchange{resp: resp, master: base.String(), ctx: actx, cancel: func() { timer.Stop(); cancel() }}, nil
}

type timeoutError struct {
	after time.Duration
	err   error
}

func (e *timeoutError) Error() string {
	return "no answer within " + e.after.String() + ": " + e.err.Error()
}
func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }

func isStatus(err error) bool {
	var se *statusError
	return errors.As(err, &se)
}

func isProtocolError(err error) bool {
	var pe httpcli.ProtocolError
	return errors.As(err, &pe)
}

// redirectTarget resolves a 307's Location, which the master sends protocol-relative
// ("//leader:5050/api/v1", wire-facts §1.2), against the master that sent it.
func redirectTarget(from *url.URL, location string) (*url.URL, error) {
	if location == "" {
		return nil, errors.New("307 without a Location")
	}
	loc, err := url.Parse(location)
	if err != nil {
		return nil, err
	}
	to := (&url.URL{Scheme: from.Scheme, Host: from.Host, Path: from.Path + apiPath}).ResolveReference(loc)
	if to.Host == "" {
		return nil, errors.New("307 Location names no host")
	}
	return masterBase(to), nil
}

func redirectProblem(location string, err error) string {
	if err != nil {
		return err.Error()
	}
	return "more than " + strconv.Itoa(maxRedirects) + " leader redirects, last to " + location
}

// get sends a GET_* call and decodes the answer, which must be of the call's own type.
func (c *Client) get(ctx context.Context, call *master.Call) (*master.Response, error) {
	x, err := c.roundTrip(ctx, call, false)
	if err != nil {
		return nil, err
	}
	defer x.close()
	var r master.Response
	if err := x.resp.Decode(&r); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if x.ctx.Err() != nil {
			terr := &timeoutError{after: c.timeout, err: err}
			return nil, &Error{Kind: ErrUnavailable, Call: call.GetType().String(), Master: x.master, Message: terr.Error(), Err: terr}
		}
		return nil, &Error{Kind: ErrProtocol, Call: call.GetType().String(), Master: x.master, Message: "decoding the answer: " + err.Error(), Err: err}
	}
	if r.GetType().String() != call.GetType().String() {
		return nil, &Error{Kind: ErrProtocol, Call: call.GetType().String(), Master: x.master, Message: "answer of type " + r.GetType().String()}
	}
	return &r, nil
}

// post sends a mutating call; the master answers 200 (or 202) with no body (wire-facts §1.1).
func (c *Client) post(ctx context.Context, call *master.Call) error {
	x, err := c.roundTrip(ctx, call, false)
	if err != nil {
		return err
	}
	x.close()
	return nil
}
