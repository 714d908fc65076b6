# `make app` and `make test` set everything up on first use (scripts/setup.sh).
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: setup app test bench

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

app: setup  ## the studio in the browser, on the default data set (Fashion-MNIST)
	$(PY) -m streamlit run app.py

test: setup  ## the whole test suite
	$(PY) -m pytest -q

bench: setup  ## training-step speed against the classic DCGAN loop
	$(PY) bench/train_speed.py
