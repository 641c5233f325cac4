# llm2fx-lab: `make lab` opens the studio, `make test` runs every test. Both install first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: lab test install system-deps bench examples mini clean

# torch==2.13.0 (the local CPU wheel) must come first: if a torch-dependent package is
# resolved before it, pip pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/jupyter labextension disable --level=sys_prefix "@jupyterlab/apputils-extension:announcements" >/dev/null 2>&1 || true
	touch $(STAMP)

install: $(STAMP)

# Debian packages used by the data generator (fluidsynth + GM soundfont) and browser tests
# (chromium); installed only where missing.
system-deps:
	@bash scripts/install_system_deps.sh

lab: $(STAMP)
	$(BIN)/jupyter lab --port=$(PORT) $(if $(filter 0,$(shell id -u)),--allow-root,) notebooks/01_studio.ipynb

# playwright-core (npm) drives Debian's chromium in the real-browser test; never a browser download.
BROWSER_NODE := tests/ui/browser/node_modules/.package-lock.json
$(BROWSER_NODE): tests/ui/browser/package.json tests/ui/browser/package-lock.json | system-deps
	npm ci --prefix tests/ui/browser --no-audit --no-fund --loglevel=error

# pytest exit code 5 means "no tests collected": that is a failure here, never a silent pass.
test: $(STAMP) system-deps $(BROWSER_NODE)
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

bench: $(STAMP) system-deps $(BROWSER_NODE)
	@for b in benchmarks/*.py; do case $$b in */_*) continue;; esac; \
	  echo "== $$b"; $(BIN)/python $$b || exit 1; done

# llm2fx-mini from scratch into runs/mini (data, both stages, evaluation, MODEL_CARD.md):
# data + training about two hours on 2 CPU cores, then the evaluation on the benchmark's 900
# test pairs (the card gives each phase's time). Interrupted, it resumes where it stopped when
# run again. To replace the shipped weights:
#   .venv/bin/python scripts/make_mini.py --install --overwrite
mini: $(STAMP) system-deps
	$(BIN)/python scripts/make_mini.py --run runs/mini

examples: $(STAMP) system-deps
	$(BIN)/python scripts/make_examples.py --overwrite

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache tests/artifacts tests/ui/browser/node_modules
