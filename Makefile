# make install   virtual environment .venv with torch (CPU 2.13.0 here), fairseq-fixed and the plugin
# make test      the test suite on two workers (what CI runs)
# make demo      the main job on the bundled text-proxy data
# make studies   the paper's Tables 1, 5-7, Fig. 2 and 4 and the SCST teacher (after, or including, the demo)
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
FAIRSEQ ?= fairseq-fixed==0.12.3.1
BIN = $(VENV)/bin

.PHONY: install test demo studies clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip setuptools wheel
	# torch first, pinned: fairseq-fixed's build imports it, and a bare requirement can pull a CUDA build
	$(BIN)/pip install $(TORCH) numpy cython
	# --no-deps: its metadata asks for torchaudio (never imported here); setup.py lists its real needs
	$(BIN)/pip install --no-deps --no-build-isolation $(FAIRSEQ)
	$(BIN)/pip install -e ".[images,data,dev]"
	touch $@

test: install
# two workers (pytest-xdist), each on one thread: 11.7 minutes here against 18.6 on one worker with two
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist worksteal tests

demo: install
	PATH=$(CURDIR)/$(BIN):$$PATH bash examples/text_proxy/run.sh

studies: install
	PATH=$(CURDIR)/$(BIN):$$PATH bash examples/studies/run.sh

clean:
	rm -rf $(VENV) *.egg-info
