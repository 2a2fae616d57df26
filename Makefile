# The gateway's tasks. `make test` is the one test command (README, CI).
GO ?= go

.PHONY: run test vet fmt bench fuzz build docker e2e lint vulncheck faults budget cluster

run: ## the gateway in demo mode
	$(GO) run ./cmd/gateway

# The packages whose tests use Redis (they import cache/cachetest): the
# second pass of `make test` runs them again against a Redis Cluster.
REDIS_PKGS = $(shell $(GO) list -f '{{.ImportPath}} {{.TestImports}} {{.XTestImports}}' ./... | awk '/cache\/cachetest/ {print $$1}')
# CLUSTER_PKGS: what the cluster pass runs, `all` (the default) for
# REDIS_PKGS; a list of packages narrows it while working on one.
CLUSTER_PKGS ?= all

test: ## vet and every test with the race detector, against a real Redis, then the Redis-backed ones against a Redis Cluster
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	scripts/with-redis.sh $(GO) test -race -shuffle=on -count=1 ./...
	scripts/with-redis-cluster.sh $(GO) test -race -shuffle=on -count=1 $(if $(filter all,$(CLUSTER_PKGS)),$(REDIS_PKGS),$(CLUSTER_PKGS))

e2e: ## issue 6's runs at full size: the binary SIGKILLed mid-work (e2e/), and the pushers in process
	E2E_FULL=1 scripts/with-redis.sh $(GO) test -count=1 -v -timeout=20m ./e2e/ ./pushers/... ./webhook/

cluster: ## two replicas on a local Redis Cluster with a replica per master: cold x200 (ERP fetches, p99), then a master killed mid-traffic (bench/cluster)
	$(GO) run ./bench/cluster

bench: ## the benchmarks, against a real Redis
	scripts/with-redis.sh $(GO) test -run='^$$' -bench=. -benchmem ./...

fuzz: ## each fuzz target for FUZZTIME (default 1m): parsers, the document and webhook routes, the order mapping
	for t in FuzzParseList:./handlers FuzzReadShape:./handlers FuzzParseBody:./handlers \
		FuzzDocument:./handlers FuzzExtendWebhook:./handlers FuzzVendreMap:./pushers/orders \
		FuzzDecodeOrder:./erp FuzzDecodeInvoice:./erp FuzzAmount:./erp FuzzParse:./doclink FuzzString:./clip; do \
		$(GO) test -run='^$$' -fuzz="^$${t%%:*}$$" -fuzztime=$${FUZZTIME:-1m} $${t#*:} || exit 1; done

STATICCHECK_VERSION ?= v0.8.2
GOSEC_VERSION ?= v2.30.0
GOBIN_DIR = $$($(GO) env GOPATH)/bin

lint: ## staticcheck and gosec (go install'ed, pinned); any finding fails. Harmless ones are silenced at their line with the reason (#nosec G... -- why)
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(GO) install github.com/securego/gosec/v2/cmd/gosec@$(GOSEC_VERSION)
	$(GOBIN_DIR)/staticcheck ./...
	$(GOBIN_DIR)/gosec -quiet -exclude=G104 -exclude-dir=faults -exclude-dir=bench ./...

vulncheck: ## govulncheck: needs its vulnerability database (vuln.go.dev), so for a release pipeline with network, not CI
	$(GO) run golang.org/x/vuln/cmd/govulncheck@latest ./...

faults: ## the fault suite: real gateway, Redis and ERP double under load; FAULTS_SECONDS per scenario (default 60)
	$(GO) run ./faults -out bench/results/faults.md

budget: ## the ERP budget under background load: Extend's 300/1m, default settings, a 10,000-article sweep and 200 order imports
	$(GO) run ./faults budget -out bench/results/budget.md

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/gateway ./cmd/gateway

docker:
	docker build -t vendre-extend-gateway .
