# rtsync build and checks. `make test` is what CI runs (.ci/run).

GO       ?= go
PKG      := github.com/rtsync/rtsync
BIN      := bin/rtsync

VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w \
	-X $(PKG)/internal/buildinfo.version=$(VERSION) \
	-X $(PKG)/internal/buildinfo.commit=$(COMMIT) \
	-X $(PKG)/internal/buildinfo.date=$(DATE)

# Must match goreleaser.yaml's goos x goarch; internal/buildinfo's
# TestReleasePlatformsMatch fails when they drift.
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

TEST_TIMEOUT ?= 8m

.PHONY: all test deps vet fmt-check unit fuzz fuzz-ci build release-check clean

all: build

## test: what the tests need, vet, format check, staticcheck, race tests, a short fuzz run, then the release cross-compile
test: deps vet fmt-check staticcheck unit fuzz-ci release-check

# The browser test of the web chat page drives Debian's chromium, and the
# Redis store's and broker's tests start Debian's redis-server; install them when they
# are missing (as root, or through sudo).
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

## deps: install what the tests need and this machine lacks
deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "deps: installing chromium (for the web page's browser test)"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi
	@command -v chromium >/dev/null 2>&1 || { echo "deps: chromium is still missing; install it (apt-get install chromium)"; exit 1; }
	@if ! command -v redis-server >/dev/null 2>&1; then \
		echo "deps: installing redis-server (for the Redis store's tests)"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	fi
	@command -v redis-server >/dev/null 2>&1 || { echo "deps: redis-server is still missing; install it (apt-get install redis-server)"; exit 1; }
	@if [ ! -x "$(STATICCHECK)" ]; then \
		echo "deps: installing staticcheck into $(TOOLBIN)"; \
		GOBIN="$(TOOLBIN)" $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); \
	fi

vet:
	$(GO) vet ./...

# staticcheck lives in TOOLBIN, which need not be on PATH; deps puts it there.
# Checks switched off, if any, are in staticcheck.conf with the reason.
.PHONY: staticcheck quick
TOOLBIN             ?= $(shell $(GO) env GOPATH)/bin
STATICCHECK         := $(TOOLBIN)/staticcheck
STATICCHECK_VERSION ?= latest

## staticcheck: the linter beyond vet (run make deps first on a fresh machine)
staticcheck:
	@[ -x "$(STATICCHECK)" ] || { echo "staticcheck: $(STATICCHECK) is missing; run make deps"; exit 1; }
	$(STATICCHECK) ./...

fmt-check:
	@files="$$(gofmt -l .)"; \
	if [ -n "$$files" ]; then \
		echo "gofmt: these files need formatting (run gofmt -w on them):"; \
		echo "$$files"; \
		exit 1; \
	fi

# The server package runs a second time on the other read path (wsin.go):
# the first run takes auto (poll on Linux and macOS), the second goroutine.
# The bench's two read paths are compared on a real server by
# TestReadModesAgree; RTSYNC_BENCH_READ_MODE=goroutine runs all of
# ./loadtest/ on the goroutine path (about 50 s more, so not here).
unit:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	RTSYNC_READ_MODE=goroutine $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./server/

## quick: the fast local loop: -short skips the browser, bench runs,
## scripts that start servers and tests that wait out timeouts; no -race.
## Run make test (or make unit) before pushing.
quick:
	$(GO) test -short -count=1 ./...

# Every fuzz target, as package:Name. Their seed corpora (testdata/fuzz)
# run in `unit` anyway; `fuzz` also mutates them.
FUZZ_TARGETS := \
	./protocol:FuzzDecode ./protocol:FuzzDecodeEvent ./protocol:FuzzDecodeFast \
	./server:FuzzTCPLines ./server:FuzzWSParse ./server:FuzzAPIBody ./server:FuzzToken ./server:FuzzHookAnswer \
	./client:FuzzServerFrames ./cmd:FuzzConfigFile \
	./loadtest:FuzzNextMark ./loadtest:FuzzReplyID ./loadtest:FuzzBenchFrames ./tui/top:FuzzStats ./internal/termtext:FuzzClean \
	./server/broker/redisbroker:FuzzDecodePayload
FUZZTIME ?= 10s

## fuzz: each fuzz target for FUZZTIME (default 10s), one at a time on one worker; make fuzz FUZZTIME=5m for a longer hunt
fuzz:
	@GO=$(GO) scripts/fuzz.sh $(FUZZTIME) '$(FUZZFLAGS)' $(FUZZ_TARGETS)

# The fuzz stage of make test: 16 targets at 7s each, about 140s on two
# cores with the builds. scripts/fuzz.sh passes a target that ran its
# time and failed only with the fuzzer's own deadline race (Go 1.26),
# having written no failing input.
# Minimizing each new input is capped at 100 runs: the fuzzer stops a
# minimization cut short by -fuzztime with "context deadline exceeded", a
# failure that says nothing about the code; a crasher is still reported
# (and kept in testdata) with the input as found.
fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=7s FUZZFLAGS='-fuzzminimizetime 100x'

## build: ./bin/rtsync for this machine, stamped with version, commit, date
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

## release-check: cross-compile every release platform as goreleaser would
release-check:
	@set -e; out="$$(mktemp -d)"; trap 'rm -rf "$$out"' EXIT; failed=""; \
	for p in $(PLATFORMS); do \
		os="$${p%/*}"; arch="$${p#*/}"; ext=""; [ "$$os" = windows ] && ext=.exe; \
		echo "release-check: $$os/$$arch"; \
		if ! CGO_ENABLED=0 GOOS="$$os" GOARCH="$$arch" $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
			-o "$$out/rtsync-$$os-$$arch$$ext" . ; then failed="$$failed $$p"; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "release-check: build failed for:$$failed"; exit 1; fi; \
	echo "release-check: all $(words $(PLATFORMS)) platforms build"

## soak: 10,000 connections churning for 10 minutes against the real binary, checking
## memory, goroutines, open files and that no acknowledged message is lost (docs/soak.md).
## Not part of make test. Shorter: make soak RTSYNC_SOAK_CONNS=2000 RTSYNC_SOAK_DURATION=90s
.PHONY: soak
soak:
	RTSYNC_SOAK=1 RTSYNC_SOAK_OUT="$${RTSYNC_SOAK_OUT:-$(CURDIR)/bin/soak}" \
		$(GO) test -count=1 -run '^TestSoak$$' -v -timeout 40m ./internal/soak

clean:
	rm -rf bin dist
