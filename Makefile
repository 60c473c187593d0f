# The two commands of the README: `make run` and `make test`. Each sets itself up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
export DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/callrecon
export PORT

.PHONY: run test install db clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

db: install
	$(BIN)/callrecon db ensure
	$(BIN)/callrecon db upgrade

# First run writes .callrecon.env (mode 600) with a fresh callback token; exported variables win over it.
.callrecon.env:
	@umask 077; new() { $(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(24))'; }; \
	  printf 'export OZONETEL_CALLBACK_TOKENS="$${OZONETEL_CALLBACK_TOKENS:-%s}"\n' "$$(new)" > $@; \
	  printf 'export HUAWEI_CALLBACK_TOKENS="$${HUAWEI_CALLBACK_TOKENS:-%s}"\n' "$$(new)" >> $@; \
	  echo "wrote $@ with new callback tokens (keep them private; delete the file to rotate)"

run: db .callrecon.env
	@source .callrecon.env; \
	  base="$${PUBLIC_BASE_URL:-http://$$(hostname -I 2>/dev/null | awk '{print $$1}' | grep . || echo 127.0.0.1):$(PORT)}"; \
	  echo "Paste the callBackUrl into each vendor's console:"; \
	  $(BIN)/callrecon urls --base "$$base"; \
	  exec $(BIN)/gunicorn -c python:receiver.gunicorn_conf 'receiver:create_app()'

test: install
	$(BIN)/callrecon db ensure
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
