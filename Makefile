# Everything runs from a local virtual environment with exact pins (requirements.lock).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The independent OCPP check's CSMS (ocpp-rpc), installed exactly as its package-lock.json says.
NODE_CSMS := tests/conformance/ocpp_rpc_csms
NODE_STAMP := $(NODE_CSMS)/node_modules/.installed

.PHONY: demo test run check bench release clean
# `make release`: the update package dist/borne-<version>.tar.gz (docs/firmware-update.md). For a
# box of another platform, e.g. a Raspberry Pi on Bookworm:
#   make release PLATFORM=manylinux_2_36_aarch64 PYTHON_VERSION=3.11 SIGNING_KEY=signing-key.pem
PLATFORM ?=
PYTHON_VERSION ?=
SIGNING_KEY ?=

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(NODE_STAMP): $(NODE_CSMS)/package.json $(NODE_CSMS)/package-lock.json
	npm ci --prefix $(NODE_CSMS) --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

demo: $(STAMP)
	$(BIN)/chargepoint demo

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

run: $(STAMP)
	$(BIN)/chargepoint run --config firmware.toml

check: $(STAMP)
	$(BIN)/chargepoint config check firmware.toml

bench: $(STAMP)
	$(BIN)/python -m benchmarks

release: $(STAMP)
	$(BIN)/python -m chargepoint.firmware.build --project . --out dist \
		$(if $(PLATFORM),--platform $(PLATFORM)) $(if $(PYTHON_VERSION),--python-version $(PYTHON_VERSION)) \
		$(if $(SIGNING_KEY),--sign-key $(SIGNING_KEY))

clean:
	rm -rf $(VENV) build dist *.egg-info $(NODE_CSMS)/node_modules
