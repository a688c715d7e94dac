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

.PHONY: help setup docker azurite deploy test lint sanity bench clean

help:
	@echo "make setup   Debian packages, .venv, collection installed in build/collections"
	@echo "make docker  start a Docker daemon unless one answers"
	@echo "make azurite start Azurite (Azure Blob emulator, from npm) unless one answers on 127.0.0.1:10000"
	@echo "make deploy  setup + docker + ansible-playbook playbooks/deploy.yml"
	@echo "make test    setup + docker + azurite + lint + sanity + pytest tests/unit tests/integration"
	@echo "make lint    ruff + ansible-lint"
	@echo "make bench   benchmarks/ (ratios against baselines measured in the same run)"
	@echo "make sanity  ansible-test sanity on a copy laid out as ansible_collections/cnab/runtime"
	@echo "make ee      build context of the AWX execution environment in build/ee (scripts/build-ee.sh)"

setup:
	@scripts/setup.sh

docker:
	@scripts/start-docker.sh

azurite:
	@scripts/start-azurite.sh

deploy: setup docker
	ansible-playbook playbooks/deploy.yml

test: setup docker azurite lint sanity
	python -m pytest tests/unit tests/integration -q -p no:cacheprovider

lint: setup
	ruff check .
	ansible-lint --offline roles/ playbooks/

sanity: setup
	scripts/sanity.sh

bench: setup docker
	python benchmarks/install_overhead.py
	python benchmarks/kubernetes_driver.py

.PHONY: ee
ee: setup
	scripts/build-ee.sh

clean:
	rm -rf build .pytest_cache .ruff_cache examples/*/busybox
