"""Tests of `merge_state_v2`: sgl-kernel's second merge, natural-log log-sum-exps where an infinite LSE counts
as -inf, within fp tolerance of a float64 reference (merge_state_cases.reference with base "e").

CPU tests check the schema, the fake and every refusal of the binding through CPU tensors.
"""

import math

import kernelkit_ops
import pytest
import torch
from merge_state_cases import DTYPES, MergeStateTests, assert_merged, make_states

OP = kernelkit_ops.merge_state_v2
BASE = "e"


class TestMergeStateV2(MergeStateTests):
    op = "merge_state_v2"
    base = BASE
    log_2 = math.log(2.0)  # ln(2): the merged LSE of two equal states


# ---------------- GPU: what only v2 does (an infinite LSE of either sign is an empty state) ----------------


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_infinite_lse_of_either_sign_is_an_empty_state(dtype):
    """Upstream's v2 test marks ~10% of each side +inf (never both): those states weigh 0."""
    v_a, s_a, v_b, s_b = make_states(256, 16, 128, dtype)
    mask_a = torch.rand(256, 16, device="cuda") < 0.1
    mask_b = (torch.rand(256, 16, device="cuda") < 0.1) & ~mask_a
    mask_a[0, 0], mask_b[0, 0], mask_a[0, 1], mask_b[0, 1] = True, False, False, True
    s_a[mask_a] = math.inf
    s_b[mask_b] = math.inf
    s_a[0, 0], s_b[0, 1] = -math.inf, -math.inf  # the other sign counts the same
    v, s = OP(v_a, s_a, v_b, s_b)
    assert torch.equal(v[mask_a], v_b[mask_a]) and torch.equal(s[mask_a], s_b[mask_a])
    assert torch.equal(v[mask_b], v_a[mask_b]) and torch.equal(s[mask_b], s_a[mask_b])
    assert_merged(v, s, v_a, s_a, v_b, s_b, BASE)


@pytest.mark.gpu
def test_two_empty_states_give_nan_as_upstream():
    """-inf on both sides: max is -inf and -inf - -inf is NaN, in upstream's kernel as here."""
    v_a, s_a, v_b, s_b = make_states(4, 8, 64, torch.bfloat16)
    s_a[1] = -math.inf
    s_b[1] = math.inf
    v, s = OP(v_a, s_a, v_b, s_b)
    assert torch.isnan(v[1]).all() and torch.isnan(s[1]).all()
    assert_merged(v[[0, 2, 3]], s[[0, 2, 3]], v_a[[0, 2, 3]], s_a[[0, 2, 3]], v_b[[0, 2, 3]], s_b[[0, 2, 3]], BASE)


@pytest.mark.gpu
def test_offsets_beyond_32_bits():
    """Upstream's regression: T * H * D past 2**32 elements (fp16, 128 x 128); int64 offsets here."""
    heads, head_dim = 128, 128
    first = 2**32 // (heads * head_dim)
    tokens = first + 8
    need = int(1.1 * (3 * tokens * heads * head_dim * 2 + 3 * tokens * heads * 4))
    if torch.cuda.mem_get_info()[0] < need:
        pytest.skip(f"needs {need / 2**30:.1f} GiB of free GPU memory")
    v_a = torch.empty(tokens, heads, head_dim, device="cuda", dtype=torch.float16)
    v_b, v_out = torch.empty_like(v_a), torch.empty_like(v_a)
    s_a = torch.zeros(tokens, heads, device="cuda")
    s_b, s_out = torch.zeros_like(s_a), torch.zeros_like(s_a)
    rows = [(first, 0), (first, 17), (tokens - 1, heads - 1)]
    for i, (t, h) in enumerate(rows):
        v_a[t, h] = torch.randn(head_dim, device="cuda").half()
        v_b[t, h] = torch.randn(head_dim, device="cuda").half()
        s_a[t, h], s_b[t, h] = 0.25 + i, -0.75 + 0.5 * i
        v_out[t, h] = float("nan")
    OP(v_a, s_a, v_b, s_b, v_out, s_out)
    torch.cuda.synchronize()
    idx_t = torch.tensor([t for t, _ in rows], device="cuda")
    idx_h = torch.tensor([h for _, h in rows], device="cuda")
    assert_merged(
        v_out[idx_t, idx_h].unsqueeze(0),
        s_out[idx_t, idx_h].unsqueeze(0),
        v_a[idx_t, idx_h].unsqueeze(0),
        s_a[idx_t, idx_h].unsqueeze(0),
        v_b[idx_t, idx_h].unsqueeze(0),
        s_b[idx_t, idx_h].unsqueeze(0),
        BASE,
    )
