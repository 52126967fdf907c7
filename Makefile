# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint typecheck unit chromium dovecot haproxy bench clean rbac-doc

# Installs only when pyproject.toml changed since the last install (keeps `make run` fast).
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>/dev/null || true
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# Readable log lines on the console unless OMNISTREAM_LOG_FORMAT says otherwise (`serve`
# itself logs JSON, for production); OMNISTREAM_SANDBOX_PORT etc. pass through. With Dovecot
# installed (`make dovecot`) the demo also has a mailbox in a local Dovecot; without, no email.
run: $(VENV)/.installed
	OMNISTREAM_LOG_FORMAT=$${OMNISTREAM_LOG_FORMAT:-console} $(BIN)/omnistream serve --with-worker --demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check omnistream tests $(wildcard bench)
	$(BIN)/ruff format --check omnistream tests $(wildcard bench)

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy omnistream

# The browser tests (tests/browser) drive Debian's Chromium: installed here when missing
# (as root, with apt-get), so that `make test` alone works on a clean machine.
chromium:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The email tests (tests/channels/email) start their own Dovecot (Debian's dovecot-imapd) on a
# loopback port with a temporary configuration: installed here when missing. The system
# instance the package may start (and enable) is stopped: the tests never use it.
dovecot:
	@test -x /usr/sbin/dovecot || { \
	  echo "installing Debian's dovecot-imapd for the email tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null && \
	  { systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || \
	    service dovecot stop >/dev/null 2>&1 || true; }; }

# The topology tests (tests/topology, bench/harness/topology.py) put Debian's HAProxy in front of
# two API processes and make a streaming replica with Debian's PostgreSQL binaries
# (/usr/lib/postgresql/15/bin): installed here when missing. The system instances the packages
# may start are left as they are (the tests start their own on free ports).
haproxy:
	@test -x /usr/sbin/haproxy && test -x /usr/lib/postgresql/15/bin/pg_basebackup || { \
	  echo "installing Debian's haproxy and postgresql-15 for the topology tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy postgresql-15 >/dev/null && \
	  { systemctl disable --now haproxy.service >/dev/null 2>&1 || \
	    service haproxy stop >/dev/null 2>&1 || true; }; }

# Two pytest-xdist workers (the VM has 2 cores): a module stays on one worker and all of
# tests/browser/ shares one (the scheduler of tests/conftest.py). The `alone` tests (they
# measure rates against the clock) run afterwards with nothing beside them: a lock shared
# between the workers deadlocked, its file inherited by processes the tests fork.
# PYTEST_WORKERS=0 runs serially, as a targeted `python -m pytest tests/<dir>` does.
PYTEST_WORKERS ?= 2

unit: $(VENV)/.installed-dev chromium dovecot haproxy
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not alone"
	$(BIN)/python -m pytest -m alone

test: lint typecheck unit

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache test-artifacts

# Rewrites the generated part of docs/rbac.md from the routes and the permission table.
rbac-doc: $(VENV)/.installed
	sed -i '/^<!-- generated below/q' docs/rbac.md
	$(BIN)/omnistream rbac-doc >> docs/rbac.md
