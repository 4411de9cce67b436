"""Tests of `merge_state`: sgl-kernel's first merge (FlashInfer's MergeState), base-2 log-sum-exps, within fp
tolerance of a float64 reference (merge_state_cases.reference with base "2").

CPU tests check the schema, the fake and every refusal of the binding through CPU tensors; the tests themselves are
merge_state_cases.MergeStateTests, shared with merge_state_v2.
"""

from merge_state_cases import MergeStateTests


class TestMergeState(MergeStateTests):
    op = "merge_state"
    base = "2"
    log_2 = 1.0  # log2(2): the merged LSE of two equal states
