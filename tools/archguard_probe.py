#!/usr/bin/env python3
"""On the GPU machine (tools/gpu_check.sh, phase archguard): the import-time arch guard against a real GPU.

Given the package folder of a copy built for an arch this GPU cannot run (`kernelkit build --arch 100a` on an H100):
1. `import kernelkit_ops` fails with the guard's ImportError, naming the GPU's compute capability (asked of torch
   in another process), the build's archs and `kernelkit build --arch 100a,<the GPU's arch>`;
2. with KERNELKIT_SKIP_ARCH_CHECK=1 the import goes on, and the first op launch fails instead (what the guard
   spares users: CUDA's "no kernel image is available");
3. the failed import created no CUDA context on the way (checked through the driver in the same process).
Prints one line per check and `archguard: N passed, M failed`; exits 1 on a failure.

Usage: python tools/archguard_probe.py LIBRARY_PYTHON_DIR BUILT_ARCHS (e.g. /tmp/copy/library/python 100a)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

_IMPORT = """
import ctypes, json
def driver_state():
    try:
        return ctypes.CDLL("libcuda.so.1").cuCtxGetCurrent(ctypes.byref(ctypes.c_void_p()))
    except OSError:
        return None
import torch
before = driver_state()
try:
    import kernelkit_ops
    error = None
except ImportError as exc:
    error = str(exc)
print(json.dumps({"error": error, "driver_before": before, "driver_after": driver_state()}))
"""

_LAUNCH = """
import json, torch, kernelkit_ops
x = torch.randn(4, 256, device="cuda", dtype=torch.bfloat16)
try:
    kernelkit_ops.silu_and_mul(x)
    torch.cuda.synchronize()
    print(json.dumps({"error": None}))
except RuntimeError as exc:
    print(json.dumps({"error": str(exc)}))
"""


def run(code: str, package_parent: str | None, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("KERNELKIT_SKIP_ARCH_CHECK", "PYTHONPATH")}
    if package_parent:
        environ["PYTHONPATH"] = package_parent
    environ.update(env)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=600)
    if out.returncode != 0:
        return {"crashed": out.stderr.strip().splitlines()[-1:] or [f"exit {out.returncode}"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    package_parent, built = sys.argv[1], sys.argv[2]
    cap = run("import json, torch; print(json.dumps(list(torch.cuda.get_device_capability(0))))", None)
    if isinstance(cap, dict):
        print(f"archguard: cannot read the GPU's capability through torch: {cap}")
        return 1
    major, minor = cap
    cc, own = f"{major}.{minor}", f"{major}{minor}{'a' if major >= 9 else ''}"
    results: list[tuple[str, bool, str]] = []

    refused = run(_IMPORT, package_parent)
    error = refused.get("error") or ""
    wanted = [f"compute capability {cc}", f"built for sm_{built} only", f"`kernelkit build --arch {built},{own}`"]
    missing = [w for w in wanted if w not in error]
    results.append(("import refused with the guard's message", bool(error) and not missing, error or str(refused)))
    # CUDA_ERROR_NOT_INITIALIZED (3) after torch's import and still after ours: nothing called cuInit, so a worker
    # forked now would start clean.
    state = (refused.get("driver_before"), refused.get("driver_after"))
    results.append(("no CUDA initialized by the import", state == (3, 3), f"driver state before/after: {state}"))

    skipped = run(_IMPORT, package_parent, KERNELKIT_SKIP_ARCH_CHECK="1")
    results.append(
        ("KERNELKIT_SKIP_ARCH_CHECK=1 imports", skipped.get("error") is None and "crashed" not in skipped, str(skipped))
    )
    launched = run(_LAUNCH, package_parent, KERNELKIT_SKIP_ARCH_CHECK="1")
    launch_error = launched.get("error") or ""
    results.append(("then the first launch fails", bool(launch_error), launch_error or str(launched)))

    for name, ok, detail in results:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    failed = sum(not ok for _, ok, _ in results)
    print(f"archguard: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
