# Toolchain for the telnyx.sip collection. `make help` lists the targets;
# docs/development.md explains them.  Every recipe prints what it runs.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The interpreter of a Python X.Y: pyenv's newest X.Y.* (`pyenv prefix X.Y`; pyenv from PATH, else
# $PYENV_ROOT or ~/.pyenv), else a `pythonX.Y` on PATH that runs (a pyenv shim of a version that is not
# selected does not); empty when there is none (the venv targets then say so and stop)
PYENV          ?= $(or $(shell command -v pyenv 2>/dev/null),$(wildcard $(or $(PYENV_ROOT),$(HOME)/.pyenv)/bin/pyenv))
python_for      = $(or $(if $(PYENV),$(wildcard $(shell $(PYENV) prefix $(1) 2>/dev/null | head -n1)/bin/python$(1))),$\
                       $(shell python$(1) -c 'import sys; print(sys.executable)' 2>/dev/null))
# .venv (sanity, lint, docs, units, integration, demo, molecule): the newest supported ansible-core on the
# newest Python it supports. ansible-core 2.20+ needs Python 3.12+, so the machine's default 3.11 will not do
PYTHON_VERSION ?= 3.13
ifeq ($(origin PYTHON),undefined)
PYTHON         := $(call python_for,$(PYTHON_VERSION))
endif
ANSIBLE_CORE   ?= ansible-core==2.22.*
SANITY_PYTHON  ?= $(PYTHON_VERSION)
# extra options, e.g. make units PYTEST_ARGS='-n 2 -k client'
PYTEST_ARGS    ?=
# the integration tests are bound by the CPU (960 s of it, one test at a time), but some wait on the emulator
# (rate limits, timeouts, registrations): three pytest-xdist workers on 2 cores fill those waits (584 s with
# two, 497 s with three); each test file on one worker; the 30 slowest tests are listed (a 10-minute budget)
INTEGRATION_ARGS ?= -n 3 --dist loadfile --durations=30
# the unit tests wait on sockets (the emulator's SIP tests close theirs): two workers halve the wall time
UNIT_ARGS      ?= -n 2
SANITY_ARGS    ?=
PRISM_VERSION  ?= 5
NPM            ?= npm
# where `make asterisk` builds the Asterisk root (the tests read TELNYX_ASTERISK_ROOT, same default)
ASTERISK_ROOT  ?= $(or $(TELNYX_ASTERISK_ROOT),$(HOME)/.cache/telnyx.sip/asterisk-sid)

VENV           := .venv
VPY            := $(VENV)/bin/python
TOOLS          := .tools
PRISM          := $(TOOLS)/node_modules/.bin/prism
SANITY_ROOT    := tests/output/.sanity
REQUIREMENTS   := requirements.txt tests/requirements.txt
# the stamp is keyed on the requirement files, ANSIBLE_CORE and the interpreter:
# change any of them and `make venv` reinstalls, otherwise it is a no-op
REQ_HASH       := $(shell { cat $(REQUIREMENTS) 2>/dev/null; echo '$(ANSIBLE_CORE)'; $(or $(PYTHON),true) -V 2>&1; } | sha256sum | cut -c1-16)
VENV_STAMP     := $(VENV)/.installed-$(REQ_HASH)

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_LINT_SKIP_VERSION_CHECK := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PYTHONDONTWRITEBYTECODE := 1

# stop with a clear message when no interpreter was found for a Python version ($(1): the interpreter, $(2): X.Y)
define need_python
	@if [ -z "$(1)" ]; then echo "ERROR: no Python $(2) found (pyenv prefix $(2), python$(2) on PATH): install it" \
	  "(pyenv install $(2)), or name one: make PYTHON_VERSION=$(2) PYTHON=/path/to/python$(2)"; exit 1; fi
endef

# a venv in $(1) made with $(PYTHON): one made with another Python (a checkout from before .venv moved to 3.13)
# is made anew
define fresh_venv
	$(call need_python,$(PYTHON),$(PYTHON_VERSION))
	@if [ -x $(1)/bin/python ] && [ "$$($(1)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ]; then \
	  echo "+ rm -rf $(1) (made with another Python)"; rm -rf $(1); fi
	@if [ ! -x $(1)/bin/python ]; then echo "+ $(PYTHON) -m venv $(1)"; $(PYTHON) -m venv $(1); fi
endef

# run one pytest suite; exit status 5 (no tests collected) is reported, not failed
define run_pytest
	@if [ ! -d $(1) ]; then echo "SKIP: $(1) does not exist yet"; exit 0; fi; \
	echo "+ $(VPY) -m pytest $(1) $(2) $(PYTEST_ARGS)"; \
	rc=0; $(VPY) -m pytest $(1) $(2) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "NOTE: pytest collected no tests in $(1) (exit 5): not a failure"; rc=0; fi; \
	exit $$rc
endef

.PHONY: integration-tests bench bench-status demo help pythons venv tools prism sip-tools browser-tools asterisk pip-bootstrap sanity sanity-tree lint units integration test clean distclean \
        matrix docs changelog reliability-report galaxy-importer molecule ee

help:
	@echo 'Targets:'
	@echo '  venv         create $(VENV) with Python $(PYTHON_VERSION) ($(or $(PYTHON),not found)) and install requirements.txt + tests/requirements.txt ($(ANSIBLE_CORE))'
	@echo '  tools        prism (npm, into $(TOOLS)) and the offline pip bootstrap for ansible-test'
	@echo '  sip-tools    Debian'"'"'s kamailio, kamailio-sqlite-modules, sqlite3 and sip-tester (apt-get, the missing ones): the PBXs of the SIP tests and SIPp'
	@echo '  browser-tools  Debian'"'"'s chromium (the status page'"'"'s browser tests, headless) and prometheus (its promtool checks the metrics)'
	@echo '  asterisk     a Debian sid root with Asterisk 22 in $(ASTERISK_ROOT) (debootstrap, once; needs root)'
	@echo '  sanity       ansible-test sanity --python $(SANITY_PYTHON) on a copy in $(SANITY_ROOT)'
	@echo '  lint         ansible-lint --offline (profile production) on roles/, examples/, playbooks/ and extensions/; antsibull-changelog lint'
	@echo '  units        pytest tests/unit'
	@echo '  molecule     molecule test -s $(MOLECULE_SCENARIO): the role against the emulator (converge, idempotence, verify)'
	@echo '  ee           ansible-builder create on examples/execution-environment.yml (no container runtime)'
	@echo '  integration  pytest tests/integration (emulator + prism)'
	@echo '  matrix       sanity, units and the leak tests under each other ansible-core in MATRIX ($(MATRIX)), the smoke run under $(MATRIX_SMOKE)'
	@echo '  galaxy-importer  build the artifact and run the Galaxy importer (with ansible-lint) on it; any warning fails'
	@echo '  docs         antsibull-docs lint-collection-docs, then RST reference pages into $(DOCS_DEST)'
	@echo '  changelog    antsibull-changelog lint, and CHANGELOG.md with unreleased fragments into $(CHANGELOG_DEST)'
	@echo '  reliability-report  run tests/integration/reliability, then render docs/reliability.md from its records'
	@echo '  test         all of the above; fails if any step fails'
	@echo '  bench        fleet rollout benchmark against the emulator; writes benchmarks/RESULTS.md (BENCH_ARGS=--full: full size)'
	@echo '  bench-status the fleet status check and page at 10,000 trunks; writes benchmarks/STATUS.md'
	@echo '  demo         start the emulator, run examples/ against it, print the rollout report, stop it'
	@echo '  clean        remove test output and caches; distclean also removes $(VENV) and $(TOOLS)'

## ---------------------------------------------------------------- venv
# the interpreter of .venv and of each matrix release (.ci/run prints them first); fails when one is missing
pythons:
	@missing=0; for entry in .venv:$(PYTHON_VERSION):$(or $(PYTHON),-) \
	  $(foreach r,$(MATRIX),matrix-$(r):$(call matrix_python_version,$(r)):$(or $(call matrix_python,$(r)),-)); do \
	  IFS=: read -r what version python <<< "$$entry"; \
	  if [ "$$python" = - ]; then echo "$$what: Python $$version NOT FOUND (pyenv install $$version)"; missing=1; \
	  else echo "$$what: Python $$version: $$python ($$($$python -V 2>&1))"; fi; done; exit $$missing

venv: $(VENV_STAMP)

$(VENV_STAMP):
	$(call fresh_venv,$(VENV))
	$(VPY) -m pip install --upgrade pip
	$(VPY) -m pip install '$(ANSIBLE_CORE)' $(addprefix -r ,$(REQUIREMENTS))
	rm -f $(VENV)/.installed-*
	touch $@

## ---------------------------------------------------------------- tools
tools: prism pip-bootstrap sip-tools browser-tools asterisk

# install the Debian packages of $(1) that are missing (apt-get, waiting for another install's lock)
define apt_install
missing=$$(for package in $(1); do \
	  dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q 'install ok installed' || echo $$package; done); \
	if [ -n "$$missing" ]; then \
	  echo "+ apt-get update && apt-get install -y --no-install-recommends" $$missing; \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 $$missing; \
	fi
endef

# Kamailio: the real PBX of tests/integration/sip (tests/tools/kamailio_pbx.py, users in an htable) and of
# tests/integration/pbx (tests/tools/kamailio_db_pbx.py: subscribers in SQLite, managed with kamctl).
# SIPp (Debian's sip-tester): the caller of the test calls.
SIP_PACKAGES = kamailio kamailio-sqlite-modules sqlite3 sip-tester

sip-tools:
	@$(call apt_install,$(SIP_PACKAGES)); \
	echo "kamailio: $$(PATH=$$PATH:/usr/sbin kamailio -v | head -n1)"; \
	echo "sqlite3: $$(sqlite3 --version | cut -d' ' -f1)"; \
	echo "sipp: $$(sipp -v 2>&1 | grep -m1 SIPp | sed 's/^ *//')"

# The status page's tests (tests/integration/status) open it in a real browser: Debian's chromium, run headless
# (tests/tools/browser.py); promtool (Debian's prometheus package: only its promtool is used, no server is
# started) checks the Prometheus text file the check writes.
BROWSER_PACKAGES = chromium prometheus

browser-tools:
	@$(call apt_install,$(BROWSER_PACKAGES)); \
	echo "chromium: $$(chromium --version 2>/dev/null | head -n1)"; \
	echo "promtool: $$(promtool --version 2>&1 | head -n1)"

# Asterisk 22: the real PBXs of tests/integration/pbx (tests/tools/asterisk_pbx.py). Debian 12 has no
# package, so a Debian sid root is debootstrapped once, outside the work tree; a second run is a no-op
asterisk:
	$(PYTHON) tests/tools/asterisk_root.py --root $(ASTERISK_ROOT)

prism: $(PRISM)

$(PRISM):
	@command -v $(NPM) >/dev/null || { echo "npm not found: install Node.js and npm (apt-get install -y nodejs npm)"; exit 1; }
	$(NPM) install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error @stoplight/prism-cli@$(PRISM_VERSION)
	$(PRISM) --version

# ansible-test fetches get-pip.py from a host outside PyPI unless a copy is in
# ~/.ansible/test/cache: write one that runs pip from the PyPI wheel
pip-bootstrap: venv
	$(VPY) tests/tools/make_get_pip.py

## ---------------------------------------------------------------- sanity
sanity-tree: venv
	$(VPY) tests/tools/sanity_tree.py --dest $(SANITY_ROOT)

sanity: venv pip-bootstrap
	@dir=$$($(VPY) tests/tools/sanity_tree.py --dest $(SANITY_ROOT) | tail -n1); \
	echo "+ cd $$dir"; cd "$$dir"; \
	echo "+ ansible-test sanity --list-tests"; \
	ansible-test sanity --list-tests --python $(SANITY_PYTHON); \
	echo "+ PIP_QUIET=1 ansible-test sanity --local --python $(SANITY_PYTHON) --color no $(SANITY_ARGS)"; \
	PIP_QUIET=1 ansible-test sanity --local --python $(SANITY_PYTHON) --color no $(SANITY_ARGS)

## ---------------------------------------------------------------- lint
LINT_DIRS = $(strip $(foreach d,roles examples playbooks extensions,$(if $(shell find $(d) -type f \( -name '*.yml' -o -name '*.yaml' \) 2>/dev/null | head -n1),$(d))))

# .ansible-lint holds the profile: production, ansible-lint's strictest, with no skip list
lint: venv
	@if [ -n "$(LINT_DIRS)" ]; then \
	  root=$$($(VPY) -c 'from tests.collection_path import collections_root; print(collections_root())'); \
	  echo "+ ANSIBLE_COLLECTIONS_PATH=$$root ansible-lint --offline $(LINT_DIRS)"; \
	  ANSIBLE_COLLECTIONS_PATH=$$root ansible-lint --offline $(LINT_DIRS); \
	else \
	  echo "SKIP ansible-lint: no YAML files in roles/ or examples/ yet"; \
	fi
	antsibull-changelog lint
	antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

## ---------------------------------------------------------------- galaxy-importer
# Galaxy's own importer (ansible-doc and ansible-lint over the built artifact; its ansible-test step
# needs a container and is off), from its own venv so that its pins do not move $(VENV)'s. Any
# warning fails: tests/tools/galaxy_import.py
IMPORTER_VENV  := .venv-importer
IMPORTER_REQ   := tests/requirements-importer.txt
IMPORTER_STAMP := $(IMPORTER_VENV)/.installed-$(shell { cat $(IMPORTER_REQ) 2>/dev/null; $(or $(PYTHON),true) -V 2>&1; } | sha256sum | cut -c1-16)

$(IMPORTER_STAMP):
	$(call fresh_venv,$(IMPORTER_VENV))
	$(IMPORTER_VENV)/bin/python -m pip install --upgrade pip
	$(IMPORTER_VENV)/bin/python -m pip install -r $(IMPORTER_REQ)
	rm -f $(IMPORTER_VENV)/.installed-*
	touch $@

galaxy-importer: venv $(IMPORTER_STAMP)
	$(VPY) tests/tools/galaxy_import.py --importer-python $(IMPORTER_VENV)/bin/python

## ---------------------------------------------------------------- molecule
# The sip_attach role's Molecule scenario (extensions/molecule/sip_attach), as role authors run it: the emulator
# on loopback (create), the role (converge), again with no change (idempotence), the emulator's state (verify).
# Molecule installs the collection from the work tree first (its prerun); ANSIBLE_HOME keeps that copy, and all
# else Ansible writes, in $(VENV)/.ansible instead of the shared ~/.ansible
MOLECULE_SCENARIO ?= sip_attach

molecule: venv
	ANSIBLE_HOME=$(CURDIR)/$(VENV)/.ansible molecule test -s $(MOLECULE_SCENARIO)

## ---------------------------------------------------------------- ee
# The execution environment definition users build for AWX: `ansible-builder create` (no container runtime
# needed) writes its build context, which must name the base image and the ansible-core that docs/awx.md names
ee: venv
	$(VPY) -m pytest -q tests/integration/ecosystem/test_execution_environment.py -k builds_a_context $(PYTEST_ARGS)

## ---------------------------------------------------------------- pytest
units: venv
	$(call run_pytest,tests/unit,$(UNIT_ARGS))

# The reliability scenarios of every worker record under one session id; once they have all run,
# docs/reliability.md must show exactly what they recorded (the page never lies).
integration: venv prism
	@export TELNYX_RELIABILITY_SESSION=make-$$(date +%s%N); \
	$(MAKE) --no-print-directory integration-tests && \
	{ echo "+ $(VPY) tests/tools/reliability_report.py --check --session $$TELNYX_RELIABILITY_SESSION"; \
	  $(VPY) tests/tools/reliability_report.py --check --session $$TELNYX_RELIABILITY_SESSION; }

integration-tests:
	$(call run_pytest,tests/integration,$(INTEGRATION_ARGS))

# The reliability figures: the fault scenarios record what they saw (under one session id, whatever
# the number of workers), then the script renders the page from exactly those records.
# `make integration` runs the same tests, then fails when docs/reliability.md is stale.
reliability-report: venv
	@export TELNYX_RELIABILITY_SESSION=report-$$(date +%s%N); \
	echo "+ $(VPY) -m pytest tests/integration/reliability $(PYTEST_ARGS)"; \
	$(VPY) -m pytest tests/integration/reliability $(PYTEST_ARGS) && \
	{ echo "+ $(VPY) tests/tools/reliability_report.py --timings --session $$TELNYX_RELIABILITY_SESSION"; \
	  $(VPY) tests/tools/reliability_report.py --timings --session $$TELNYX_RELIABILITY_SESSION; }

## ---------------------------------------------------------------- matrix
# The other supported ansible-core releases (meta/runtime.yml: >=2.19; the newest, 2.22, is .venv's), each on a
# Python it supports (MATRIX_PYTHON_X.Y; 2.20 and newer need 3.12+, 2.19 is the last on the machines' default 3.11),
# one Python each: releases that run at once on one Python race to create the same ansible-test sanity venv
# (~/.ansible/test/venv/sanity/X.Y/<hash>, keyed on the Python and the requirements), and one of them fails.
# Each gets a venv in $(MATRIX_VENVS)/venv-X.Y-pyA.B (outside the work tree, so a fresh clone on the same machine
# reuses it and the sanity copy never picks it up) with what the steps below need, and runs there:
#   - ansible-test sanity (on a copy in tests/output/.sanity-X.Y) and the unit tests
#   - the secret-leak tests, `pytest -m leak tests/integration` (results, diffs, warnings, -vvv, reports)
#   - under MATRIX_SMOKE only (the oldest supported release), the smoke run, `pytest -m smoke tests/integration`:
#     make demo's example playbooks (every module, the role end to end, the PBX half) and every module's and
#     filter's EXAMPLES against the emulator. Not the whole suite: `make test` keeps to its time budget. Another
#     release: `make matrix-2.20 MATRIX_SMOKE=2.20`
# `make matrix-2.20` runs one release; `make matrix MATRIX=2.21 MATRIX_PYTHON_2.21=3.13` another Python.
MATRIX             ?= 2.19 2.20 2.21
MATRIX_PYTHON_2.19 ?= 3.11
MATRIX_PYTHON_2.20 ?= 3.12
MATRIX_PYTHON_2.21 ?= 3.13
MATRIX_SMOKE       ?= $(firstword $(MATRIX))
MATRIX_VENVS       ?= $(HOME)/.cache/telnyx.sip
# the releases already run at once on the 2 cores: one pytest worker each
MATRIX_INTEGRATION_ARGS ?= --durations=5
MATRIX_PACKAGES    := pytest pytest-ansible pytest-xdist flask jsonschema pyyaml hypothesis ansible-runner
# the Python version of release $(1) (a release not listed above: .venv's), and its interpreter
matrix_python_version = $(or $(MATRIX_PYTHON_$(1)),$(PYTHON_VERSION))
matrix_python         = $(call python_for,$(call matrix_python_version,$(1)))
matrix_venv           = $(MATRIX_VENVS)/venv-$(1)-py$(call matrix_python_version,$(1))

# the releases at once, each in its own venv and sanity copy (each one's output printed whole when it is done)
matrix:
	$(MAKE) --no-print-directory -j$(words $(MATRIX)) --output-sync=target $(addprefix matrix-,$(MATRIX))

matrix-venv-%:
	$(call need_python,$(call matrix_python,$*),$(call matrix_python_version,$*))
	@python=$(call matrix_python,$*); venv=$(call matrix_venv,$*); \
	stamp=$$venv/.installed-$$( { cat requirements.txt; echo '$(MATRIX_PACKAGES)'; $$python -V 2>&1; } | sha256sum | cut -c1-16); \
	if [ -f $$stamp ]; then echo "$$venv is up to date"; exit 0; fi; \
	set -x; \
	[ -x $$venv/bin/python ] || $$python -m venv $$venv; \
	$$venv/bin/python -m pip install -q --upgrade pip; \
	$$venv/bin/python -m pip install -q 'ansible-core==$*.*' -r requirements.txt $(MATRIX_PACKAGES); \
	rm -f $$venv/.installed-*; touch $$stamp

# the integration steps start the emulator themselves; pytest's exit 5 (nothing collected) is not a failure
matrix-%: matrix-venv-%
	@venv=$(call matrix_venv,$*); export PATH=$$venv/bin:$$PATH; py=$(call matrix_python_version,$*); \
	echo "+ [ansible-core $*] $$(ansible --version | sed -n 1p), Python $$py"; \
	$$venv/bin/python tests/tools/make_get_pip.py; \
	dir=$$($$venv/bin/python tests/tools/sanity_tree.py --dest tests/output/.sanity-$* | tail -n1); \
	failed=""; \
	echo "+ [ansible-core $*] (cd $$dir && ansible-test sanity --local --python $$py)"; \
	(cd "$$dir" && PIP_QUIET=1 ansible-test sanity --local --python $$py --color no $(SANITY_ARGS)) || failed="$$failed sanity"; \
	pytest() { echo "+ [ansible-core $*] $$venv/bin/python -m pytest $$*"; \
	  rc=0; $$venv/bin/python -m pytest "$$@" || rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]; }; \
	pytest -q tests/unit $(UNIT_ARGS) $(PYTEST_ARGS) || failed="$$failed units"; \
	pytest -q -m leak tests/integration $(MATRIX_INTEGRATION_ARGS) $(PYTEST_ARGS) || failed="$$failed leak"; \
	if echo " $(MATRIX_SMOKE) " | grep -q " $* "; then \
	  pytest -q -m smoke tests/integration $(MATRIX_INTEGRATION_ARGS) $(PYTEST_ARGS) || failed="$$failed smoke"; fi; \
	if [ -n "$$failed" ]; then echo "FAILED: ansible-core $*:$$failed"; exit 1; fi

## ---------------------------------------------------------------- docs
DOCS_DEST      := tests/output/docsite
CHANGELOG_DEST := tests/output/changelog

# lint the collection's docs (plugins and the role's argument specs, as antsibull-docs
# reads them from a collections tree), then write the RST reference pages
docs: venv
	@root=$$($(VPY) -c 'from tests.collection_path import collections_root; print(collections_root())'); \
	export ANSIBLE_COLLECTIONS_PATH=$$root; \
	echo "+ (cd $$root/ansible_collections/telnyx/sip && antsibull-docs lint-collection-docs --plugin-docs .)"; \
	(cd $$root/ansible_collections/telnyx/sip && antsibull-docs lint-collection-docs --plugin-docs .); \
	rm -rf $(DOCS_DEST); mkdir -p -m 700 $(DOCS_DEST); \
	echo "+ antsibull-docs collection --use-current --dest-dir $(DOCS_DEST) telnyx.sip"; \
	antsibull-docs collection --use-current --dest-dir $(DOCS_DEST) telnyx.sip; \
	find $(DOCS_DEST) -name '*.rst' | sort

# CHANGELOG.md is generated from changelogs/changelog.yaml (antsibull-changelog generate).
# CI previews the next release without consuming the fragments: a copy of the changelog
# files in $(CHANGELOG_DEST) gets `antsibull-changelog release`, and CHANGELOG.md must build.
changelog: venv
	antsibull-changelog lint
	antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	@rm -rf $(CHANGELOG_DEST); mkdir -p $(CHANGELOG_DEST)/meta; \
	cp -r galaxy.yml CHANGELOG.md changelogs plugins $(CHANGELOG_DEST)/; cp meta/runtime.yml $(CHANGELOG_DEST)/meta/; \
	cd $(CHANGELOG_DEST); \
	if grep -q '^releases: *{}' changelogs/changelog.yaml; then \
	  echo "no release in changelogs/changelog.yaml yet: CHANGELOG.md is the placeholder, not checked"; \
	else \
	echo "+ antsibull-changelog generate (must leave CHANGELOG.md as committed)"; \
	antsibull-changelog generate; \
	cmp -s CHANGELOG.md $(CURDIR)/CHANGELOG.md || { \
	  echo "CHANGELOG.md differs from what 'antsibull-changelog generate' writes: run it and commit"; \
	  diff -u $(CURDIR)/CHANGELOG.md CHANGELOG.md || true; exit 1; }; \
	fi; \
	version=$$(sed -n 's/^version: *//p' galaxy.yml); \
	echo "+ antsibull-changelog release --version $$version (in $(CHANGELOG_DEST): fragments stay)"; \
	antsibull-changelog release --version $$version; \
	grep -q "^## v" CHANGELOG.md; \
	echo "preview of the $$version release notes: $(CHANGELOG_DEST)/CHANGELOG.md"

## ---------------------------------------------------------------- all
# runs every step even after a failure, prints a summary with timings,
# and exits non-zero if any step failed
TEST_STEPS := venv tools sanity lint galaxy-importer docs changelog ee units molecule integration matrix

test:
	@failed=""; summary=""; \
	for step in $(TEST_STEPS); do \
	  echo "=================================================== make $$step"; \
	  start=$$(date +%s); rc=0; \
	  $(MAKE) --no-print-directory $$step || rc=$$?; \
	  secs=$$(( $$(date +%s) - start )); \
	  if [ $$rc -eq 0 ]; then res=ok; else res="FAILED ($$rc)"; failed="$$failed $$step"; fi; \
	  summary="$$summary$$(printf '%-12s %-12s %4ss' $$step "$$res" $$secs)\n"; \
	  if [ $$rc -ne 0 ] && [ $$step = venv ]; then break; fi; \
	done; \
	echo "=================================================== summary"; \
	printf "$$summary"; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi; \
	echo "all steps passed"

## ---------------------------------------------------------------- demo
# the emulator on loopback, the example playbooks against it, the report
demo: venv
	$(VPY) tests/tools/demo.py

## ---------------------------------------------------------------- bench
# figures, not a timed test: writes benchmarks/RESULTS.md (a few minutes; BENCH_ARGS=--full: the full size,
# 10,000 trunks on 5,000 PBX hosts and the loop/uri alternatives, about 20 minutes)
bench: venv
	$(VPY) benchmarks/run.py $(BENCH_ARGS)

# the fleet status at 10,000 trunks (issue 22): the check's requests and time against the API bound, and the
# page's open time in headless Chromium; writes benchmarks/STATUS.md (about 6 minutes)
bench-status: venv
	$(VPY) benchmarks/status.py $(BENCH_ARGS)

## ---------------------------------------------------------------- clean
clean:
	rm -rf tests/output .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -path ./$(TOOLS) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(TOOLS)
