# Fresh-machine entry points. `make demo` and `make test` each create .venv and
# install what they need from this project's own files.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
SAMPLE ?= samples/seated_ir_left_right.mp4
OUT    ?= out/demo

VALIDATION ?= build/validation

.PHONY: demo test install install-test accuracy accuracy-samples throughput live-latency app-latency samples validation synth-smoke clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed: $(VENV)/.created pyproject.toml
	$(PIP) install --quiet .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.created pyproject.toml
	$(PIP) install --quiet ".[test]"
	@touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/hiprom measure $(SAMPLE) --out $(OUT) --annotate

test: install-test
	$(PIP) install --quiet --no-deps --force-reinstall .
	$(PY) -m pytest

# Rendered ground truth (needs Debian's blender: apt-get install -y blender).
samples: install
	$(PY) synth/render.py --set samples --out samples --seed 0

validation: install
	$(PY) synth/render.py --set validation --out $(VALIDATION) --seed 0

synth-smoke: install
	$(PY) synth/render.py --set smoke --out build/smoke

# Benchmarks; results and how to read them are in docs/ACCURACY.md and docs/PERFORMANCE.md.
accuracy: validation
	$(PY) benchmarks/accuracy.py --data $(VALIDATION) --out build/accuracy --markdown build/accuracy.md

accuracy-samples: install
	$(PY) benchmarks/accuracy.py --data samples --out build/accuracy-samples

throughput: install
	$(PY) benchmarks/throughput.py --protocol-length 3 --mirror --repeats 2

live-latency: install
	$(PY) benchmarks/live_latency.py --headless

# hiprom app in headless Chromium with the sample as fake camera (needs chromium, ffmpeg).
app-latency: install
	$(PY) benchmarks/app_latency.py --runs 5

clean:
	rm -rf $(VENV) build dist out src/*.egg-info
