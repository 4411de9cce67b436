#!/usr/bin/env python3
"""On the GPU machine (tools/gpu_check.sh, phase wheel): the kernelkit-ops wheel, installed alone, runs ops.

A fresh venv sees only torch and torch's own dependencies (kernelkit.release builds that folder: links to this
Python's copies); the wheel goes in with no dependency resolution; then, in that venv, `import kernelkit_ops`
must come from the wheel, and silu_and_mul and rmsnorm on the GPU must match float32 references (bf16 outputs,
one rounding: 1e-2 relative). Prints one line per check and `wheel: N passed, M failed`; exits 1 on a failure.

Usage: python tools/wheel_probe.py dist/kernelkit_ops-X.Y.Z-py3-none-manylinux_2_34_x86_64.whl
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from kernelkit.release import _torch_only_site  # noqa: E402

_RUN = """
import json, torch, torch.nn.functional as F
import kernelkit_ops
out = {"file": kernelkit_ops.__file__, "version": kernelkit_ops.__version__}
out["archs"] = kernelkit_ops._library.features().get("archs")
torch.manual_seed(0)
x = torch.randn(37, 2 * 1000, device="cuda", dtype=torch.bfloat16)
got = kernelkit_ops.silu_and_mul(x).float()
ref = F.silu(x[:, :1000].float()) * x[:, 1000:].float()
out["silu_and_mul"] = torch.allclose(got, ref, rtol=1e-2, atol=1e-2)
h = torch.randn(19, 4096, device="cuda", dtype=torch.bfloat16)
w = torch.randn(4096, device="cuda", dtype=torch.bfloat16)
got = kernelkit_ops.rmsnorm(h, w, 1e-6).float()
hf = h.float()
ref = hf * torch.rsqrt(hf.pow(2).mean(-1, keepdim=True) + 1e-6) * w.float()
out["rmsnorm"] = torch.allclose(got, ref, rtol=1e-2, atol=2e-2)
out["ops"] = sum(1 for n in torch._C._dispatch_get_all_op_names() if n.startswith("kernelkit::"))
print(json.dumps(out))
"""


def main() -> int:
    wheel = Path(sys.argv[1]).resolve()
    results: list[tuple[str, bool, str]] = []
    with tempfile.TemporaryDirectory(prefix="kk-wheel-probe-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        python = venv / "bin" / "python"
        purelib = Path(
            subprocess.run(
                [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        site = _torch_only_site(Path(tmp) / "torch-only")
        results.append(("a site of only torch and its dependencies", site is not None, str(site)))
        if site is None:
            import torch

            site = Path(torch.__file__).parent.parent  # fall back to this Python's packages: said above
        (purelib / "torch_only.pth").write_text(f"{site}\n")
        install = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(purelib), str(wheel)],
            capture_output=True,
            text=True,
        )
        results.append(("the wheel installs", install.returncode == 0, install.stderr.strip()[-300:]))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        env["PYTHONNOUSERSITE"] = "1"
        run = subprocess.run([str(python), "-c", _RUN], capture_output=True, text=True, env=env, cwd=tmp, timeout=600)
        if run.returncode != 0:
            results.append(("import and run", False, run.stderr.strip()[-2000:]))
        else:
            out = json.loads(run.stdout.strip().splitlines()[-1])
            inside = Path(out["file"]).resolve().is_relative_to(purelib.resolve())
            results.append(("kernelkit_ops imported from the wheel", inside, f"{out['file']} {out['version']}"))
            results.append((f"{out['ops']} ops registered, archs {out['archs']}", out["ops"] > 0, ""))
            results.append(("silu_and_mul matches float32 on the GPU", out["silu_and_mul"], ""))
            results.append(("rmsnorm matches float32 on the GPU", out["rmsnorm"], ""))
    for name, ok, detail in results:
        print(f"{'PASS' if ok else 'FAIL'}  {name}{': ' + detail if detail else ''}")
    failed = sum(not ok for _, ok, _ in results)
    print(f"wheel: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
