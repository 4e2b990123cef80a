// Package e2e holds Marmot's cross-daemon end-to-end tests: the simulated cluster served on loopback,
// the autoscaler and the hibernator built and run against it as operators run them, a real Prometheus
// scraping both and answering every query of the shipped dashboards, and headless Chromium rendering
// the built-in page. They skip with -short, or when Prometheus or Chromium is not installed (Debian
// packages prometheus and chromium; scripts/install-test-deps.sh installs them).
package e2e
