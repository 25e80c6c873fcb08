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
COMPENSATION ?= build/compensation
KNEE_DRIFT ?= build/knee_drift

.PHONY: demo test install install-test accuracy accuracy-quick accuracy-samples accuracy-holdout protocol-check throughput dask-scaling live-latency app-latency samples validation validation2 postures compensation synth-smoke synth-test clean

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

# Lint first (seconds), then the suite; any failing step fails `make test`.
test: install-test
	$(PIP) install --quiet --no-deps --force-reinstall .
	$(VENV)/bin/ruff check src tests benchmarks synth
	$(VENV)/bin/mypy
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

# Compensated IR holds (hip line rolling, trunk leaning, knee drifting; and 16 more knee
# drifts) on validation2's bodies, cameras and split, for the rep flags (flags_cv.py).
compensation: install
	$(PY) synth/render.py --set compensation --out $(COMPENSATION) --seed 0
	$(PY) synth/split.py $(COMPENSATION)
	$(PY) synth/render.py --set knee_drift --out $(KNEE_DRIFT) --seed 0
	$(PY) synth/split.py $(KNEE_DRIFT)

synth-test: install-test
	$(PY) -m pytest -q synth

# Benchmarks; results and how to read them are in docs/ACCURACY.md and docs/PERFORMANCE.md.
# Out of sample: constants refitted per held-out body / camera setup on validation and
# validation2's fit part, then the held-out part of validation2 measured as a user would.
accuracy: validation validation2 compensation
	$(PY) benchmarks/accuracy_cv.py --data $(VALIDATION) --data $(VALIDATION2) --split fit \
		--out build/accuracy-cv --markdown build/accuracy-cv.md
	for m in heavy lite; do \
	  $(PY) benchmarks/accuracy_cv.py --data $(VALIDATION) --data $(VALIDATION2) --split fit \
		--model $$m --out build/accuracy-cv-$$m --markdown build/accuracy-cv-$$m.md || exit 1; done
	$(PY) benchmarks/pivot_cv.py --data $(VALIDATION) --data $(VALIDATION2) --split fit \
		--out build/accuracy-cv --markdown build/pivot-cv.md
	for m in heavy lite; do \
	  $(PY) benchmarks/pivot_cv.py --data $(VALIDATION) --data $(VALIDATION2) --split fit \
		--model $$m --out build/accuracy-cv-$$m --markdown build/pivot-cv-$$m.md || exit 1; done
	$(PY) benchmarks/flags_cv.py --data $(VALIDATION) --data $(VALIDATION2) \
		--data $(COMPENSATION) --data $(KNEE_DRIFT) --split fit --check $(COMPENSATION) \
		--check $(KNEE_DRIFT) --out build/accuracy-cv --markdown build/flags-cv.md
	for m in heavy lite; do \
	  $(PY) benchmarks/flags_cv.py --data $(VALIDATION) --data $(VALIDATION2) \
		--data $(COMPENSATION) --data $(KNEE_DRIFT) --split fit --check $(COMPENSATION) \
		--check $(KNEE_DRIFT) --model $$m \
		--out build/accuracy-cv-$$m --markdown build/flags-cv-$$m.md || exit 1; done
	for m in full heavy lite; do \
	  for s in $(COMPENSATION) $(KNEE_DRIFT); do \
	    $(PY) benchmarks/accuracy.py --data $$s --model $$m \
		--out build/accuracy-$$(basename $$s)-$$m \
		--markdown build/accuracy-$$(basename $$s)-$$m.md || exit 1; done; done
	for m in full heavy lite; do \
	  $(PY) benchmarks/accuracy.py --data $(VALIDATION2) --split fit --kind still --side both \
		--model $$m --out build/accuracy-fit-stills-$$m \
		--markdown build/accuracy-fit-stills-$$m.md || exit 1; done
	for m in heavy lite; do \
	  $(PY) benchmarks/accuracy.py --data $(VALIDATION2) --split holdout --model $$m \
		--out build/accuracy-holdout-$$m --markdown build/accuracy-holdout-$$m.md || exit 1; done
	$(PY) benchmarks/accuracy.py --data $(VALIDATION2) --split holdout \
		--out build/accuracy-holdout --markdown build/accuracy-holdout.md
	$(PY) benchmarks/accuracy.py --data $(VALIDATION2) --split holdout --side both \
		--out build/accuracy-holdout-both --markdown build/accuracy-holdout-both.md
	# --second-network (docs/ACCURACY.md "Second network"): both parts, with and without
	for p in holdout fit; do \
	  $(PY) benchmarks/accuracy.py --data $(VALIDATION2) --split $$p --second-network \
		--out build/accuracy-$$p-second --markdown build/accuracy-$$p-second.md || exit 1; \
	  $(PY) benchmarks/accuracy.py --data $(VALIDATION2) --split $$p --kind still --side both \
		--second-network --out build/accuracy-$$p-both-second \
		--markdown build/accuracy-$$p-both-second.md || exit 1; done
	$(PY) benchmarks/accuracy.py --data $(VALIDATION2) --split fit \
		--out build/accuracy-fit --markdown build/accuracy-fit.md
	$(PY) benchmarks/accuracy.py --data $(VALIDATION) --out build/accuracy --markdown build/accuracy.md

# A quick check on a subset that renders and measures in well under 15 minutes (12
# validation clips: two of each of the six bodies, each camera setup twice); not for docs.
accuracy-quick: install
	$(PY) synth/render.py --set validation --out build/validation-quick --seed 0 \
	  --only val_00 --only val_01 --only val_02 --only val_03 --only val_04 --only val_05 \
	  --only val_06 --only val_07 --only val_08 --only val_09 --only val_10 --only val_11
	$(PY) benchmarks/accuracy.py --data build/validation-quick --out build/accuracy-quick
	$(PY) benchmarks/accuracy_cv.py --data build/validation-quick --out build/accuracy-quick-cv

# The held-out part of validation2 only (bodies and camera setups no fit has seen).
accuracy-holdout: install
	$(PY) synth/render.py --set validation2 --out $(VALIDATION2) --seed 0 --only holdout
	$(PY) benchmarks/accuracy.py --data $(VALIDATION2) --split holdout \
		--out build/accuracy-holdout --markdown build/accuracy-holdout.md

accuracy-samples: install
	$(PY) benchmarks/accuracy.py --data samples --out build/accuracy-samples

# The seated-test check on the posture renders, the validation renders and the shared
# footage (a check, never fitted): docs/ACCURACY.md "Seated-test check".
protocol-check: install
	$(PY) benchmarks/protocol_check.py --data $(POSTURES) --data $(VALIDATION2) \
		--footage ../shared/footage --cache build/protocol-check.json --fit \
		--markdown build/protocol-check.md
	$(PY) benchmarks/protocol_check.py --data $(POSTURES) --data $(VALIDATION2) \
		--footage ../shared/footage --cache build/protocol-check-second.json --second-network \
		--markdown build/protocol-check-second.md

throughput: install
	$(PY) benchmarks/throughput.py --repeats 5 --models full heavy lite \
		--title "Single-rep clips" --markdown build/throughput-clips.md
	$(PY) benchmarks/throughput.py --repeats 3 --protocol-length 3 --mirror \
		--title "Whole-test recordings" --markdown build/throughput-whole.md
	$(PY) benchmarks/throughput.py --repeats 3 --models full full+movenet \
		--title "Single-rep clips, with and without --second-network" \
		--markdown build/throughput-second.md

dask-scaling: install-test
	$(PY) benchmarks/dask_scaling.py --repeats 3 --markdown build/dask-scaling.md

live-latency: install
	$(PY) benchmarks/live_latency.py --headless

# hiprom app in headless Chromium with the sample as fake camera (needs chromium, ffmpeg).
app-latency: install
	$(PY) benchmarks/app_latency.py --runs 5

clean:
	rm -rf $(VENV) build dist out src/*.egg-info
