"""What the sampling tests share: float64 references of the kept sets (FlashInfer's rules), a chi-square test with
a stated false-failure rate, and input makers. No GPU needed to import."""

from __future__ import annotations

import math

import torch

# Every chi-square test here fails a correct sampler with probability FALSE_FAILURE (per test case).
FALSE_FAILURE = 1e-6


def chi2_critical(df: int, alpha: float = FALSE_FAILURE) -> float:
    """The upper-alpha quantile of the chi-square distribution with df degrees of freedom.

    scipy's ``chi2.isf`` when installed; otherwise the exact survival function ``Q(df/2, x/2)`` (torch's regularised
    upper incomplete gamma, ``torch.special.gammaincc``, in float64) inverted by bisection. (The Wilson-Hilferty
    approximation overestimates this quantile for small df at 1e-6, i.e. it would only lower the false-failure rate.)
    """
    try:
        from scipy.stats import chi2  # noqa: PLC0415

        return float(chi2.isf(alpha, df))
    except ImportError:
        pass
    a = torch.tensor(df / 2.0, dtype=torch.float64)

    def sf(x: float) -> float:
        return float(torch.special.gammaincc(a, torch.tensor(x / 2.0, dtype=torch.float64)))

    lo, hi = 0.0, max(10.0, 10.0 * df + 100.0)
    while sf(hi) > alpha:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sf(mid) > alpha else (lo, mid)
    return hi


def chi_square_check(counts: torch.Tensor, expected_probs: torch.Tensor, label: str = "") -> None:
    """counts [V] of n draws against probabilities [V] (summing to 1): no draw outside the support, and the
    chi-square statistic (bins with expected count < 5 pooled into one) below the FALSE_FAILURE critical value."""
    counts = counts.double().cpu()
    q = expected_probs.double().cpu()
    n = counts.sum()
    outside = counts[q == 0].sum()
    assert outside == 0, f"{label}: {int(outside)} draws of tokens outside the filtered support"
    exp = q * n
    support = q > 0
    big = support & (exp >= 5)
    obs_bins = [counts[big]]
    exp_bins = [exp[big]]
    small = support & ~big
    if small.any():
        obs_bins.append(counts[small].sum().reshape(1))
        exp_bins.append(exp[small].sum().reshape(1))
    obs = torch.cat(obs_bins)
    e = torch.cat(exp_bins)
    df = obs.numel() - 1
    if df < 1:
        return  # one outcome: the support check above is the whole test
    stat = float(((obs - e) ** 2 / e).sum())
    crit = chi2_critical(df)
    assert stat < crit, f"{label}: chi-square {stat:.1f} >= {crit:.1f} (df {df}, false-failure rate {FALSE_FAILURE})"


def greater_mass(p: torch.Tensor) -> torch.Tensor:
    """S[r, i] = sum of the values of row r strictly larger than p[r, i] (float64, CPU, as every rule here: the
    thresholds it is compared with are CPU tensors, whatever device the probabilities came from)."""
    p = p.double().cpu()
    asc, _ = p.sort(dim=-1)
    v = p.shape[-1]
    n_greater = v - torch.searchsorted(asc.contiguous(), p.contiguous(), right=True)
    desc = asc.flip(-1)
    cum = torch.cat([torch.zeros_like(desc[:, :1]), desc.cumsum(-1)], dim=-1)
    return cum.gather(-1, n_greater)


def greater_count(p: torch.Tensor) -> torch.Tensor:
    asc, _ = p.double().sort(dim=-1)
    return p.shape[-1] - torch.searchsorted(asc.contiguous(), p.double().contiguous(), right=True)


def per_row(x, rows: int, dtype) -> torch.Tensor:
    return x.to(torch.float64).cpu() if isinstance(x, torch.Tensor) else torch.full((rows,), float(x), dtype=dtype)


def kept_top_k(p: torch.Tensor, k) -> torch.Tensor:
    """FlashInfer's top-k rule: kept when fewer than k values are strictly larger (k <= 0 or >= V keeps all)."""
    p = p.double().cpu()
    ks = per_row(k, p.shape[0], torch.float64)[:, None]
    keep_all = (ks <= 0) | (ks >= p.shape[-1])
    return keep_all | (greater_count(p) < ks)


def kept_top_p(p: torch.Tensor, top_p) -> torch.Tensor:
    """FlashInfer's top-p rule: kept when the values strictly larger sum to less than top_p (top_p >= 1 keeps all)."""
    p = p.double().cpu()
    tp = per_row(top_p, p.shape[0], torch.float64)[:, None]
    return (tp >= 1) | (greater_mass(p) < tp)


def kept_min_p(p: torch.Tensor, min_p) -> torch.Tensor:
    """kept when p >= max * min_p, the product in fp32 as the kernel (and FlashInfer) computes it."""
    p32 = p.float().cpu()
    mp = per_row(min_p, p.shape[0], torch.float64).float()[:, None]
    return p32 >= p32.amax(-1, keepdim=True) * mp


def filtered(p: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """The renormalised distribution over the kept positive values (float64, CPU)."""
    q = p.double().cpu() * (kept & (p.cpu() > 0))
    return q / q.sum(-1, keepdim=True)


def kept_top_k_top_p(p: torch.Tensor, k, top_p, joint: bool) -> torch.Tensor:
    kk = kept_top_k(p, k)
    if joint:
        return kk & kept_top_p(p, top_p)
    return kk & kept_top_p(filtered(p, kk), top_p)


def top_p_margin(p: torch.Tensor, top_p) -> float:
    """The smallest |S - top_p| over the values of each row: how far the top-p decision is from a near-tie."""
    s = greater_mass(p)
    tp = per_row(top_p, p.shape[0], torch.float64)[:, None]
    return float((s - tp).abs().min())


def nudge_top_p(p: torch.Tensor, top_p: float, margin: float = 1e-5) -> float:
    """top_p moved (by a few margins) so that no value of any row sits within `margin` of the decision."""
    tp = top_p
    while top_p_margin(p, tp) < margin:
        tp += 2.5 * margin
    return tp


def random_probs(rows: int, vocab: int, device="cuda", scale: float = 1.0, seed: int = 0) -> torch.Tensor:
    """Softmax of N(0, scale^2) logits: distinct values, a spread like a language model's."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    logits = torch.randn(rows, vocab, generator=g, dtype=torch.float64) * scale
    return torch.softmax(logits, -1).float().to(device)


def draw_counts(sample_fn, probs: torch.Tensor, draws_per_row: int, index_dtype=torch.int64) -> torch.Tensor:
    """Calls sample_fn(probs, indices) with every row repeated draws_per_row times; returns counts [rows, V]."""
    rows, v = probs.shape
    indices = torch.arange(rows, device=probs.device, dtype=index_dtype).repeat_interleave(draws_per_row)
    samples = sample_fn(probs, indices)
    assert samples.dtype == torch.int32 and samples.shape == (rows * draws_per_row,)
    s = samples.long().cpu()
    assert bool(((s >= 0) & (s < v)).all()), "a token id outside [0, V)"
    counts = torch.zeros(rows, v, dtype=torch.int64)
    counts.index_put_((indices.cpu(), s), torch.ones_like(s), accumulate=True)
    return counts


def tied_probs(rows: int, vocab: int, device="cuda") -> torch.Tensor:
    """Rows with runs of exactly equal values (ties at every threshold), normalised in float64 then rounded."""
    g = torch.Generator(device="cpu").manual_seed(7)
    levels = torch.randint(1, 6, (rows, vocab), generator=g).double()
    return (levels / levels.sum(-1, keepdim=True)).float().to(device)


def math_isclose(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9)
