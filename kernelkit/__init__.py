"""kernelkit: adding a CUDA kernel to a PyTorch op library, as commands.

cli/          the commands: parse, call the core, render (Typer, Rich)
project.py    finding the project (the nearest pyproject.toml with [tool.kernelkit])
model/        the project model: where an op's pieces live, which ops exist, whether their pieces agree
codegen/      new, remove, init: templates (scaffolds/), copies (--like), all-or-nothing writes
builder/      build, doctor, test: CMake and Ninja, the toolchain, what a built library records
perf/         bench: the harness and CUDA-graph timing
release.py    version bump, changelog, commit and tag
benchspec.py  the one module bench files import
"""

__version__ = "0.1.0"
