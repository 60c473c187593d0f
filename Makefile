# The two commands of the README: `make run` and `make test`. Each sets itself up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT
# DATABASE_URL gets no default here: unset, `callrecon db ensure` settles on a server (the local one, else the
# embedded one it starts) and writes its URL to .callrecon.db.env, which every later step sources (an exported
# DATABASE_URL wins over it).
WITH_DB := source .callrecon.db.env &&

.PHONY: run test install db db-stop clean engines schema console-token

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

# db upgrade creates the roles (docs/operations.md, Roles); local-roles gives each process its own login, in .callrecon.roles.env.
db: install
	$(BIN)/callrecon db ensure
	$(WITH_DB) $(BIN)/callrecon db upgrade
	$(WITH_DB) $(BIN)/callrecon db local-roles

# The embedded PostgreSQL keeps running after make run stops; this stops it. Its data stays in .callrecon-pg/.
db-stop: install
	$(BIN)/python -m receiver.database.embedded stop

# First run writes .callrecon.env (mode 600) with fresh callback tokens (Huawei's only once HUAWEI_TIMEZONE is
# exported: its times carry no zone); exported variables win over it.
.callrecon.env:
	@umask 077; new() { $(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(24))'; }; \
	  printf 'export OZONETEL_CALLBACK_TOKENS="$${OZONETEL_CALLBACK_TOKENS:-%s}"\n' "$$(new)" > $@; \
	  if [ -n "$${HUAWEI_TIMEZONE:-}" ]; then \
	    printf 'export HUAWEI_CALLBACK_TOKENS="$${HUAWEI_CALLBACK_TOKENS:-%s}"\n' "$$(new)" >> $@; \
	    printf 'export HUAWEI_TIMEZONE="$${HUAWEI_TIMEZONE:-%s}"\n' "$$HUAWEI_TIMEZONE" >> $@; \
	  else echo "# Huawei: export HUAWEI_TIMEZONE (the tenant's zone, e.g. Asia/Shanghai) and delete this file to mint its token" >> $@; fi; \
	  printf 'export OPS_TOKENS="$${OPS_TOKENS:-%s}"\n' "$$(new)" >> $@; \
	  echo "wrote $@ with new callback tokens and a console token (keep them private; delete the file to rotate)"

# A .callrecon.env written before the console token was kept there gets one, once.
console-token: .callrecon.env
	@grep -q '^export OPS_TOKENS=' .callrecon.env || { umask 077; \
	  printf 'export OPS_TOKENS="$${OPS_TOKENS:-%s}"\n' "$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(24))')" \
	    >> .callrecon.env; echo "added a console token (OPS_TOKENS) to .callrecon.env"; }

run: db .callrecon.env console-token
	@source .callrecon.db.env; source .callrecon.env; \
	  base="$${PUBLIC_BASE_URL:-http://$$(hostname -I 2>/dev/null | awk '{print $$1}' | grep . || echo 127.0.0.1):$(PORT)}"; \
	  echo "Paste the callBackUrl into each vendor's console:"; \
	  $(BIN)/callrecon urls --base "$$base"; \
	  echo; echo "The operator console: $$base/ops; sign in with the token OPS_TOKENS in .callrecon.env, shown by:"; \
	  echo '  source .callrecon.env && echo "$${OPS_TOKENS%%,*}"'; \
	  echo; echo "Try it from this folder in a second terminal (README, Try it in five minutes):"; \
	  echo "  export PORT=$(PORT)  # and DATABASE_URL, if you exported one for make run"; \
	  sed -n '/^source .callrecon.env/,/^callrecon status/p' README.md | sed 's/^/  /'; echo; \
	  source .callrecon.roles.env; DATABASE_URL="$$WEB_DATABASE_URL" OPS_DATABASE_URL="$${OPS_DATABASE_URL:-$$RECONCILER_DATABASE_URL}" \
	  exec $(BIN)/gunicorn -c python:receiver.gunicorn_conf 'receiver:create_app()'

# Lint and import contracts first (pyproject.toml [tool.ruff], setup.cfg [importlinter]): either failing fails the build.
test: install engines
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/callrecon db ensure
	$(WITH_DB) $(BIN)/python -m pytest $(PYTEST_ARGS)

# The engines some tests drive, from Debian, installed when missing (root, as CI runs): Chromium for the
# console's browser test, PgBouncer for the pooler test, promtool (package prometheus) for the alert rules.
# apt waits up to 5 minutes for another apt to finish. Where one cannot be installed, its test is skipped
# with the reason.
ENGINES := chromium:chromium chromedriver:chromium-driver pgbouncer:pgbouncer promtool:prometheus
engines:
	@missing=$$(for e in $(ENGINES); do command -v $${e%%:*} >/dev/null || echo $${e#*:}; done | tr "\n" " "); \
	  [ -z "$$missing" ] || { echo "installing $$missing from Debian"; \
	    apt-get -o DPkg::Lock::Timeout=300 update -qq && \
	    apt-get -o DPkg::Lock::Timeout=300 install -y -qq $$missing >/dev/null; } || \
	  echo "could not install $$missing: the tests that drive them will be skipped, each saying why"

# The two generated files, sql/schema.sql and docs/schema.md, rewritten from a scratch database that
# `callrecon db upgrade` builds on the server DATABASE_URL names; the tests fail while either is stale.
schema: install
	$(BIN)/callrecon db ensure >/dev/null
	$(WITH_DB) $(BIN)/python -m receiver.database.snapshot

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
