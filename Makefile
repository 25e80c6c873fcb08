# Fresh-machine entry points. `make demo` and `make test` each create .venv and
# install what they need from this project's own files.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
SAMPLE ?= samples/seated_ir_left_right.mp4
OUT    ?= out/demo

.PHONY: demo test install install-test lint accuracy throughput samples clean

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

clean:
	rm -rf $(VENV) build dist out src/*.egg-info
