# Two commands do all set-up: `make build` and `make test` (see README.md).
# tools/bootstrap.py installs only what is missing and prints the Python to use.
SHELL := /bin/bash
BOOTSTRAP := python3 tools/bootstrap.py

.PHONY: build test clean

build:
	@py="$$($(BOOTSTRAP))" && "$$py" -m kernelkit build

test:
	@py="$$($(BOOTSTRAP))" && "$$py" -m kernelkit build && "$$py" -m kernelkit check && "$$py" -m pytest

clean:
	rm -rf build library/python/kernelkit_ops/_kernelkit_ops*.so compile_commands.json
