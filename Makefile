# The two commands: `make demo` (set up, fetch Fashion-MNIST, use the shipped models, then
# train the LSTM classifier briefly, export it, classify test images from the export) and `make test` (set up, run the whole suite once per backend).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BACKENDS ?= tensorflow jax torch
FASHION_MNIST_DIR ?= /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
# Two pytest workers, a test file each at a time (--dist loadfile keeps a file's module
# fixtures in one process): on a 2-core EPYC Zen 3 the serial suite took 40 + 37 + ~20 min.
TEST_WORKERS ?= 2

.PHONY: setup data demo test clean

setup: $(VENV)/.installed

# constraints.txt pins the CPU wheel of torch; an unpinned torch is a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[jax,torch,onnx,litert,openvino,dev]'
	touch $@

# Debian's package ships the four Fashion-MNIST IDX files (no internet needed beyond apt).
data:
	@test -f $(FASHION_MNIST_DIR)/train-images-idx3-ubyte.gz || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; }

demo: setup data
	$(BIN)/zoo list
	$(BIN)/zoo predict lstm_fashion_mnist $(FASHION_MNIST_DIR)/t10k-images-idx3-ubyte.gz | head -5
	$(BIN)/zoo generate char_lm_shakespeare --prompt ROMEO: --length 200 --temperature 0.8 --seed 0
	$(BIN)/zoo translate seq2seq_addition "123+45" "1+1" "999+999"
	$(BIN)/zoo train lstm_fashion_mnist --epochs 1 --limit 10000 --out runs/demo --overwrite
	$(BIN)/zoo export runs/demo
	$(BIN)/zoo predict runs/demo/export $(FASHION_MNIST_DIR)/t10k-images-idx3-ubyte.gz | head -5

test: setup data
	@for backend in $(BACKENDS); do \
		echo "=== KERAS_BACKEND=$$backend"; \
		KERAS_BACKEND=$$backend $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15 $(PYTEST_ARGS) tests || exit 1; \
	done

clean:
	rm -rf $(VENV) build *.egg-info
