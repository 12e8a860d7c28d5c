# The two commands: `make demo` (set up, fetch Fashion-MNIST, train the LSTM classifier
# briefly, export it, classify test images from the export) and `make test` (set up, run the whole suite once per backend).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BACKENDS ?= tensorflow jax torch
FASHION_MNIST_DIR ?= /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: setup data demo test clean

setup: $(VENV)/.installed

# constraints.txt pins the CPU wheel of torch; an unpinned torch is a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[jax,torch,onnx,dev]'
	touch $@

# Debian's package ships the four Fashion-MNIST IDX files (no internet needed beyond apt).
data:
	@test -f $(FASHION_MNIST_DIR)/train-images-idx3-ubyte.gz || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; }

demo: setup data
	$(BIN)/zoo train lstm_fashion_mnist --epochs 1 --out saved_models/demo --overwrite
	$(BIN)/zoo export saved_models/demo
	$(BIN)/zoo predict saved_models/demo/export $(FASHION_MNIST_DIR)/t10k-images-idx3-ubyte.gz | head -5

test: setup data
	@for backend in $(BACKENDS); do \
		echo "=== KERAS_BACKEND=$$backend"; \
		KERAS_BACKEND=$$backend $(BIN)/python -m pytest -q $(PYTEST_ARGS) tests || exit 1; \
	done

clean:
	rm -rf $(VENV) build *.egg-info
