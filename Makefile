# `make app` and `make test` set everything up on first use (scripts/setup.sh).
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: setup app serve test bench

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

# make app PORT=8600 ADDRESS=127.0.0.1 (also STREAMLIT_SERVER_PORT / STREAMLIT_SERVER_ADDRESS)
SERVE_FLAGS = $(if $(PORT),--port $(PORT)) $(if $(ADDRESS),--address $(ADDRESS))

app: setup  ## the studio in the browser, on this machine only (http://127.0.0.1:8501)
	$(PY) -m ui.serve $(SERVE_FLAGS)

serve: setup  ## the studio for your team: all interfaces, sign-in required (README: Serving to your team)
	$(PY) -m ui.serve --expose $(SERVE_FLAGS)

test: setup  ## the whole test suite
	$(PY) -m pytest -q

bench: setup  ## training-step speed against the classic DCGAN loop
	$(PY) bench/train_speed.py
