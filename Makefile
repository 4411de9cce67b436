# Two commands do all set-up: `make build` and `make test` (see README.md).
# tools/bootstrap.py installs only what is missing and prints the Python to use.
SHELL := /bin/bash
BOOTSTRAP := python3 tools/bootstrap.py

.PHONY: build test format clean

build:
	@py="$$($(BOOTSTRAP))" && "$$py" -m kernelkit build

# The suite runs on every core (pytest-xdist); a test file stays in one worker, so its module fixtures (compiled projects) are made once.
test:
	@py="$$($(BOOTSTRAP))" && "$$py" -m kernelkit build && "$$py" tools/lint.py && "$$py" -m kernelkit check \
		&& "$$py" -m pytest -n auto --dist loadfile

format:
	@py="$$($(BOOTSTRAP))" && "$$py" tools/lint.py --fix

clean:
	rm -rf build library/python/kernelkit_ops/_kernelkit_ops*.so compile_commands.json
