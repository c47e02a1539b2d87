# haze: `make demo` and `make test` are all a fresh clone needs.
GO        ?= go
TAGS      := -tags duckdb_arrow
BIN       := bin/haze
BEAM_BIN  := bin/haze-beam
BEAM_ROWS ?= 2000000
DEMO_DIR  ?= build/demo
NOTEBOOKS_DIR ?= build/notebooks

.PHONY: build build-beam test demo notebooks serve bench bench-beam lint fmt clean

build:
	$(GO) build $(TAGS) -o $(BIN) ./cmd/haze

# haze-beam: job specs and DP reports on Apache Beam, a separate binary so
# that haze does not carry Beam.
build-beam:
	$(GO) build $(TAGS) -o $(BEAM_BIN) ./cmd/haze-beam

test:
	@./scripts/postgres-note.sh
	$(GO) test $(TAGS) -count=1 -timeout 20m ./...
	MAKE="$(MAKE)" ./scripts/test-notebooks.sh

demo: build
	DEMO_DIR=$(DEMO_DIR) HAZE=$(BIN) ./scripts/demo.sh

# The notebooks in notebooks/, executed headless against a live server on
# demo data; executed copies and their plots go to $(NOTEBOOKS_DIR).
notebooks: build
	NOTEBOOKS_DIR=$(NOTEBOOKS_DIR) HAZE=$(BIN) ./scripts/notebooks.sh

serve: build
	$(BIN) serve --data-dir $(DEMO_DIR)/data --imports $(DEMO_DIR)/exports \
		--keyring $(DEMO_DIR)/keys/keyring.json

bench: build
	$(GO) run $(TAGS) ./internal/bench -haze $(BIN) $(BENCHFLAGS)

# The Beam job on prism with one and two workers next to the local
# pipeline; BEAM_ROWS=200000 makes a quick run.
bench-beam: build build-beam
	$(GO) run $(TAGS) ./internal/bench -suite beam -haze $(BIN) -haze-beam $(BEAM_BIN) \
		-rows $(BEAM_ROWS) $(BENCHFLAGS)

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then \
		echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(TAGS) ./...
	@if $(GO) list $(TAGS) -deps ./cmd/haze | grep -q 'apache/beam\|privacy-on-beam'; then \
		echo "cmd/haze must not import Beam (that is haze-beam's)"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin build
