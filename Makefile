# sttm — the two commands of the README:
#   make demo   build the knowledge base from the open data (embedded GeoPackage) and serve the portal
#   make test   run the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STTM   := $(VENV)/bin/sttm
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: demo test install system kb serve bench clean

demo: install kb
	$(STTM) remix load        # Remix registries: PNRR projects and Milano's degraded areas
	$(STTM) lum build         # STTM 2: LUM around rail and metro stops
	$(STTM) access run        # STTM 2: demand grid and 15-minute accessibility
	$(STTM) nbs context --save  # STTM 1: hydraulic context of every comune
	$(STTM) serve --host $(HOST) --port $(PORT)

test: install
	@dups=$$(find tests -name 'test_*.py' -printf '%f\n' | sort | uniq -d); \
	  if [ -n "$$dups" ]; then echo "test modules must have unique names (pytest rootdir imports): $$dups"; exit 1; fi
	@if grep -rln '^ *from conftest import' tests; then \
	  echo "import shared test helpers from a uniquely named module, not from conftest (several wings have one)"; exit 1; fi
	$(VENV)/bin/pytest -q -p no:cacheprovider

ASSETS_STAMP := src/sttm/web/static/vendor/.built

install: $(VENV)/.installed $(ASSETS_STAMP)

system:
	bash scripts/install-system.sh

$(VENV)/.installed: requirements.lock pyproject.toml
	bash scripts/install-system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(ASSETS_STAMP): $(VENV)/.installed src/sttm/web/assets/package-lock.json src/sttm/web/build_assets.py
	$(PY) src/sttm/web/build_assets.py
	touch $@

kb: install
	$(STTM) kb build

bench: install
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf var/sttm.gpkg var/sttm.gpkg-wal var/sttm.gpkg-shm
