# Thin aliases over cargo and the toolkit's binaries. CI runs `make test` (see .ci/run).
CARGO ?= cargo
BIN := target/debug

.PHONY: help build test lint fmt fmt-check clippy doc-private validate list doc demo

help: ## Show the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-18s %s\n", $$1, $$2}'

build: ## Build every binary (debug profile, shared with the tests)
	$(CARGO) build --workspace --locked --bins

test: fmt-check clippy ## Formatting check, clippy -D warnings, then every test
	$(CARGO) test --workspace --locked

lint: fmt-check clippy doc-private ## Formatting check, clippy, and the docs of private items (warnings are errors)

fmt: ## Format the code
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

doc-private:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --document-private-items --locked

validate: build ## Check datasets, prompts and schemas of every module
	$(BIN)/orchestrator validate

list: build ## List the modules
	$(BIN)/orchestrator list

doc: ## Build the API docs (warnings are errors)
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --locked

demo: build ## The main job: the whole M12 workflow on the built-in simulator (no keys, no network; DEMO_FORMAT=xlsx for a workbook)
	scripts/demo.sh

# The M12 workflow against whatever OPENAI_BASE_URL / OPENAI_API_KEY point at.
.PHONY: m12-workflow m12-agreement m12-merge m12-gold
m12-workflow: build ## Run m12, then write a 100-row annotation sheet (seed 42) for annotators A and B
	$(BIN)/orchestrator run m12
	$(BIN)/generate-annotation-csv generate m12 --sample 100 --seed 42
	@echo ""
	@echo "Next: give the annotation_tasks/M12_annotation_*.csv file above to annotators A and B."
	@echo "When both have filled their columns: make m12-agreement FILE=annotation_tasks/<that file>"

m12-agreement: build ## Agreement report of a filled annotation sheet (FILE=annotation_tasks/...)
	@test -n "$(FILE)" || { echo "usage: make m12-agreement FILE=annotation_tasks/M12_annotation_<timestamp>.csv" >&2; exit 2; }
	$(BIN)/calculate-agreement analyze "$(FILE)" --verbose
	@echo ""
	@echo "Next (kappa above 0.60 is the usual bar): make m12-merge FILE=$(FILE)"

m12-merge: build ## Merge the two annotators' labels (majority; FILE=annotation_tasks/...)
	@test -n "$(FILE)" || { echo "usage: make m12-merge FILE=annotation_tasks/M12_annotation_<timestamp>.csv" >&2; exit 2; }
	$(BIN)/merge-annotations merge "$(FILE)" --strategy $(or $(STRATEGY),majority)
	@echo ""
	@echo "Next: make m12-gold FILE=validated_data/<the M12_validated_*.csv file above>"

m12-gold: build ## Gold JSONL from a merged file (FILE=validated_data/...)
	@test -n "$(FILE)" || { echo "usage: make m12-gold FILE=validated_data/M12_validated_<timestamp>.csv" >&2; exit 2; }
	$(BIN)/merge-annotations gold "$(FILE)"
	@echo ""
	@echo "Next: evaluate against the gold labels with: orchestrator run m12 --dataset validated_data/<the M12_gold_*.jsonl file above>"
	@echo "      and push runs to Braintrust with: sync-braintrust sync --module m12"

.PHONY: bench-agreement-core
bench-agreement-core: ## Agreement statistics on 1,000,000 generated rows (+1000 bootstrap replicates): time and peak memory
	$(CARGO) run --release --locked -p agreement --example bench_agreement

.PHONY: bench-client
bench-client: ## Benchmark the LLM client against the simulator: requests/s vs ideal, CPU per request, 429s and rate under RPM/TPM limits
	$(CARGO) build --release --locked -p kw-cli --bin api-sim
	$(CARGO) build --release --locked -p llm-client --example bench_client
	target/release/examples/bench_client --sim target/release/api-sim --requests 5000 --concurrency 64 --latency 50ms
	target/release/examples/bench_client --sim target/release/api-sim --requests 5000 --concurrency 64 --latency 50ms --threads 1
	target/release/examples/bench_client --sim target/release/api-sim --requests 500 --concurrency 64 --latency 50ms --rpm 1200
	target/release/examples/bench_client --sim target/release/api-sim --requests 500 --concurrency 64 --latency 50ms --tpm 300000

.PHONY: bench-registry
bench-registry: ## Time `experiment-registry list --module` and `stats` on a 100,000-run registry (target < 300 ms)
	$(CARGO) build --release --locked -p kw-cli --bin experiment-registry
	$(CARGO) run --release --locked -p registry --example bench_registry -- --bin target/release/experiment-registry --entries 100000 --repeat 10

.PHONY: bench-run
bench-run: ## Benchmark `orchestrator run` on 2,000 rows at 100 ms simulated latency, concurrency 64: rows/s vs ideal (median of 5 runs; target >= 95%), where the time goes, peak memory
	$(CARGO) build --release --locked --bins -p kw-cli
	$(CARGO) run --release --locked -p kw-cli --example bench_run -- --rows 2000 --concurrency 64 --latency-ms 100 --target-percent 95 --repeat 5 --bin-dir target/release

.PHONY: bench-optimize
bench-optimize: ## Every optimize-prompt method on m12 and m02 (light) against the prompt-sensitive simulator: calls, cost, wall time, test accuracy vs the known optimum
	$(CARGO) run --locked -p optimize --example bench_optimize

.PHONY: bench-agreement
bench-agreement: ## `calculate-agreement analyze --json` on a generated 1,000,000-row annotation CSV: wall time, peak memory, pandas + scikit-learn ratio when installed
	$(CARGO) build --release --locked -p kw-cli --bin calculate-agreement --example bench_agreement_csv
	target/release/examples/bench_agreement_csv --bin target/release/calculate-agreement --rows 1000000

.PHONY: test-reliability
test-reliability: ## The reliability suite: kill and resume, fault storm, 8 concurrent runs, malformed inputs, secrets
	$(CARGO) test --locked -p kw-cli --test cli reliability::

.PHONY: bench-batch
bench-batch: ## Batch request files for 500,000 records (and 50,000, to show memory does not grow with them): MB/s written, peak memory
	$(CARGO) build --release --locked -p batch --example bench_generate
	target/release/examples/bench_generate --records 50000
	target/release/examples/bench_generate --records 500000

.PHONY: bench-analysis
bench-analysis: ## `analyze-results` errors + patterns on generated 100,000- and 1,000,000-row results CSVs (time, rows/s, peak memory), then the HTML report of a 1,000,000-row run (time, page sizes: goal < 5 MB)
	$(CARGO) build --release --locked -p analysis --example bench_analysis
	target/release/examples/bench_analysis --rows 100000
	target/release/examples/bench_analysis --rows 1000000
	$(CARGO) build --release --locked -p report --example bench_report
	target/release/examples/bench_report --rows 1000000

.PHONY: test-browser
test-browser: build ## The demo's HTML report in headless Chromium (needs Debian's chromium and chromium-driver): every page ready, no script error, chart marks, sort/filter by clicks, no network reference; screenshots in target/tmp/browser/
	$(CARGO) test --locked -p report --features browser --test browser -- --nocapture
