package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marmot-project/marmot/simulate"
	"github.com/marmot-project/marmot/simulate/serve"
	"github.com/marmot-project/marmot/webui"
	"github.com/marmot-project/marmot/webui/fromstatus"
)

// TestPageRendersInChromium loads the built-in page in headless Chromium after its scripts ran, checks
// that the charts were drawn (uPlot draws on canvases) and that the cluster's pools and agents are on
// it, and keeps a screenshot in artifacts/. The page is the autoscaler's or the hibernator's own at /
// when they serve it; until then the test serves the same page, fed from both daemons' /status.
func TestPageRendersInChromium(t *testing.T) {
	chromium := needBinary(t, "chromium", "chromium")
	c := startCluster(t)
	page := c.pageURL(t)
	if page != c.autoscale+"/" {
		t.Errorf("the page is %s, want the autoscaler's own at /", page)
	}

	// The page draws what it has; wait until there is something of every kind to draw.
	eventually(t, 2*time.Minute, "the page's samples to show both pools and their agents", func() error {
		var s webui.Series
		if err := getJSON(page+"api/series", &s); err != nil {
			return err
		}
		if s.Latest == nil || len(s.Samples) < 3 || len(s.Latest.Pools) < 2 || len(s.Latest.Agents) == 0 {
			return fmt.Errorf("%d samples, latest %+v", len(s.Samples), s.Latest)
		}
		return nil
	})

	dom := runChromium(t, chromium, "--dump-dom", page)
	if !regexp.MustCompile(`<body[^>]*data-rendered="[1-9]`).MatchString(dom) {
		t.Errorf("the page's script did not render (no data-rendered on body):\n%s", tail(dom, 30))
	}
	if n := strings.Count(dom, "<canvas"); n < 3 {
		t.Errorf("%d canvases: the charts were not drawn", n)
	}
	for _, want := range []string{"Agents per pool", "default agents", "batch agents", ">default<", ">batch<", "USD per hour", "saved by autoscaling"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
	// The autoscaler does not see what hibernation saves: its page says nothing of it, not $0.
	if strings.Contains(dom, "saved by hibernation") || strings.Contains(dom, "· hibernation") {
		t.Error("the autoscaler's rendered page claims a hibernation saving it cannot know")
	}
	// The autoscaler's page carries its cost figures; the hibernator's serves the page with its apps and
	// what hibernation saves, and no cost: it sees no instance, so a cost card could only say $0.
	eventually(t, time.Minute, "the hibernator's page to show its apps", func() error {
		var s webui.Series
		if err := getJSON(c.hibernate+"/api/series", &s); err != nil {
			return err
		}
		if s.Latest == nil || s.Latest.Apps == nil || s.Latest.HibernationSavings == nil {
			return fmt.Errorf("latest %+v", s.Latest)
		}
		if s.Latest.Cost != nil {
			t.Errorf("the hibernator's page has a cost: %+v", *s.Latest.Cost)
		}
		return nil
	})
	hdom := runChromium(t, chromium, "--dump-dom", c.hibernate+"/")
	for _, want := range []string{"hibernation saves", "saved by hibernation", "Hibernation savings"} {
		if !strings.Contains(hdom, want) {
			t.Errorf("the hibernator's rendered page lacks %q", want)
		}
	}
	for _, unwanted := range []string{"cost per hour", "cost so far"} {
		if strings.Contains(hdom, unwanted) {
			t.Errorf("the hibernator's rendered page shows %q, which it cannot know", unwanted)
		}
	}
	if strings.Contains(dom, "cannot read api/series") {
		t.Error("the page could not read its samples")
	}

	shot := artifact(t, "dashboard-page.png")
	_ = os.Remove(shot)
	runChromium(t, chromium, "--screenshot="+shot, "--window-size=1400,1700", page)
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) || len(png) < 10_000 {
		t.Fatalf("screenshot %s: %d bytes, %v", shot, len(png), err)
	}
	t.Logf("screenshot of %s: %s", page, shot)
}

// runChromium runs headless Chromium on url with the flags given and returns what it prints. Every
// flag that would reach beyond loopback is off: no background networking, component updates, sync
// or QUIC. --virtual-time-budget lets the page's scripts and fetches run before the DOM is dumped or
// the screenshot taken.
func runChromium(t *testing.T, path string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--no-pings",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000",
	}, args...)
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args[len(args)-2:], err, tail(stderr.String(), 20))
	}
	return stdout.String()
}

// pageURL is the URL of the built-in page (ending in /): a daemon's own, or one the test serves.
func (c *cluster) pageURL(t *testing.T) string {
	t.Helper()
	for _, base := range []string{c.autoscale, c.hibernate} {
		if body, err := get(base + "/"); err == nil && bytes.Contains(body, []byte("assets/page.js")) {
			t.Logf("the page of %s", base)
			return base + "/"
		}
	}
	t.Log("neither daemon serves the built-in page at / yet: the test serves it, fed from their /status")
	return c.servePage(t)
}

// servePage serves the page on loopback and feeds it a sample every half second from the daemons'
// /status and the simulator's cost per hour, as a daemon would after each reconcile.
func (c *cluster) servePage(t *testing.T) string {
	t.Helper()
	ui := webui.New(webui.Config{Title: "marmot (e2e)", Resolution: time.Second, Refresh: time.Second})
	mux := http.NewServeMux()
	ui.Mount(mux)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.feed(ctx, ui)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = srv.Close()
	})
	return "http://" + l.Addr().String() + "/"
}

func (c *cluster) feed(ctx context.Context, ui *webui.UI) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var total float64
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		s := webui.Sample{At: now}
		if body, err := get(c.autoscale + "/status"); err == nil {
			s.Pools, s.Agents, _ = fromstatus.AutoscalerJSON(body)
		}
		if body, err := get(c.hibernate + "/status"); err == nil {
			s.Apps, s.SleepingApps, _ = fromstatus.HibernatorJSON(body, c.appResources)
		}
		perHour := serve.Summarize(c.world).CostPerHour
		// The model runs speed times faster than the wall clock, and so does its spending.
		total += perHour * now.Sub(last).Hours() * speed
		last = now
		s.Cost = &webui.Cost{PerHour: perHour, Total: total}
		ui.Record(s)
	}
}

// appResources is an app's per-instance cpus and memory, from the model.
func (c *cluster) appResources(id string) (cpus, memMB float64) {
	c.world.View(func(v *simulate.View) {
		for _, a := range v.Apps() {
			if a.ID == id {
				cpus, memMB = a.CPUs, a.Mem
			}
		}
	})
	return cpus, memMB
}
