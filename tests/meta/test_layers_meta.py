"""The tests of the layer checks: an op's output off by 1e-3 in one entry must fail, and say where."""

import numpy as np
import pytest

from crosscheck import check, conventions, ops
from crosscheck.sut import Sut
from examples.layers import cs231n_layers


def off_by(index, delta):
    """cs231n_layers with one entry of affine_backward's dw moved by delta."""
    fn, _ = conventions.get("cs231n-layers").adapt(cs231n_layers)

    def backprop(case, params, X, Y):
        out = fn(case, params, X, Y)
        if case["op"] == "affine":
            out["dw"] = out["dw"].copy()
            out["dw"][index] += delta
        return out
    return Sut("off-by", backprop, None, convention="cs231n-layers")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("seed", range(8))
def test_affine_dw_off_by_1e_3_in_one_entry_fails_and_is_located(dtype, seed):
    rng = np.random.default_rng(seed)
    dims = {"N": int(rng.integers(1, 9)), "D": int(rng.integers(1, 9)), "M": int(rng.integers(1, 9))}
    index = (int(rng.integers(dims["D"])), int(rng.integers(dims["M"])))
    result = check.check(ops.build(ops.case_of("affine", dims, dtype, "unit", seed)), off_by(index, 1e-3),
                         ["torch", "fd"])
    assert result.verdict == "fail", result.message()
    assert result.first_divergence == "dw"
    bad = [c for c in result.comparisons if c.tensor == "dw"]
    assert bad and all(not c.passed and c.mismatched == 1 and c.worst_index == list(index) for c in bad)
    assert all(c.passed for c in result.comparisons if c.tensor != "dw")
