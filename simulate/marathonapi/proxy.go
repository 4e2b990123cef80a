package marathonapi

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// forward proxies r to the leader as Marathon's RequestForwarder does: the same method, URI, headers
// (less Host and Connection) and body, plus X-Marathon-Via, which detects proxy loops, and
// X-Forwarded-For; the leader's status, headers and body come back with X-Marathon-Via added.
func (s *server) forward(w http.ResponseWriter, r *http.Request, leader string) {
	for _, v := range r.Header.Values(headerVia) {
		if v == s.via {
			s.log.Warn("proxy loop", zap.String("uri", r.RequestURI), zap.Strings("via", r.Header.Values(headerVia)))
			writeError(w, http.StatusBadGateway, "Detected proxying loop.")
			return
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+leader+r.URL.RequestURI(), r.Body)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	req.ContentLength = r.ContentLength
	for name, values := range r.Header {
		if strings.EqualFold(name, "Connection") {
			continue // hop-by-hop; the Host header is not in r.Header at all
		}
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	req.Header.Add(headerVia, s.via)
	forwardedFor := remoteHost(r.RemoteAddr)
	if prev := r.Header.Get(headerForwardedFor); prev != "" {
		forwardedFor = prev + "," + forwardedFor
	}
	req.Header.Set(headerForwardedFor, forwardedFor)

	resp, err := s.proxy.Do(req)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		s.log.Warn("proxy to leader failed", zap.String("leader", leader), zap.Error(err))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			writeError(w, http.StatusGatewayTimeout, "Connection to leader timed out.")
			return
		}
		writeError(w, http.StatusBadGateway, "Connection to leader refused.")
		return
	}
	defer resp.Body.Close()
	for name, values := range resp.Header {
		if strings.EqualFold(name, "Connection") || strings.EqualFold(name, "Transfer-Encoding") {
			continue
		}
		for _, v := range values {
			w.Header().Add(name, v)
		}
	}
	w.Header().Add(headerVia, s.via)
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil && r.Context().Err() == nil {
		s.log.Warn("proxy body copy failed", zap.String("leader", leader), zap.Error(err))
	}
}

func remoteHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
