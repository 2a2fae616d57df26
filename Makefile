# The gateway's tasks. `make test` is the one test command (README, CI).
GO ?= go

.PHONY: run test vet fmt bench fuzz build docker

run: ## the gateway in demo mode
	$(GO) run ./cmd/gateway

test: ## vet and every test with the race detector, against a real Redis
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	scripts/with-redis.sh $(GO) test -race -shuffle=on -count=1 ./...

bench: ## the benchmarks, against a real Redis
	scripts/with-redis.sh $(GO) test -run='^$$' -bench=. -benchmem ./...

fuzz: ## each fuzz target for FUZZTIME (default 1m)
	for t in FuzzParseList:./handlers FuzzDecodeOrder:./erp FuzzDecodeInvoice:./erp FuzzAmount:./erp FuzzParse:./doclink; do \
		$(GO) test -run='^$$' -fuzz="^$${t%%:*}$$" -fuzztime=$${FUZZTIME:-1m} $${t#*:} || exit 1; done

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/gateway ./cmd/gateway

docker:
	docker build -t vendre-extend-gateway .
