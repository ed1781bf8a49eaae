# The two quick-start commands. Each installs what it needs into .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint

$(BIN)/evofarm: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

demo: $(BIN)/evofarm
	$(BIN)/evofarm run pipelines/campaigns/demo.yaml --out out/demo

test: $(BIN)/evofarm
	$(BIN)/pytest -q

lint: $(BIN)/evofarm
	$(BIN)/ruff check evofarm workers tests
	$(BIN)/mypy
