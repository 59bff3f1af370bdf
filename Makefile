# Darwin in Go — developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
BIN       ?= $(CURDIR)/bin
DATA_DIR  ?= $(CURDIR)/darwin-data
HTTP_ADDR ?= 127.0.0.1:8080
# Every Go package of the workspace, module by module.
PKGS      := ./pkg/... ./proto/... ./services/compute/... ./services/cluster-manager/... ./services/mlflow/... ./services/ml-serve/... ./services/artifact-builder/... ./services/feature-store/... ./services/darwin/... ./helm/... ./tools/...
BINARIES  := ./services/darwin/cmd/darwin ./services/darwin/cmd/hermes ./services/compute/cmd/compute ./services/cluster-manager/cmd/cluster-manager ./services/mlflow/cmd/mlflow ./services/ml-serve/cmd/ml-serve ./services/artifact-builder/cmd/artifact-builder ./services/feature-store/cmd/feature-store
TEST_ENV  := $(CURDIR)/.cache/test-env.sh

.PHONY: help
help: ## List the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build darwin, compute, cluster-manager and mlflow into ./bin
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ $(BINARIES)

.PHONY: run
run: build ## Start the whole platform on embedded defaults (http://127.0.0.1:8080)
	$(BIN)/darwin up --http-addr $(HTTP_ADDR) --data-dir $(DATA_DIR)

.PHONY: test-env
test-env: ## Start MariaDB + PostgreSQL, install nginx and python3-sklearn, build/cache kube-apiserver + etcd; write .cache/test-env.sh
	@mkdir -p $(CURDIR)/.cache
	bash scripts/test-databases.sh > $(TEST_ENV).tmp
	bash scripts/test-nginx.sh
	bash scripts/python-deps.sh
	echo "export KUBEBUILDER_ASSETS='$$(bash scripts/k8s-test-binaries.sh)'" >> $(TEST_ENV).tmp
	mv $(TEST_ENV).tmp $(TEST_ENV)
	@cat $(TEST_ENV)

.PHONY: test
test: test-env lint ## Everything: lint, unit, store suites on SQLite/MariaDB/PostgreSQL, kube-apiserver suites, end-to-end, model runtime
	source $(TEST_ENV) && $(GO) test -count=1 -timeout 25m $(PKGS)
	$(MAKE) test-runtime

.PHONY: test-runtime
test-runtime: ## The Python model runtime's tests (Debian python3 + scikit-learn, installed by scripts/python-deps.sh)
	bash scripts/python-deps.sh
	cd runtimes/serve && DARWIN_SERVE_NO_REEXEC=1 /usr/bin/python3 -m unittest discover -s tests

.PHONY: test-integration
test-integration: test-env ## Only the suites on real servers: SQL dialects, S3 API, kube-apiserver, end-to-end
	source $(TEST_ENV) && $(GO) test -count=1 -timeout 20m ./pkg/db/... ./pkg/bus/... ./pkg/blob/... \
		./services/compute/internal/store/... ./services/cluster-manager/kubetest/... \
		./services/cluster-manager/internal/driver/... ./services/darwin/e2e/... ./helm/... ./tools/...

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 10s)
	bash scripts/fuzz.sh $${FUZZTIME:-10s}

.PHONY: lint
lint: check-proto ## go vet + gofmt check
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l pkg services proto helm tools); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: images
images: ## Build the service images as OCI/docker-save tarballs in .cache/images/ (no Docker daemon needed)
	bash scripts/build-images.sh

.PHONY: helm-test
helm-test: ## Lint the Helm charts, compare rendered manifests with golden files, install the umbrella into a real kube-apiserver
	KUBEBUILDER_ASSETS="$$(bash scripts/k8s-test-binaries.sh)" $(GO) test -count=1 -timeout 5m ./helm/...

.PHONY: run-distributed
run-distributed: ## Start compute, cluster-manager, mlflow, ml-serve, artifact-builder, feature-store (MariaDB) and Debian's nginx as separate processes (http://127.0.0.1:8088)
	bash scripts/run-distributed.sh

.PHONY: stop-distributed
stop-distributed: ## Stop what run-distributed started
	bash scripts/run-distributed.sh stop

.PHONY: proto
proto: ## Regenerate Go code from proto/ (offline: Debian protoc + pinned Go plugins)
	bash scripts/gen-proto.sh

.PHONY: check-proto
check-proto: ## Fail when the committed generated code differs from the .proto files
	bash scripts/check-proto.sh

.PHONY: bench
bench: test-env ## Benchmarks beside floors measured in the same run (SCALE_CLUSTERS=1000 for the Kubernetes scale run)
	source $(TEST_ENV) && $(GO) test -run '^$$' -bench ComputeAPI -benchtime $${BENCHTIME:-2s} ./services/darwin/e2e/
	source $(TEST_ENV) && $(GO) test -run '^$$' -bench SearchRuns30k -benchtime 20x -timeout 90m ./services/mlflow/
	source $(TEST_ENV) && $(GO) test -run '^$$' -bench 'ServePredict|DeployModelReady' -benchtime 2s ./services/darwin/e2e/
	$(GO) test -run '^$$' -bench 'ReadFeatures' -benchtime 3s ./services/feature-store/internal/httpapi/
	$(GO) test -run '^$$' -bench 'PopulateIntoStore|Populate$$|ParquetRead' -benchtime 1x -timeout 30m ./services/feature-store/internal/populator/
	$(GO) test -run '^$$' -bench 'Consume|Retrieve' -benchtime 3x ./services/feature-store/internal/consumer/ ./services/feature-store/internal/offline/
	source $(TEST_ENV) && $(GO) test -run '^$$' -bench StartAndStatus -benchtime 100x ./services/cluster-manager/internal/driver/kube/
	source $(TEST_ENV) && DARWIN_SCALE_CLUSTERS=$${SCALE_CLUSTERS:-1000} $(GO) test -run '^$$' -bench KubernetesScale -benchtime 1x -timeout 60m ./services/darwin/e2e/

.PHONY: clean
clean: ## Remove build output and the local data directory
	rm -rf $(BIN) $(DATA_DIR)
