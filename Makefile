.DEFAULT_GOAL := help
SHELL := /bin/bash

.PHONY: help install build-dev build-prod format lint imports test test-rust test-python bench all

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

install: ## Editable install with every extra, the example plugin and the dev tools
	pip install -e ".[dev]" ./tests/plugin_pkg

build-dev: ## Rebuild the extension in place (debug-optimised, fast to compile)
	maturin develop

build-prod: ## Build a release wheel and the sdist into dist/
	maturin build --release -o dist
	maturin sdist -o dist

format: ## Format Rust and Python sources
	cargo fmt --all
	ruff format
	ruff check --fix

lint: imports ## cargo fmt/clippy, ruff, mypy, stubtest and the import-cycle check
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	ruff check
	ruff format --check
	mypy
	python -m mypy.stubtest funkrs._funkrs --allowlist .stubtest-allowlist

imports: ## Fail on import cycles between funkrs modules (tools/check_import_cycles.py)
	python tools/check_import_cycles.py

test-rust: ## Core tests without Python
	cargo test -p funkrs-core --locked

test-python: ## pytest (Hypothesis profile from FUNKRS_HYPOTHESIS_PROFILE, default fast)
	python -m pytest

test: test-rust test-python ## All tests

bench: ## Benchmarks against the references (see benchmarks/README.md)
	python benchmarks/ml_small.py

all: format lint test ## Format, lint and test
