# make bench: run the benchmarks and write the HTML report.  make test: run the tests.
# Both create .venv and install what they need (Graphviz, Chromium) when it is missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
GRID ?= default
ARGS ?=

.PHONY: bench test report compare selfcheck lint clean system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Graphviz draws the autograd diagrams; Chromium runs the report's browser test. Installed with
# apt when missing and apt is usable; otherwise one warning, and the features degrade.
system-deps:
	@missing=""; \
	command -v dot >/dev/null 2>&1 || missing="$$missing graphviz"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing with apt-get"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; diagrams show DOT source, browser test is skipped"; \
	  else \
	    echo "warning:$$missing missing and apt-get unusable; diagrams show DOT source, browser test is skipped"; \
	  fi; \
	fi

bench: $(STAMP) system-deps
	$(BIN)/python -m bench run --grid $(GRID) $(ARGS)

test: $(STAMP) system-deps
	$(BIN)/pytest --benchmark-disable $(ARGS)

# Rebuild the latest run's report from its JSON, without measuring again (or JSON=path).
JSON ?= $(lastword $(sort $(wildcard reports/runs/*/benchmark.json)))
report: $(STAMP)
	@test -n "$(JSON)" || { echo "no run under reports/runs; run 'make bench' first"; exit 2; }
	$(BIN)/python -m bench report $(JSON) -o $(dir $(JSON))

compare: $(STAMP)
	@test -n "$(A)" -a -n "$(B)" || { echo "usage: make compare A=run-or-json B=run-or-json"; exit 2; }
	$(BIN)/python -m bench compare $(A) $(B)

selfcheck: $(STAMP)
	$(BIN)/python -m bench selfcheck

lint: $(STAMP)
	$(BIN)/ruff check bench tests

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks .hypothesis *.egg-info
