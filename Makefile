# kubeship — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
# The version: the file VERSION names the release this tree is, or becomes
# when tagged v$(cat VERSION) (CHANGELOG.md has its entry). Built anywhere
# else (untagged, or changed since) it says so: 0.1.0-dev.g<commit>[.dirty].
# `make dist VERSION=...` overrides it (the images' Dockerfiles do).
ifneq ($(origin VERSION),command line)
VERSION := $(shell v=$$(cat VERSION); c=$$(git rev-parse --short=12 HEAD 2>/dev/null) || { echo "$$v-dev"; exit; }; \
	d=$$(GIT_OPTIONAL_LOCKS=0 git status --porcelain --untracked-files=no 2>/dev/null); \
	if [ -z "$$d" ] && [ "$$(git rev-parse -q --verify "refs/tags/v$$v^{commit}")" = "$$(git rev-parse HEAD)" ]; then echo "$$v"; \
	else echo "$$v-dev.g$$c$${d:+.dirty}"; fi)
endif
# Archive timestamps: the commit's time, so two builds of a commit match.
SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
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
ARM64_TESTS := TestRegistersAsKubeship|TestFargateRecordsArriveExactly|TestConcurrentFlushes|TestDatadogTagsAsTheAgentSetsThem|TestFluentBitABIs|TestMetricsOnFluentBitsEndpoint
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

# Reproducible (make dist's archives hold these objects): no paths
# (-trimpath, C debug info stripped), no Go build id, no VCS stamp, and a GNU
# build id that hashes the contents. plugin/exports.map keeps every symbol
# but Fluent Bit's proxy functions inside the object.
$(SO): $(GOFILES) plugin/proxy.h plugin/exports.map go.mod go.sum $(BUILD)/version
	@mkdir -p $(OUT)
	CGO_ENABLED=1 GOARCH=$(GOARCH) CC=$(TARGET_CC) $(GO) build -buildmode=c-shared -trimpath -buildvcs=false \
		-ldflags "-s -w -buildid= -X main.version=$(VERSION) -extldflags '-Wl,--build-id=sha1 -Wl,--version-script=$(CURDIR)/plugin/exports.map'" \
		-o $@ ./plugin

# The version the objects were built with: rewritten when it changes, so
# that a new commit relinks them.
$(BUILD)/version: FORCE
	@mkdir -p $(BUILD)
	@[ "$$(cat $@ 2>/dev/null)" = "$(VERSION)" ] || echo "$(VERSION)" > $@

FORCE:

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

# Releases. make dist writes, for each of DIST_ARCHES, dist/kubeship_<version>_linux_<arch>.tar.gz
# (out_kubeship.so, plugins.conf, LICENSE, README.md) and the CycloneDX SBOM of
# the Go modules that object links (.cdx.json), then dist/SHA256SUMS. The
# objects are make build's (build/, build/<arch>/), so test-arm64 runs the
# archive's; the archives store no times, owners or modes of their own, and
# two runs on one commit give the same bytes (test/dist, make test-dist).
DIST := dist
DIST_ARCHES := amd64 arm64
CYCLONEDX := $(BUILD)/cyclonedx-gomod
ACTIONLINT := $(BUILD)/actionlint

.PHONY: version dist test-dist images

version: ## Print the version this tree builds (VERSION, or <VERSION>-dev.g<commit>[.dirty] when not its tag)
	@echo $(VERSION)

dist: $(CYCLONEDX) ## Release archives, SBOMs and SHA256SUMS for linux/amd64 and linux/arm64 in dist/ (reproducible)
	@set -e; for a in $(DIST_ARCHES); do \
		$(MAKE) --no-print-directory GOARCH=$$a VERSION=$(VERSION) "$$($(MAKE) -s --no-print-directory so-path GOARCH=$$a VERSION=$(VERSION))"; \
	done
	rm -rf $(DIST) $(BUILD)/dist
	@mkdir -p $(DIST)
	@set -e; for a in $(DIST_ARCHES); do \
		name=kubeship_$(VERSION)_linux_$$a; dir=$(BUILD)/dist/$$name; mkdir -p $$dir; \
		cp "$$($(MAKE) -s --no-print-directory so-path GOARCH=$$a VERSION=$(VERSION))" $$dir/out_kubeship.so; \
		cp conf/plugins.conf LICENSE $$dir/; \
		sed -e 's/@VERSION@/$(VERSION)/g' -e "s/@ARCH@/$$a/g" docs/archive/README.md > $$dir/README.md; \
		chmod 0755 $$dir $$dir/out_kubeship.so; chmod 0644 $$dir/plugins.conf $$dir/LICENSE $$dir/README.md; \
		echo "dist: $(DIST)/$$name.tar.gz"; \
		tar --format=gnu --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$(SOURCE_DATE_EPOCH) \
			-C $(BUILD)/dist -cf - $$name | gzip -9n > $(DIST)/$$name.tar.gz; \
		echo "dist: $(DIST)/$$name.cdx.json"; \
		GOOS=linux GOARCH=$$a CGO_ENABLED=1 $(abspath $(CYCLONEDX)) app -json -std -licenses -noserial -notimestamp \
			-main plugin -output $(DIST)/$$name.cdx.json . 2>&1 | { grep -v 'no licenses detected' || true; }; \
	done
	cd $(DIST) && sha256sum kubeship_* > SHA256SUMS && cat SHA256SUMS

test-dist: dist ## make dist's checks (test/dist), and two more runs in two fresh clones giving the same bytes
	KUBESHIP_DIST_REPRODUCE=1 $(GO) test -count=1 -timeout 30m -v -run . ./test/dist

# cyclonedx-gomod (make dist's SBOMs) and actionlint (make lint), pinned in
# the tools module test/release and built once.
$(CYCLONEDX): test/release/go.mod test/release/go.sum
	@mkdir -p $(BUILD)
	cd test/release && $(GO) build -trimpath -o $(abspath $@) github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod

$(ACTIONLINT): test/release/go.mod test/release/go.sum
	@mkdir -p $(BUILD)
	cd test/release && $(GO) build -trimpath -o $(abspath $@) github.com/rhysd/actionlint/cmd/actionlint

# Images: IMAGE_REPO/fluent-bit-kubeship (the official Fluent Bit image) and
# IMAGE_REPO/aws-for-fluent-bit-kubeship, each tagged
# <version>-fluent-bit-<the Fluent Bit it runs>, those versions being the
# Dockerfiles' defaults. PLUGIN_FROM=dist takes the plugin from dist/'s
# archives (the release does), else it is built from source.
IMAGE_REPO ?= ghcr.io/kubeship
PLATFORMS ?= linux/$(HOSTARCH)
PLUGIN_FROM ?= source
FLUENT_BIT_VERSION := $(shell sed -n 's/^ARG FLUENT_BIT_VERSION=//p' docker/Dockerfile)
AWS_FOR_FLUENT_BIT_VERSION := $(shell sed -n 's/^ARG AWS_FOR_FLUENT_BIT_VERSION=//p' docker/Dockerfile.aws-for-fluent-bit)
AWS_FLUENT_BIT_VERSION := $(shell sed -n 's/^ARG FLUENT_BIT_VERSION=//p' docker/Dockerfile.aws-for-fluent-bit)
IMAGE := $(IMAGE_REPO)/fluent-bit-kubeship:$(VERSION)-fluent-bit-$(FLUENT_BIT_VERSION)
AWS_IMAGE := $(IMAGE_REPO)/aws-for-fluent-bit-kubeship:$(VERSION)-fluent-bit-$(AWS_FLUENT_BIT_VERSION)

images: ## Build both images for PLATFORMS (this machine's) as IMAGE_REPO/...:<version>-fluent-bit-<version>; PUSH=1 pushes (and allows several PLATFORMS)
	@mkdir -p $(BUILD)/images
	docker buildx build --platform $(PLATFORMS) -f docker/Dockerfile --build-arg VERSION=$(VERSION) \
		--build-arg PLUGIN_FROM=$(PLUGIN_FROM) --build-arg FLUENT_BIT_VERSION=$(FLUENT_BIT_VERSION) \
		--metadata-file $(BUILD)/images/fluent-bit-kubeship.json -t $(IMAGE) $(if $(PUSH),--push,--load) .
	docker buildx build --platform $(PLATFORMS) -f docker/Dockerfile.aws-for-fluent-bit --build-arg VERSION=$(VERSION) \
		--build-arg PLUGIN_FROM=$(PLUGIN_FROM) --build-arg AWS_FOR_FLUENT_BIT_VERSION=$(AWS_FOR_FLUENT_BIT_VERSION) \
		--build-arg FLUENT_BIT_VERSION=$(AWS_FLUENT_BIT_VERSION) \
		--metadata-file $(BUILD)/images/aws-for-fluent-bit-kubeship.json -t $(AWS_IMAGE) $(if $(PUSH),--push,--load) .

loki: $(LOKI) ## Build a real Loki server from the Go module proxy (test/loki)

$(LOKI): test/loki/go.mod test/loki/go.sum
	@mkdir -p $(BUILD)
	cd test/loki && $(GO) build -trimpath -ldflags "-s -w" -o ../../$(LOKI) github.com/grafana/loki/v3/cmd/loki

# Grafana's loki-canary, from the same Loki module: test/chart runs it
# through the chart's rendered router and aggregator.
LOKI_CANARY := $(BUILD)/loki-canary

.PHONY: loki-canary
loki-canary: $(LOKI_CANARY) ## Build Grafana's loki-canary from the Go module proxy (test/loki), for the chart's canary test

$(LOKI_CANARY): test/loki/go.mod test/loki/go.sum
	@mkdir -p $(BUILD)
	cd test/loki && $(GO) build -trimpath -ldflags "-s -w" -o ../../$(LOKI_CANARY) github.com/grafana/loki/v3/cmd/loki-canary

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

lint: $(STATICCHECK) $(ACTIONLINT) ## gofmt, go vet and staticcheck (pinned in test/lint); actionlint on .github/workflows (pinned in test/release)
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd test/manifests && $(GO) vet ./...
	$(abspath $(STATICCHECK)) ./...
	cd test/manifests && $(abspath $(STATICCHECK)) ./...
	$(abspath $(ACTIONLINT)) -color=false .github/workflows/*.yml

test: build loki loki-canary helm lint dist ## Everything: unit, host, integration against a real Loki, e2e with a real Fluent Bit when found, short fuzzing
	@command -v "$${FLUENT_BIT:-fluent-bit}" >/dev/null || \
		echo "*** Fluent Bit not found: the real-Fluent-Bit tests (test/e2e, test/conf, test/readme's Quick start, test/differential, the Fluent Bit fault scenarios) will be SKIPPED; set FLUENT_BIT or use make e2e ***"
	LOKI_BIN=$(CURDIR)/$(LOKI) $(GO) test -count=1 ./...
	$(GO) test -race -count=1 ./internal/...
	cd test/manifests && HELM_BIN=$(abspath $(HELM)) $(GO) test -count=1 ./...
	$(MAKE) --no-print-directory test-arm64
	$(MAKE) --no-print-directory test-dist
	$(MAKE) --no-print-directory fuzz-short

test-arm64: loki dist ## Run make dist's arm64 plugin and the arm64 host under qemu-user against the real Loki
	$(MAKE) --no-print-directory build GOARCH=arm64 VERSION=$(VERSION)
	tar -xzOf $(DIST)/kubeship_$(VERSION)_linux_arm64.tar.gz kubeship_$(VERSION)_linux_arm64/out_kubeship.so | cmp - $(BUILD)/arm64/out_kubeship.so
	KUBESHIP_HOST_ARCH=arm64 LOKI_BIN=$(CURDIR)/$(LOKI) $(GO) test -count=1 -run '^($(ARM64_TESTS))$$' ./test/integration

e2e: build loki loki-canary ## Every real-Fluent-Bit suite against each binary of $$FLUENT_BITS ("/path/a /path/b"; else $$FLUENT_BIT or PATH): a version × suite matrix (build/e2e/matrix.md)
	LOKI_BIN=$(CURDIR)/$(LOKI) $(GO) run ./test/matrix

test-faults: build loki ## The full fault set: a minute of 429s, a 5-minute outage with an RSS plot (build/faults/)
	KUBESHIP_FAULTS_FULL=1 LOKI_BIN=$(CURDIR)/$(LOKI) $(GO) test -count=1 -timeout 30m -v ./test/faultinject

FUZZ_TARGETS := ./internal/event:FuzzReader ./internal/record:FuzzAppendJSON ./internal/record:FuzzSkip \
	./internal/record:FuzzSkipKnown ./internal/loki:FuzzWire ./internal/loki:FuzzMetaMemo ./internal/loki:FuzzRejected \
	./internal/accessor:FuzzParse ./internal/loki:FuzzLabels ./internal/loki:FuzzEncode ./internal/config:FuzzParse \
	./internal/entry:FuzzParseCRI ./internal/entry:FuzzJSONContext ./internal/entry:FuzzReaderJoin ./internal/kube:FuzzFromTag \
	./internal/datadog:FuzzTags ./internal/datadog:FuzzEncode ./internal/datadog:FuzzCutUTF8 ./internal/annotations:FuzzRead \
	./internal/multiline:FuzzNext ./internal/entry:FuzzReaderJoinLines \
	./test/hostile:FuzzAttacker ./internal/annotations:FuzzMask ./internal/datadog:FuzzAppendMasked \
	./internal/record:FuzzHeader ./internal/record:FuzzAppendJSONString ./internal/record:FuzzAppendJSONLibraries \
	./internal/entry:FuzzParseRFC3339 ./internal/entry:FuzzFormatRFC3339

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

# The aggregator's own shape at fixed record rates (docs/fargate.md,
# "Sizing"); the plugin is copied first, as for bench-scale.
SIZING_FLAGS ?= -rates 1000,5000,10000,20000 -duration 20s

.PHONY: bench-aggregator
bench-aggregator: build ## The chart's rendered aggregator at fixed record rates: vCPU and peak RSS per 10,000 records/s, Fargate pod sizes (build/perf/aggregator.md)
	@mkdir -p $(BUILD)/perf
	cp $(SO) $(BUILD)/perf/aggregator-kubeship.so
	$(GO) run ./test/sizing -so $(BUILD)/perf/aggregator-kubeship.so $(SIZING_FLAGS)

clean: ## Remove build outputs
	rm -rf $(BUILD) $(DIST)
