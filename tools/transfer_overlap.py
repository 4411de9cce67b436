#!/usr/bin/env python3
"""Issue 25: a KV transfer between pinned host memory and the GPU while the GPU computes.

A hierarchical KV cache moves pages over PCIe while the model runs, so the transfer must reach the host link's
bandwidth on few SMs and leave the rest of the GPU its speed. For each direction (host -> GPU, GPU -> host) and each
block_quota, in one process on one GPU:

  link      a `copy_` of the same bytes between the pinned host buffer and the GPU (the host link's ceiling);
  alone     `transfer_kv_per_layer` of N token slots (K and V, item_size bytes each), nothing else running;
  compute   a bf16 GEMM loop on its own stream, alone;
  together  both at once on two streams: the transfer's bandwidth and the GEMM loop's slowdown.

Times are CUDA-event medians of repeated runs. Prints a table; --json writes the numbers.

Usage: python tools/transfer_overlap.py [--tokens 65536] [--item-size 2048] [--quotas 1,2,4,8] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys


def _median_ms(run, stream, repeats: int) -> float:
    import torch

    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(stream)
        run()
        end.record(stream)
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def measure(tokens: int, item_size: int, quotas: list[int], repeats: int) -> dict:
    import torch

    dev = torch.device("cuda")
    host_k = torch.empty(tokens, item_size, dtype=torch.uint8, pin_memory=True)
    host_v = torch.empty(tokens, item_size, dtype=torch.uint8, pin_memory=True)
    host_k.random_(0, 255), host_v.random_(0, 255)
    gpu_k = torch.empty(tokens, item_size, dtype=torch.uint8, device=dev)
    gpu_v = torch.empty(tokens, item_size, dtype=torch.uint8, device=dev)
    # a shuffled slot order, as a cache's free list gives
    src_idx = torch.randperm(tokens, device=dev)
    dst_idx = torch.randperm(tokens, device=dev)
    moved = 2 * tokens * item_size  # K and V
    a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    compute_stream, copy_stream = torch.cuda.Stream(), torch.cuda.Stream()

    def gemms() -> None:
        with torch.cuda.stream(compute_stream):
            for _ in range(8):
                torch.mm(a, b)

    out: dict = {
        "device": torch.cuda.get_device_name(0),
        "sms": torch.cuda.get_device_properties(0).multi_processor_count,
        "torch": torch.__version__,
        "tokens": tokens,
        "item_size": item_size,
        "bytes": moved,
        "directions": {},
    }
    gemms()
    torch.cuda.synchronize()
    compute_ms = _median_ms(gemms, compute_stream, repeats)
    out["compute_alone_ms"] = compute_ms
    for direction, buffers in {"h2d": (host_k, host_v, gpu_k, gpu_v), "d2h": (gpu_k, gpu_v, host_k, host_v)}.items():
        out["directions"][direction] = _direction(
            buffers, src_idx, dst_idx, item_size, quotas, repeats, gemms, compute_ms, compute_stream, copy_stream
        )
    return out


def _direction(buffers, src_idx, dst_idx, item_size, quotas, repeats, gemms, compute_ms, compute_stream, copy_stream):
    """One direction's link, transfer-alone and transfer-beside-the-GEMMs numbers."""
    import kernelkit_ops
    import torch

    src_k, src_v, dst_k, dst_v = buffers
    moved = 2 * src_idx.numel() * item_size

    def link() -> None:
        with torch.cuda.stream(copy_stream):
            dst_k.copy_(src_k, non_blocking=True)
            dst_v.copy_(src_v, non_blocking=True)

    link()
    torch.cuda.synchronize()
    link_ms = _median_ms(link, copy_stream, repeats)
    rows = []
    for quota in quotas:

        def transfer(quota: int = quota) -> None:
            with torch.cuda.stream(copy_stream):
                kernelkit_ops.transfer_kv_per_layer(src_k, dst_k, src_v, dst_v, src_idx, dst_idx, item_size,
                                                    block_quota=quota)  # fmt: skip

        transfer()
        torch.cuda.synchronize()
        alone_ms = _median_ms(transfer, copy_stream, repeats)
        together = []
        for _ in range(repeats):
            starts = [torch.cuda.Event(enable_timing=True) for _ in range(2)]
            ends = [torch.cuda.Event(enable_timing=True) for _ in range(2)]
            starts[0].record(compute_stream)
            starts[1].record(copy_stream)
            gemms()
            transfer()
            ends[0].record(compute_stream)
            ends[1].record(copy_stream)
            torch.cuda.synchronize()
            together.append((starts[0].elapsed_time(ends[0]), starts[1].elapsed_time(ends[1])))
        compute_with = statistics.median(t[0] for t in together)
        transfer_with = statistics.median(t[1] for t in together)
        rows.append(
            {
                "block_quota": quota,
                "alone_ms": alone_ms,
                "alone_gbs": moved / alone_ms / 1e6,
                "alone_pct_of_link": 100 * link_ms / alone_ms,
                "together_ms": transfer_with,
                "together_gbs": moved / transfer_with / 1e6,
                "compute_with_ms": compute_with,
                "compute_slowdown_pct": 100 * (compute_with / compute_ms - 1),
            }
        )
    return {"link_ms": link_ms, "link_gbs": moved / link_ms / 1e6, "rows": rows}


def table(result: dict) -> str:
    lines = [
        f"{result['device']} ({result['sms']} SMs), torch {result['torch']}: {result['tokens']} slots x "
        f"{result['item_size']} B, K and V ({result['bytes'] / 1e6:.0f} MB); GEMM loop alone "
        f"{result['compute_alone_ms']:.2f} ms",
        "| direction | block_quota | alone GB/s | % of link | with GEMMs GB/s | GEMM slowdown |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for direction, d in result["directions"].items():
        lines.append(f"| {direction} link (copy_) | | {d['link_gbs']:.1f} | 100% | | |")
        for r in d["rows"]:
            lines.append(
                f"| {direction} | {r['block_quota']} | {r['alone_gbs']:.1f} | {r['alone_pct_of_link']:.0f}% | "
                f"{r['together_gbs']:.1f} | {r['compute_slowdown_pct']:+.1f}% |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=65536)
    parser.add_argument("--item-size", type=int, default=2048, help="bytes per slot (8 kv heads x 128 x bf16)")
    parser.add_argument("--quotas", default="1,2,4,8", help="block_quota values (CTAs the copy may use)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args(argv)
    try:
        quotas = [int(q) for q in args.quotas.split(",")]
    except ValueError:
        parser.error(f"--quotas {args.quotas!r}: comma-separated integers, e.g. 1,2,4,8")
    if args.tokens <= 0 or args.item_size <= 0 or any(q <= 0 for q in quotas):
        parser.error("--tokens, --item-size and every block_quota must be positive")
    import torch

    if not torch.cuda.is_available():
        print("transfer_overlap: needs a CUDA GPU (none visible to torch)", file=sys.stderr)
        return 2
    result = measure(args.tokens, args.item_size, quotas, args.repeats)
    print(table(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
