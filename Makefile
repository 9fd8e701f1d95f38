# moat's build, test and benchmark entry points. `make test` sets up a fresh
# machine (Docker engine, local base image) and then runs every test.

GO        ?= go
BIN       := bin/moat
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# -count=1: e2e results depend on the engine, which Go's test cache cannot see.
E2E_FLAGS ?= -timeout 35m -count=1

.PHONY: all build testbed test test-unit test-e2e vet fuzz demo bench clean help

all: build

help:
	@echo "make demo    - a real sandboxed run of examples/hello"
	@echo "make test    - set up the machine, then vet, unit and end-to-end tests"
	@echo "make bench   - benchmarks against same-machine baselines (docs/benchmarks.md)"
	@echo "make build   - build bin/moat and bin/moat-sidecar"

# moat-sidecar (moat's in-container commands alone, which start faster) goes
# beside moat, where moat looks for it.
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/moat
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)-sidecar ./cmd/moat-sidecar

testbed:
	bash scripts/testbed.sh

# A single-node Kubernetes for the Kubernetes runtime's tests (issue 16;
# docs/testing-kubernetes.md): built and cached on first use, about 30 s after.
.PHONY: kube-testbed kube-testbed-down
kube-testbed:
	bash scripts/kube-testbed.sh up

kube-testbed-down:
	bash scripts/kube-testbed.sh down

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/
	$(GO) vet -tags e2e ./bench/

test-unit:
	$(GO) test ./...

# TestClean* run 'moat clean', which works engine-wide (it removes images
# other tests would rebuild), so they run last, in a second pass. The
# cluster tests (e2e/kube_test.go) run on the single-node Kubernetes that
# kube-testbed starts (built once, cached outside the clone); it is torn
# down afterwards, pass or fail, and the teardown checks the host is as it
# was.
test-e2e: testbed kube-testbed
	eval "$$(bash scripts/kube-testbed.sh env)"; export MOAT_TEST_KUBE=required; rc=0; \
	$(GO) test -tags e2e $(E2E_FLAGS) -skip '^TestClean' ./e2e/ || rc=$$?; \
	if [ $$rc -eq 0 ]; then $(GO) test -tags e2e $(E2E_FLAGS) -run '^TestClean' ./e2e/ || rc=$$?; fi; \
	bash scripts/kube-testbed.sh down || rc=$$?; \
	exit $$rc

test: testbed vet test-unit test-e2e

# A short run of every fuzz target in the tree, found by 'go test -list'
# (FUZZTIME each); the seed corpora also run in test-unit.
FUZZTIME  ?= 30s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

# The demo needs the engine and the base image, not the test-only images.
# The example's agent.yaml asks for an environment variable, which a run
# needs approved: the demo approves it as you would after reading it.
demo: build
	bash scripts/testbed.sh --base-only
	./$(BIN) trust --yes examples/hello
	./$(BIN) run examples/hello

# Ratios against a baseline measured in the same run (see docs/benchmarks.md).
bench: testbed kube-testbed build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/audit/ ./internal/proxy/
	$(GO) test -run '^$$' -bench . -benchtime 3x ./internal/egress/
	eval "$$(bash scripts/kube-testbed.sh env)"; \
	$(GO) test -tags e2e -run '^$$' -bench . -benchtime 20x -timeout 40m ./bench/

clean:
	rm -rf bin
