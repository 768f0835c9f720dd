# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo

.PHONY: help run run-release test bench bench-compare check fmt lint doc clean up down

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

run: ## Build and start the API on 127.0.0.1:8080 (embedded store, in-process cache, dev key)
	$(CARGO) run -p fido-api --bin fido

run-release: ## The same, optimised
	$(CARGO) run --release -p fido-api --bin fido

test: ## Everything CI checks: format, clippy, docs, dependency rules, all tests with real services
	bash scripts/test.sh

check: ## The fast inner loop: format, clippy, and the unit and contract tests that need no server
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	env -u MONGODB_URI -u REDIS_URL -u FIDO_TEST_AMQP_URL -u CI \
	  $(CARGO) nextest run --locked --workspace --status-level fail -E 'not binary_id(fido-api::api)'

bench: ## Benchmarks: criterion micro-benchmarks and wrk against the release binary (prints a table)
	bash scripts/bench.sh

bench-compare: ## Cached read paths of BASE=<git rev> against the working tree, same run (medians, ratio)
	bash scripts/bench-compare.sh

fmt: ## Format the code
	$(CARGO) fmt --all

lint: ## Clippy with warnings denied
	$(CARGO) clippy --workspace --all-targets -- -D warnings

doc: ## Build the API docs of our crates
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

COMPOSE := docker compose --env-file .env.prod -f deploy/docker-compose.yml

up: ## Start the API, MongoDB and Redis Stack with docker compose (needs .env.prod)
	@test -f .env.prod || { echo "Create .env.prod first: cp .env.prod.example .env.prod (then set FERNET_KEY)"; exit 1; }
	$(COMPOSE) up -d --build

down: ## Stop the compose stack (the MongoDB volume is kept)
	@test -f .env.prod || { echo "No .env.prod: nothing was started with make up"; exit 1; }
	$(COMPOSE) down

clean: ## Remove build output (keeps ./data)
	$(CARGO) clean
