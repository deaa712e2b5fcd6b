# pressroom: `make demo` runs the example nightly job; `make test` runs the whole suite.
# Both depend on `make setup`: a .venv with the CPU build of vLLM, and the default model.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pressroom-installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test model clean-outputs

setup: $(STAMP) model

# The venv's own pip: the machine's pip config points it at the local CPU torch wheel.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[cpu,hf,test]'
	# PyPI's torchvision/torchaudio/torchcodec do not match the CPU torch and break transformers.
	$(BIN)/pip uninstall -y torchvision torchaudio torchcodec
	touch $(STAMP)

model: $(STAMP)
	$(BIN)/python -m workers.models

demo: setup
	$(BIN)/pressroom run examples/nightly_summaries.yaml

test: setup
	$(BIN)/python -m pytest -ra

clean-outputs:
	rm -rf out
