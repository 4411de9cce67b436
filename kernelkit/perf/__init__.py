"""`kernelkit bench`: the harness (cases, ceilings, rows, results, --compare) and CUDA-graph timing. Bench files
import only the public kernelkit.benchspec."""
