# vnet: Xen-style virtual networks over an AF_XDP poll-mode dataplane.
GO ?= go
BIN := bin

.PHONY: help setup build demo test test-short vet install clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: ## install the packages that the demo and the tests need (as root)
	scripts/setup.sh

REVISION := $(shell git describe --always --dirty --abbrev=12 2>/dev/null)
LDFLAGS := -X github.com/vnet-xdp/vnet/internal/version.Revision=$(REVISION)

build: ## build vnetd and vn into bin/
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/vnetd ./cmd/vnetd
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/vn ./cmd/vn

demo: setup build ## run vnetd on a three-host demo topology in network namespaces (as root)
	BIN=$(CURDIR)/$(BIN) scripts/demo.sh

vet: ## check formatting and run go vet
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

test: setup vet ## run unit tests, then end-to-end tests in network namespaces (as root)
	$(GO) test -race -count=1 ./...

test-short: ## run the tests that need no root (no namespaces, XDP or AF_XDP)
	$(GO) test -count=1 -short ./...

PREFIX ?= /usr/local
install: build ## install vnetd, vn, the systemd unit, and the example configuration where none exists (as root)
	install -D -m 0755 $(BIN)/vnetd $(DESTDIR)$(PREFIX)/sbin/vnetd
	install -D -m 0755 $(BIN)/vn $(DESTDIR)$(PREFIX)/bin/vn
	install -d $(DESTDIR)/etc/systemd/system
	sed 's|/usr/local/sbin/|$(PREFIX)/sbin/|' scripts/systemd/vnetd.service > $(DESTDIR)/etc/systemd/system/vnetd.service
	test -e $(DESTDIR)/etc/default/vnetd || install -D -m 0644 scripts/systemd/vnetd.default $(DESTDIR)/etc/default/vnetd
	test -e $(DESTDIR)/etc/vnetd/vnetd.conf || install -D -m 0644 scripts/systemd/vnetd.conf $(DESTDIR)/etc/vnetd/vnetd.conf

clean: ## remove build output
	rm -rf $(BIN)

.PHONY: bench bench-quick

bench: build ## measure vnetd beside the kernel and AF_XDP baselines; writes docs/benchmarks.md (as root, about 15 to 20 minutes)
	$(GO) build -o $(BIN)/vnbench ./cmd/vnbench
	$(BIN)/vnbench -bin $(BIN)

bench-quick: build ## smoke-run the benchmark harness in under a minute (as root); checks that it works, not its numbers
	$(GO) build -o $(BIN)/vnbench ./cmd/vnbench
	$(BIN)/vnbench -bin $(BIN) -quick
