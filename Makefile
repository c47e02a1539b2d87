# haze: `make demo` and `make test` are all a fresh clone needs.
GO        ?= go
TAGS      := -tags duckdb_arrow
BIN       := bin/haze
DEMO_DIR  ?= build/demo
NOTEBOOKS_DIR ?= build/notebooks

.PHONY: build test demo notebooks serve bench lint fmt clean

build:
	$(GO) build $(TAGS) -o $(BIN) ./cmd/haze

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

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then \
		echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(TAGS) ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin build
