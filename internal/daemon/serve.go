package daemon

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Signals is the context a main runs under, ended by SIGINT or SIGTERM, and the channel of SIGHUPs
// (policy reloads). Call stop when done.
func Signals() (ctx context.Context, hup <-chan os.Signal, stop func()) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ctx, ch, func() { signal.Stop(ch); cancel() }
}

// StatusServer is the server of /metrics, /status, /healthz and /readyz. They are small answers to
// operators and Prometheus, so every timeout is short.
func StatusServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}

// Serve runs srv on l until it is shut down or closed; a failure to serve is sent on errc (which must
// have room), a shutdown is not.
func Serve(srv *http.Server, l net.Listener, errc chan<- error) {
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		errc <- err
	}
}

// Reloads calls reload on every value from hup until ctx ends. A nil hup never reloads.
func Reloads(ctx context.Context, hup <-chan os.Signal, reload func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload()
		}
	}
}
