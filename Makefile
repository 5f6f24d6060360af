# make bench: run the benchmarks and write the HTML report.  make test: run the tests.
# Both create .venv and install what they need (Graphviz, Chromium) when it is missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
GRID ?= default
ARGS ?=

.PHONY: bench test report compare selfcheck lint clean system-deps gpu-check gpu-sweep gpu-tune

$(STAMP): pyproject.toml
	@echo "installing the project into $(VENV) (the first time, PyTorch with its CUDA libraries: about 6 GB)"
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

# TRITON_INTERPRET: Triton's interpreter runs the RoI kernels' tests on the CPU (make gpu-check
# runs them compiled, on CUDA).
test: $(STAMP) system-deps
	TRITON_INTERPRET=1 $(BIN)/pytest --benchmark-disable $(ARGS)

# Rebuild the latest run's report from its JSON, without measuring again (or JSON=path: a run
# folder's JSON into that folder, another into reports/<its name>).
JSON ?= $(lastword $(sort $(wildcard reports/runs/*/benchmark.json)))
report: $(STAMP)
	@test -n "$(JSON)" || { echo "no run under reports/runs; run 'make bench' first"; exit 2; }
	$(BIN)/python -m bench report "$(JSON)"

compare: $(STAMP)
	@test -n "$(A)" -a -n "$(B)" || { echo "usage: make compare A=run-or-json B=run-or-json"; exit 2; }
	$(BIN)/python -m bench compare "$(A)" "$(B)"

selfcheck: $(STAMP)
	$(BIN)/python -m bench selfcheck

# The GPU check, for a machine with CUDA and no network: the system python3 with torch,
# torchvision, pandas, matplotlib, jinja2, pytest, pytest-benchmark and hypothesis installed,
# plus the torchviz and graphviz wheels copied into .gpu/wheels (they go to .gpu/site).
# Runs the CUDA tests, the Triton kernels' tests compiled (all of tests/test_roi_triton.py), then
# the default grid on CUDA, suites in GPU_SUITES order. Writes into $(GPU_OUT): the tests' log,
# the benchmarks' log, benchmark.json.gz (raw rounds kept), results.csv and the page. Each part
# has a time limit; a part stopped by its limit is interrupted as Ctrl-C would, so what it
# measured is kept and reported. GPU_TESTS_K="-k name" narrows the tests (a rerun after a fix).
GPU_OUT ?= reports/gpu-check
GPU_PYTHON ?= python3
GPU_PY = env PYTHONPATH=.gpu/site:. PYTHONUNBUFFERED=1 $(GPU_PYTHON)
GPU_BENCH_TIME ?= 0.05
# The self-check and the RoI goals first: a part stopped by its limit loses the suites last in line.
GPU_SUITES ?= selfcheck,roi,conv1x1,frozen
# The four parts' limits add up to 510 s, 590 with their 20 s of grace: one call of the GPU
# machine allows 600. The Triton kernels' CUDA-only tests come before their other tests, which
# a limit cut short before.
GPU_BENCH_LIMIT ?= 200
GPU_PROFILE ?= --profile
GPU_PYTEST = $(GPU_PY) -m pytest -p bench.plugin -p no:cacheprovider
gpu-check:
	mkdir -p $(GPU_OUT)
	rm -f $(addprefix $(GPU_OUT)/,benchmark.json benchmark.json.gz results.csv index.html)
	@test -d .gpu/site || ls .gpu/wheels/*.whl >/dev/null 2>&1 || { echo "gpu-check: copy the torchviz and graphviz wheels into .gpu/wheels first (README, The GPU check)"; exit 2; }
	test -d .gpu/site || $(GPU_PYTHON) -m pip install -q --no-index --no-deps --target .gpu/site .gpu/wheels/*.whl
	$(GPU_PY) -c "import importlib.util as u, torch; t = u.find_spec('triton') and __import__('triton'); print(torch.__version__, 'cuda', torch.version.cuda, 'triton', t and t.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())" | tee $(GPU_OUT)/tests.log
	-timeout -k 20 -s INT 110 $(GPU_PYTEST) tests --ignore=tests/test_roi_triton.py -m "cuda and not bench" $(GPU_TESTS_K) -ra 2>&1 | tee -a $(GPU_OUT)/tests.log
	-timeout -k 20 -s INT 90 $(GPU_PYTEST) tests/test_roi_triton.py -m cuda $(GPU_TESTS_K) -ra --durations=5 2>&1 | tee -a $(GPU_OUT)/tests.log
	-timeout -k 20 -s INT 110 $(GPU_PYTEST) tests/test_roi_triton.py -m "not cuda" $(GPU_TESTS_K) -ra --durations=5 2>&1 | tee -a $(GPU_OUT)/tests.log
	-timeout -k 20 -s INT $(or $(GPU_BENCH_LIMIT),200) $(GPU_PYTEST) bench/benchmarks.py --benchmark --device cuda --grid default $(if $(GPU_SUITES),--suite $(GPU_SUITES)) $(GPU_PROFILE) --benchmark-max-time=$(GPU_BENCH_TIME) --benchmark-min-rounds=3 --bench-reports=$(GPU_OUT)/reports --benchmark-json=$(GPU_OUT)/benchmark.json -q --durations=15 --benchmark-columns=median,iqr,rounds > $(GPU_OUT)/bench.log 2>&1
	@if [ -s $(GPU_OUT)/benchmark.json ]; then \
	  run=$$(ls -td $(GPU_OUT)/reports/runs/*/ | head -n 1); \
	  cp $$run/results.csv $$run/index.html $(GPU_OUT)/ || echo "gpu-check: no page was made"; \
	  gzip -f $(GPU_OUT)/benchmark.json; \
	else echo "gpu-check: no benchmark was measured"; fi
	tail -n 5 $(GPU_OUT)/bench.log

# Settings of the Triton RoI kernels on the GPU machine (scan or gather, columns a step,
# unrolling, pipelining, layout and its copy, tiles, warps, the programs' order, the pyramid in
# one launch or a launch a level and its derived levels' tiles, the backward's blocks and
# chunks, bfloat16), each variant checked bit for bit before it is timed, and the issue's goals
# at the end (bench/ops/roi_triton_sweep.py); writes sweep.log, sweep.json.
GPU_SWEEP_BUDGET ?= 240
gpu-sweep:
	mkdir -p $(GPU_OUT)
	-timeout -k 20 -s INT $$(( $(GPU_SWEEP_BUDGET) + 60 )) $(GPU_PY) -m bench.ops.roi_triton_sweep --budget $(GPU_SWEEP_BUDGET) --json $(GPU_OUT)/sweep.json 2>&1 | tee $(GPU_OUT)/sweep.log

# The Triton kernels' tuning in one call of the GPU machine: the sweep, then their CUDA-only tests
# (the settings on NaN and tied zeros, compiled), then the device-time tests of the timer (events
# against graph replay and the profiler; calls queued slower than a sleep lasts), about 330 s at
# GPU_SWEEP_BUDGET=170.
gpu-tune: gpu-sweep
	-timeout -k 10 -s INT 90 $(GPU_PYTEST) tests/test_roi_triton.py -m cuda -ra -q --durations=5 > $(GPU_OUT)/tests-triton-cuda.log 2>&1
	tail -n 3 $(GPU_OUT)/tests-triton-cuda.log
	-timeout -k 10 -s INT 60 $(GPU_PYTEST) tests/test_cuda.py -k "device_time or queues_slowly or waits_for_the_device" -ra -q > $(GPU_OUT)/tests-timing-cuda.log 2>&1
	tail -n 3 $(GPU_OUT)/tests-timing-cuda.log

lint: $(STAMP)
	$(BIN)/ruff check bench tests

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks .hypothesis *.egg-info
