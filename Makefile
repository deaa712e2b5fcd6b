# pressroom: `make demo` runs the example nightly job; `make test` runs the whole suite.
# Both depend on `make setup`: a .venv with the CPU build of vLLM, and the default model.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pressroom-installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test docs model browser clean-outputs

setup: $(STAMP) model browser

# A machine with an NVIDIA GPU (nvidia-smi lists one) gets the official CUDA build of vLLM (the
# `gpu` extra); any other the CPU build (`cpu`). Both pin the same vLLM release.
ENGINE_EXTRA ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)

# The venv's own pip: the machine's pip config points it at the local CPU torch wheel.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[$(ENGINE_EXTRA),hf,test]'
	# PyPI's torchvision/torchaudio/torchcodec do not match the CPU torch and break transformers.
	if [ "$(ENGINE_EXTRA)" = cpu ]; then $(BIN)/pip uninstall -y torchvision torchaudio torchcodec; fi
	touch $(STAMP)

model: $(STAMP)
	$(BIN)/python -m workers.models

# The viewer's browser tests drive Debian's headless Chromium, with a CJK font (Playwright's own
# browser download needs a CDN). Installed when missing and this is a root Debian machine.
BROWSER_PACKAGES := chromium-headless-shell fonts-noto-cjk
browser:
	@if dpkg-query -W -f='$${Status}\n' $(BROWSER_PACKAGES) 2>/dev/null | grep -vq "ok installed" \
	    || ! dpkg-query -W $(BROWSER_PACKAGES) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q $(BROWSER_PACKAGES) >/dev/null 2>&1 \
	      || (apt-get update -q >/dev/null && apt-get install -y -q $(BROWSER_PACKAGES) >/dev/null); \
	  else \
	    echo "note: install $(BROWSER_PACKAGES) (or set CHROMIUM_PATH) for the viewer's browser tests"; \
	  fi; \
	fi

demo: setup
	$(BIN)/pressroom run examples/nightly_summaries.yaml
	@echo "pressroom is in .venv/bin: run '. .venv/bin/activate' to put it on your PATH in this shell"

# The docs site (mkdocs.yml, docs/), served with live reload at http://127.0.0.1:8000.
docs: setup
	DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs serve

# Tests that load no model engine run on two workers (pytest-xdist, one file per worker at a time);
# those that load one (marked `slow`) run one at a time: two engines on two cores oversubscribe them.
# So do the multi-node cluster tests (`serial`), whose waits are timed.
test: setup
	$(BIN)/python -m pytest -ra -m "not slow and not serial" -n 2 --dist loadfile
	$(BIN)/python -m pytest -ra -m "slow or serial"

clean-outputs:
	rm -rf out
