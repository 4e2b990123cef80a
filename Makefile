# Marmot — see README.md. Every target installs what it needs first.
SHELL := /bin/bash
GO ?= go
PKGS := ./...
STATICCHECK_VERSION := v0.6.1

.PHONY: demo test unit lint deps tools build bench fuzz-seeds

# The demo: the simulated cluster on the diurnal scenario, sped up, with a live summary.
demo: deps
	$(GO) run ./cmd/simulate demo

build: deps
	$(GO) build -o bin/ ./cmd/...

# All the tests: unit, end-to-end and the fuzz targets' seed corpora, with the race detector.
test: deps
	./scripts/install-test-deps.sh
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

unit: deps
	$(GO) test -race -count=1 -short $(PKGS)

lint: deps tools
	$(GO) vet $(PKGS)
	$$($(GO) env GOPATH)/bin/staticcheck $(PKGS)

bench: deps
	./scripts/bench.sh

deps:
	@./scripts/seed-modules.sh
	@$(GO) mod download

tools:
	@test -x $$($(GO) env GOPATH)/bin/staticcheck || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
