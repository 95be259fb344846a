# kubeship — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BUILD := build
LOKI := $(BUILD)/loki
# `make build GOARCH=arm64` cross-builds into build/arm64 with Debian's
# gcc-aarch64-linux-gnu; the native build stays in build/.
HOSTARCH := $(shell $(GO) env GOHOSTARCH)
GOARCH ?= $(HOSTARCH)
CROSS_CC_arm64 := aarch64-linux-gnu-gcc
CROSS_CC_amd64 := x86_64-linux-gnu-gcc
ifeq ($(GOARCH),$(HOSTARCH))
OUT := $(BUILD)
TARGET_CC := cc
else
OUT := $(BUILD)/$(GOARCH)
TARGET_CC := $(CROSS_CC_$(GOARCH))
endif
SO := $(OUT)/out_kubeship.so
HOST := $(OUT)/kubeship-host
HOST19 := $(OUT)/kubeship-host-1.9
HOSTHIDDEN := $(OUT)/kubeship-host-hidden
# The arm64 object, run by the C host under qemu-user against the real Loki.
ARM64_TESTS := TestRegistersAsKubeship|TestFargateRecordsArriveExactly|TestConcurrentFlushes|TestDatadogTagsAsTheAgentSetsThem|TestFluentBitABIs
# A count of inputs, not a duration: with a duration, Go 1.26's fuzzing
# coordinator can fail a target with "context deadline exceeded" at the end
# of the run on a busy machine, with no failing input (golang/go#75804).
FUZZTIME ?= 20000x
GOFILES := $(shell find . -name '*.go' -not -path './build/*')

.PHONY: help build so-path loki test test-arm64 e2e test-faults lint unit fuzz-short fuzz demo bench bench-scale clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: $(SO) $(HOST) $(HOST19) $(HOSTHIDDEN) ## Build build/out_kubeship.so and the C test hosts (GOARCH=arm64: build/arm64/)

so-path: ## Print the path of the plugin this GOARCH builds (for docker/Dockerfile)
	@echo $(SO)

$(SO): $(GOFILES) plugin/proxy.h go.mod go.sum
	@mkdir -p $(OUT)
	CGO_ENABLED=1 GOARCH=$(GOARCH) CC=$(TARGET_CC) $(GO) build -buildmode=c-shared -trimpath \
		-ldflags "-s -w -X main.version=$(VERSION)" -o $@ ./plugin

# -rdynamic: Fluent Bit exports its functions to plugins, and so does the host.
$(HOST): test/host/host.c
	@mkdir -p $(OUT)
	$(TARGET_CC) -O2 -Wall -Wextra -Werror -rdynamic -o $@ $< -ldl -lpthread

$(HOST19): test/host/host.c
	@mkdir -p $(OUT)
	$(TARGET_CC) -O2 -Wall -Wextra -Werror -rdynamic -DFLB_V1_9 -o $@ $< -ldl -lpthread

# A Fluent Bit that exports nothing to plugins (not linked with -rdynamic).
$(HOSTHIDDEN): test/host/host.c
	@mkdir -p $(OUT)
	$(TARGET_CC) -O2 -Wall -Wextra -Werror -o $@ $< -ldl -lpthread

loki: $(LOKI) ## Build a real Loki server from the Go module proxy (test/loki)

$(LOKI): test/loki/go.mod test/loki/go.sum
	@mkdir -p $(BUILD)
	cd test/loki && $(GO) build -trimpath -ldflags "-s -w" -o ../../$(LOKI) github.com/grafana/loki/v3/cmd/loki

# helm, built from the Go module proxy (test/helm) for the chart's tests.
HELM := $(BUILD)/helm
HELM_VERSION := $(shell awk '$$1 == "require" && $$2 == "helm.sh/helm/v4" {print $$3}' test/helm/go.mod)

.PHONY: helm
helm: $(HELM) ## Build a real helm from the Go module proxy (test/helm), for the chart's tests

$(HELM): test/helm/go.mod test/helm/go.sum
	@mkdir -p $(BUILD)
	cd test/helm && $(GO) build -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION)" -o ../../$(HELM) helm.sh/helm/v4/cmd/helm

.PHONY: chart-render
chart-render: $(HELM) ## Render each conf/helm/examples/*.yaml into conf/k8s/ with helm template (make test fails while one is stale)
	cd test/manifests && HELM_BIN=$(abspath $(HELM)) UPDATE_RENDERED=1 $(GO) test -count=1 -run '^TestRenderedManifestsAreUpToDate$$' .

STATICCHECK := $(BUILD)/staticcheck

# staticcheck, pinned in the tools module test/lint and built once.
$(STATICCHECK): test/lint/go.mod test/lint/go.sum
	@mkdir -p $(BUILD)
	cd test/lint && $(GO) build -trimpath -o $(abspath $(STATICCHECK)) honnef.co/go/tools/cmd/staticcheck

lint: $(STATICCHECK) ## gofmt, go vet and staticcheck (pinned in test/lint)
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd test/manifests && $(GO) vet ./...
	$(abspath $(STATICCHECK)) ./...
	cd test/manifests && $(abspath $(STATICCHECK)) ./...

test: build loki helm lint ## Everything: unit, host, integration against a real Loki, e2e with a real Fluent Bit when found, short fuzzing
	@command -v "$${FLUENT_BIT:-fluent-bit}" >/dev/null || \
		echo "*** Fluent Bit not found: the real-Fluent-Bit tests (test/e2e, test/conf, test/readme's Quick start, test/differential, the Fluent Bit fault scenarios) will be SKIPPED; set FLUENT_BIT or use make e2e ***"
	LOKI_BIN=$(CURDIR)/$(LOKI) $(GO) test -count=1 ./...
	$(GO) test -race -count=1 ./internal/...
	cd test/manifests && HELM_BIN=$(abspath $(HELM)) $(GO) test -count=1 ./...
	$(MAKE) --no-print-directory test-arm64
	$(MAKE) --no-print-directory fuzz-short

test-arm64: loki ## Cross-build the arm64 plugin and host; run them under qemu-user against the real Loki
	$(MAKE) --no-print-directory build GOARCH=arm64
	KUBESHIP_HOST_ARCH=arm64 LOKI_BIN=$(CURDIR)/$(LOKI) $(GO) test -count=1 -run '^($(ARM64_TESTS))$$' ./test/integration

e2e: build loki ## Every real-Fluent-Bit suite against each binary of $$FLUENT_BITS ("/path/a /path/b"; else $$FLUENT_BIT or PATH): a version × suite matrix (build/e2e/matrix.md)
	LOKI_BIN=$(CURDIR)/$(LOKI) $(GO) run ./test/matrix

test-faults: build loki ## The full fault set: a minute of 429s, a 5-minute outage with an RSS plot (build/faults/)
	KUBESHIP_FAULTS_FULL=1 LOKI_BIN=$(CURDIR)/$(LOKI) $(GO) test -count=1 -timeout 30m -v ./test/faultinject

FUZZ_TARGETS := ./internal/event:FuzzReader ./internal/record:FuzzAppendJSON ./internal/record:FuzzSkip \
	./internal/record:FuzzSkipKnown ./internal/loki:FuzzWire ./internal/loki:FuzzMetaMemo ./internal/loki:FuzzRejected \
	./internal/accessor:FuzzParse ./internal/loki:FuzzLabels ./internal/loki:FuzzEncode ./internal/config:FuzzParse \
	./internal/entry:FuzzParseCRI ./internal/entry:FuzzJSONContext ./internal/entry:FuzzReaderJoin ./internal/kube:FuzzFromTag \
	./internal/datadog:FuzzTags ./internal/datadog:FuzzEncode ./internal/datadog:FuzzCutUTF8 ./internal/annotations:FuzzRead \
	./test/hostile:FuzzAttacker

fuzz-short: ## Run each fuzz target on FUZZTIME inputs (20000x)
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

fuzz: ## Run each fuzz target for 5 minutes
	$(MAKE) --no-print-directory fuzz-short FUZZTIME=5m

demo: build loki ## Plugin + real Loki + Fluent Bit (or the test host): print what arrived
	$(GO) run ./test/demo -loki $(LOKI) -so $(SO) -host $(HOST)

GRAFANA_LOKI := $(BUILD)/perf/out_grafana_loki.so

$(GRAFANA_LOKI): test/loki/go.mod test/loki/go.sum
	@mkdir -p $(BUILD)/perf
	cd test/loki && $(GO) build -buildmode=c-shared -trimpath -ldflags "-s -w" -o ../../$@ github.com/grafana/loki/v3/clients/cmd/fluent-bit

PERF_FLAGS ?= -n 500000 -repeat 3

bench: build $(GRAFANA_LOKI) ## Go microbenchmarks, then Fluent Bit's outputs side by side with a real Fluent Bit (build/perf/)
	$(GO) test -run='^$$' -bench=. -benchmem ./internal/...
	$(GO) run ./test/perf $(PERF_FLAGS)

# Production's shape (issue #16): N records over 20, 200 and 2,000
# containers. The plugin is copied first so a rebuild during the run can't
# change what is measured. -instr-n 0 skips valgrind.
SCALE_FLAGS ?= -n 200000 -repeat 5 -scales 20,200,2000 -instr-n 40000 -instr-scale 20

bench-scale: build ## Fluent Bit's outputs over 20, 200 and 2,000 containers, one tag each: CPU, instructions (valgrind), requests, wire, RSS (build/perf/scale.md)
	@mkdir -p $(BUILD)/perf
	cp $(SO) $(BUILD)/perf/out_kubeship.so
	$(GO) run ./test/perf -scale -so $(BUILD)/perf/out_kubeship.so $(SCALE_FLAGS)

clean: ## Remove build outputs
	rm -rf $(BUILD)
