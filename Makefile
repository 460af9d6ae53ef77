# cooperate: `make` builds build/vendor/ (the pinned PyYAML and portalocker,
# used from a checkout) and the zipapp dist/cooperate.pyz. Real targets with
# real dependencies: a second `make` does nothing. `make help` lists the rest.

PYTHON ?= python3
PREFIX ?= /usr/local
DESTDIR ?=

# `make install PREFIX=~` from a shell that leaves the ~ alone
prefix := $(if $(filter ~ ~/%,$(PREFIX)),$(HOME)$(patsubst ~%,%,$(PREFIX)),$(PREFIX))
bindir := $(DESTDIR)$(prefix)/bin

ARCHIVE := dist/cooperate.pyz
VENDOR := build/vendor/VENDORED.txt
# The archive's inputs under lib/, from build.py itself. It also keeps
# build/sources.list, rewritten only when that list changes, so that adding or
# removing a file rebuilds the archive too.
SOURCES := $(shell $(PYTHON) build.py --sources)

.PHONY: all vendor install uninstall test test-fast test-slow testenv man demo bench soak soak-nfs clean distclean help

all: $(ARCHIVE)

vendor: $(VENDOR)

# build.py leaves an up-to-date tree (and its stamp) alone: touch the stamp so
# that make sees it newer than build.py
$(VENDOR): build.py
	$(PYTHON) build.py --vendor
	@touch $@

$(ARCHIVE): build.py $(VENDOR) build/sources.list $(SOURCES)
	$(PYTHON) build.py

# written by `build.py --sources` above, whenever make reads this file
build/sources.list:

# the man page, made from the commands' parsers (cooperate completion man)
MAN := dist/cooperate.1
man1dir := $(DESTDIR)$(prefix)/share/man/man1

man: $(MAN)

$(MAN): $(ARCHIVE)
	$(PYTHON) $(ARCHIVE) completion man > $@.tmp
	mv -f $@.tmp $@

# Copied under a temporary name and renamed over the old archive, so that
# workers already running from it keep reading the file they opened.
install: $(ARCHIVE) $(MAN)
	install -d "$(bindir)" "$(man1dir)"
	install -m 0755 $(ARCHIVE) "$(bindir)/.cooperate.pyz.new"
	mv -f "$(bindir)/.cooperate.pyz.new" "$(bindir)/cooperate.pyz"
	@set -e; for name in $$($(PYTHON) build.py --links); do \
		echo "ln -sfn cooperate.pyz $(bindir)/$$name"; \
		ln -sfn cooperate.pyz "$(bindir)/$$name"; \
	done
	install -m 0644 $(MAN) "$(man1dir)/cooperate.1"

uninstall:
	@set -e; for name in $$($(PYTHON) build.py --links); do \
		if [ -L "$(bindir)/$$name" ]; then echo "rm $(bindir)/$$name"; rm -f "$(bindir)/$$name"; fi; \
	done
	rm -f "$(bindir)/cooperate.pyz" "$(man1dir)/cooperate.1"

# The tests run with $(PYTHON) when it has pytest and hypothesis, else with
# a venv of that Python, build/testenv-3.X/, holding tests/requirements.txt
# (made once, remade when that file changes). Asked only for a test goal.
ifneq ($(filter test test-fast test-slow testenv,$(MAKECMDGOALS)),)
TESTENV := $(shell $(PYTHON) -c 'import importlib.util as u, sys; \
  u.find_spec("pytest") and u.find_spec("hypothesis") or \
  print("build/testenv-%d.%d" % sys.version_info[:2])')
endif
TEST_PYTHON := $(if $(TESTENV),$(TESTENV)/bin/python,$(PYTHON))
TEST_DEPS := $(if $(TESTENV),$(TESTENV)/installed)

testenv: $(TEST_DEPS)

ifneq ($(TESTENV),)
$(TESTENV)/installed: tests/requirements.txt
	rm -rf $(TESTENV)
	$(PYTHON) -m venv $(TESTENV) || { echo "make: $(PYTHON) cannot make a venv" \
	  "(Debian, Ubuntu: apt-get install python3-venv); or install pytest and" \
	  "hypothesis for it yourself" >&2; exit 1; }
	$(TESTENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  -r tests/requirements.txt
	@touch $@
endif

# two tiers: the fast one (no kills, namespaces, users or services) first,
# stopping at its first failure; then the slow one (tests/conftest.py: SLOW)
test: test-fast test-slow

test-fast: all $(TEST_DEPS)
	$(TEST_PYTHON) -m pytest -q -x -m "not slow" tests

test-slow: all $(TEST_DEPS)
	$(TEST_PYTHON) -m pytest -q -m slow tests

demo: all
	sh examples/demo.sh

bench: all
	$(PYTHON) bench/run.py

# minutes of random kills over simulated hosts; needs root for unshare
soak: all
	$(PYTHON) bench/soak.py

# the same on the NFS test bed (../shared/nfs): two locking mounts; root, /dev/fuse
soak-nfs: all
	$(PYTHON) bench/soak.py --nfs

# keeps build/downloads/, so that the next build needs no network
clean:
	rm -rf dist build/vendor build/sources.list
	find lib tests -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf build

help:
	@echo "make                  build/vendor/ and dist/cooperate.pyz (PYTHON=$(PYTHON))"
	@echo "make install          dist/cooperate.pyz and its cooperate-* links into"
	@echo "                      \$$(DESTDIR)\$$(PREFIX)/bin (PREFIX=$(PREFIX); PREFIX=~ works)"
	@echo "                      and the man page into \$$(PREFIX)/share/man/man1"
	@echo "make uninstall        remove them again"
	@echo "make man              dist/cooperate.1, the man page (man -l dist/cooperate.1)"
	@echo "make test             build, then the fast tier of tests, then the slow tier"
	@echo "                      (with pytest and hypothesis from a venv in build/ if"
	@echo "                      \$$(PYTHON) lacks them: tests/requirements.txt)"
	@echo "make test-fast        build, then the fast tier (no kills, namespaces, users: ~2 min)"
	@echo "make test-slow        build, then the slow tier only"
	@echo "make demo             build, then sh examples/demo.sh"
	@echo "make bench            build, then $(PYTHON) bench/run.py"
	@echo "make soak             build, then $(PYTHON) bench/soak.py (random kills; root)"
	@echo "make soak-nfs         the same on the NFS test bed (two locking mounts; root, fuse)"
	@echo "make clean            remove dist/ and build/ but for build/downloads/"
	@echo "make distclean        remove build/downloads/ too (the next build fetches again)"
