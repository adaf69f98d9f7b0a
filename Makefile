# Two commands do everything on a fresh machine (Python 3.11+ and Node 20+):
#   make demo   - venv, install, start the sandboxes, run a full sync + billing cycle, print a summary
#   make test   - the whole suite (starts Azurite and the sandboxes itself)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml package.json
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m recon.native || echo "recon scanner not built (no C compiler): recon falls back to DuckDB"
	npm install --no-audit --no-fund --silent
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cspbridge demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy .

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules var out demo-output
