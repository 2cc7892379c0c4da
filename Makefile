# Xinyi: `make run` starts the platform with a demo city; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
PROTOS := $(shell find proto/xinyi -name '*.proto')

.PHONY: run test lint fmt install gen clean bench bench-city backup restore sbom audit

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Compiled to bytecode at install: uv does not by default, and where PYTHONDONTWRITEBYTECODE is
# set (this kind of machine sets it) every process would compile every library it imports, each
# time it starts (a platform's start took twice as long).
$(VENV)/.installed: $(UV) uv.lock pyproject.toml */pyproject.toml services/*/pyproject.toml Makefile
	$(UV) sync --frozen --quiet --compile-bytecode
	touch $@

install: $(VENV)/.installed proto/.stamp

# Python stubs are generated from the protos, never committed.
proto/.stamp: $(VENV)/.installed $(PROTOS)
	$(PY) -m grpc_tools.protoc -I proto --python_out=proto --pyi_out=proto --grpc_python_out=proto $(PROTOS)
	touch $@

gen: proto/.stamp

run: install
	$(PY) -m xinyi_dev.run

# One archive of every service's schema, the voucher files and the data directory's own files
# (XINYI_DATA_DIR, default .run; DATABASE_URL instead of its server when set); TO= names it.
backup: install
	$(PY) -m xinyi_dev.backup backup $(if $(TO),--to $(TO))

# Into a fresh data directory (XINYI_DATA_DIR, default .run), then `make run` serves it.
restore: install
	@test -n "$(FROM)" || { echo "usage: make restore FROM=build/backups/<archive>.tar"; exit 2; }
	$(PY) -m xinyi_dev.backup restore $(FROM)

# Two workers by default (the machine we size for has two cores), each test file on one worker
# so a file's fixtures start once; PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
test: install
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile
	$(PY) -m xinyi_dev.supply_chain audit
	$(PY) -m xinyi_dev.supply_chain sbom

# Known vulnerabilities in any locked package (PyPI's data; XINYI_AUDIT_STRICT=1 fails when it
# cannot be reached), and the CycloneDX SBOM of the locked runtime packages in build/.
audit: install
	$(PY) -m xinyi_dev.supply_chain audit

sbom: install
	$(PY) -m xinyi_dev.supply_chain sbom

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The benchmarks beside the machine's own limits (bench/run.py): a few minutes, or the full sizes.
bench: install
	$(PY) -m bench.run --size default $(BENCH_ARGS)

bench-city: install
	$(PY) -m bench.run --size city $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) proto/.stamp
	find proto -name '*_pb2*.py*' -delete
