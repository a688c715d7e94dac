# cnab.runtime developer entry points. Everything runs from the .venv that `setup` creates.
#   make deploy   install what is missing, start Docker, run playbooks/deploy.yml
#   make test     install what is missing, start Docker, lint, run the unit and integration tests
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/build/collections
# The playbooks target the implicit localhost; no inventory is needed.
export ANSIBLE_LOCALHOST_WARNING := False
export ANSIBLE_INVENTORY_UNPARSED_WARNING := False

.PHONY: help setup docker azurite registries deploy test lint sanity bench docs galaxy-import matrix clean

help:
	@echo "make setup   Debian packages, .venv, collection installed in build/collections"
	@echo "make docker  start a Docker daemon unless one answers"
	@echo "make azurite start Azurite (Azure Blob emulator, from npm) unless one answers on 127.0.0.1:10000"
	@echo "make registries  start the test OCI registries on 127.0.0.1:5100-5103 unless they answer"
	@echo "make deploy  setup + docker + ansible-playbook playbooks/deploy.yml"
	@echo "make test    setup + docker + azurite + lint + sanity + pytest tests/unit tests/integration"
	@echo "make lint    ruff + ansible-lint + antsibull-changelog lint (fragments and changelog.yaml)"
	@echo "make galaxy-import  galaxy-importer (Galaxy's upload checks, ansible-lint inside) on the built"
	@echo "             tarball, in its own venv build/tools/galaxy-importer; any warning fails"
	@echo "make matrix  on ansible-core 2.16, 2.17, 2.18, 2.19 (venvs in build/matrix/<version>): ansible-test"
	@echo "             sanity, ansible-lint and an integration smoke (MATRIX_CORES=\"2.16 2.19\" for a subset)"
	@echo "make bench   benchmarks/ (ratios against baselines measured in the same run); the no-op benchmark"
	@echo "             once per ansible-core in its matrix venv (BENCH_CORES=\"2.16 2.19\" for a subset)"
	@echo "make sanity  ansible-test sanity on a copy laid out as ansible_collections/cnab/runtime"
	@echo "make docs    antsibull-docs lint + the docs site (modules, roles, lookup, the guides) built offline"
	@echo "             with Sphinx -W -n into build/docs/build/html + headless-Chromium check of a module page"
	@echo "make ee      build context of the AWX execution environment in build/ee (scripts/build-ee.sh)"
	@echo "make fuzz    long-run fuzz tests (CNAB_FUZZ_EXAMPLES, default 10000 per property)"

setup:
	@scripts/setup.sh

docker:
	@scripts/start-docker.sh

azurite:
	@scripts/start-azurite.sh

registries:
	@scripts/start-registries.sh

deploy: setup docker
	ansible-playbook playbooks/deploy.yml

test: setup docker azurite registries lint sanity
	python -m pytest tests/unit tests/integration -q -p no:cacheprovider --durations=25

lint: setup
	ruff check .
	ansible-lint --offline roles/ playbooks/
	antsibull-changelog lint
	antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

sanity: setup
	scripts/sanity.sh

docs: setup
	scripts/docs.sh

galaxy-import: setup
	scripts/galaxy-import.sh

matrix: setup docker registries
	scripts/matrix.sh

# The no-op benchmark runs once per ansible-core the collection claims, each in its matrix venv
# (scripts/matrix.sh creates a missing one; BENCH_CORES="2.16 2.19" for a subset).
BENCH_CORES ?= 2.16 2.17 2.18 2.19
bench: setup docker registries
	MATRIX_CORES="$(BENCH_CORES)" MATRIX_VENVS_ONLY=1 scripts/matrix.sh
	mkdir -p build/bench
	for core in $(BENCH_CORES); do \
	  python benchmarks/noop_overhead.py --venv "$${MATRIX_VENVS:-$(CURDIR)/build/matrix}/$$core" \
	    | tee "build/bench/noop_overhead-$$core.txt"; \
	done
	python benchmarks/install_overhead.py
	python benchmarks/kubernetes_driver.py
	python benchmarks/distribution.py
	python benchmarks/verification.py

.PHONY: ee
ee: setup
	scripts/build-ee.sh

# Long-run fuzzing: >= 10000 generated documents and archives per property (CI runs a bounded number).
.PHONY: fuzz
fuzz: setup
	CNAB_FUZZ_EXAMPLES=$${CNAB_FUZZ_EXAMPLES:-10000} python -m pytest $$(find tests/unit -name 'test_*_fuzz.py') -q -s -p no:cacheprovider

clean:
	rm -rf build .pytest_cache .ruff_cache examples/*/busybox
