"""Correct textbook forms must pass: the catalogue (examples/forms/) and cases where the oracles' own
correct arithmetic differs (a flush to zero).
"""

import pytest

import reference_impl
from crosscheck import check, problems
from crosscheck.sut import Sut

REFERENCE = Sut("reference_impl:backprop", reference_impl.backprop, reference_impl.supports)

# JAX flushes a subnormal dZ3 entry (torch: -1.477e-308) to -0: each side of dZ's own product may
# flush to zero, however small the factors are.
FLUSHED_SOFTMAX_DZ = {"activations": ["identity", "identity", "softmax"], "batch": 4, "contract_version": "1.0",
                      "dtype": "float64", "layout": "rows", "loss": "mse", "reduction": "mean", "scale": "large",
                      "seed": 1, "sizes": [17, 37, 17, 62]}


def test_a_flushed_subnormal_in_softmax_backward_is_no_disagreement():
    result = check.check(problems.build(FLUSHED_SOFTMAX_DZ), REFERENCE, ["torch", "jax", "fd"])
    pairs = {c.against for c in result.oracle_pairs}
    assert pairs == {"torch~jax", "torch~fd", "jax~fd"}
    assert all(c.passed for c in result.oracle_pairs), result.message()
    assert result.verdict == "pass", result.message()
    assert all(result.oracles[name]["ran"] for name in ("torch", "jax", "fd"))


@pytest.mark.parametrize("pair", [("jax", "fd"), ("torch", "jax")])
def test_the_flushed_case_passes_under_each_pair_of_oracles_alone(pair):
    result = check.check(problems.build(FLUSHED_SOFTMAX_DZ), REFERENCE, list(pair))
    assert result.verdict == "pass", result.message()
