# make venv  - create/update .venv (Python 3.12) when requirements change
# make test  - run the test suite (extra pytest flags: PYTEST_ARGS="-k foo")
# make demo  - run the demo
PY := .venv/bin/python
STAMP := .venv/.installed
PYTEST_ARGS ?=

.PHONY: venv test demo

venv: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt requirements/runtime.txt \
          requirements/test.txt scripts/setup_venv.sh
	bash scripts/setup_venv.sh

test: venv
	$(PY) -m pytest tests $(PYTEST_ARGS)

demo: venv
	$(PY) -m demo
