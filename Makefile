# Fresh-machine entry points. `make demo` and `make test` each create .venv and
# install what they need from this project's own files.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
SAMPLE ?= samples/seated_ir_left_right.mp4
OUT    ?= out/demo

VALIDATION ?= build/validation
VALIDATION2 ?= build/validation2
POSTURES ?= build/postures

.PHONY: demo test install install-test accuracy accuracy-samples accuracy-holdout throughput live-latency samples validation validation2 postures synth-smoke synth-test clean

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

# Wider accuracy set (issue #10) and the seated-test check's postures (issue #11); each is
# split into <dir>-fit/ and <dir>-holdout/ (symlinks). Nothing may be fitted on the holdout.
validation2: install
	$(PY) synth/render.py --set validation2 --out $(VALIDATION2) --seed 0
	$(PY) synth/split.py $(VALIDATION2)

postures: install
	$(PY) synth/render.py --set postures --out $(POSTURES) --seed 0
	$(PY) synth/split.py $(POSTURES)

synth-test: install-test
	$(PY) -m pytest -q synth

# Benchmarks; results and how to read them are in docs/ACCURACY.md and docs/PERFORMANCE.md.
accuracy: validation
	$(PY) benchmarks/accuracy.py --data $(VALIDATION) --out build/accuracy --markdown build/accuracy.md

# The held-out part of validation2 (bodies and camera setups no fit has seen).
accuracy-holdout: validation2
	$(PY) benchmarks/accuracy.py --data $(VALIDATION2)-holdout --out build/accuracy-holdout --markdown build/accuracy-holdout.md

accuracy-samples: install
	$(PY) benchmarks/accuracy.py --data samples --out build/accuracy-samples

throughput: install
	$(PY) benchmarks/throughput.py --protocol-length 3 --mirror --repeats 2

live-latency: install
	$(PY) benchmarks/live_latency.py --headless

clean:
	rm -rf $(VENV) build dist out src/*.egg-info
