"""The cross-check itself: generated networks through the SUT (``--sut``) and every oracle.

It ships with the package, so it runs from any directory once installed:

    python -m crosscheck check --sut path/to/mine.py:backprop
    python -m pytest --pyargs crosscheck.suite --sut=path/to/mine.py:backprop

Its Hypothesis profile is the one the run names, else crosscheck-ci under CI and crosscheck-dev
elsewhere (``crosscheck.profiles``).
"""

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from crosscheck import contract, problems
from crosscheck import strategies as cs
from crosscheck.profiles import suite_settings

pytestmark = pytest.mark.crosscheck

# fixtures here are stateless per example, so sharing them across Hypothesis examples is safe
shared_fixtures = suite_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("layout", contract.LAYOUTS)
@pytest.mark.parametrize("dtype", contract.DTYPES)
@shared_fixtures
@given(data=st.data())
def test_gradients_agree_with_oracles(crosscheck, dtype, layout, data):
    if crosscheck.layers:
        pytest.skip("--layers names layer functions: crosscheck.layer_suite checks them")
    sut = crosscheck.sut
    if dtype not in sut.supported("dtypes") or layout not in sut.supported("layouts"):
        pytest.skip(f"the SUT does not declare support for {dtype} / {layout}")
    problem = data.draw(cs.problems(sut.supports, dtypes=(dtype,), layouts=(layout,)), label="problem")
    crosscheck(problem)


@pytest.mark.parametrize("dtype", contract.DTYPES)
@shared_fixtures
@given(data=st.data())
def test_sampled_wide_networks_agree_with_oracles(crosscheck, dtype, data):
    if crosscheck.layers:
        pytest.skip("--layers names layer functions: crosscheck.layer_suite checks them")
    # wider than the default strategy: finite differences answer probes (crosscheck.sampling),
    # torch and JAX every entry
    sut = crosscheck.sut
    if dtype not in sut.supported("dtypes"):
        pytest.skip(f"the SUT does not declare support for {dtype}")
    problem = data.draw(cs.problems(sut.supports, dtypes=(dtype,), min_width=17, max_width=96, max_depth=3,
                                    max_batch=16, sample_units=3), label="problem")
    crosscheck(problem)


# Known edges, checked on every run whatever Hypothesis draws.
PINNED = {
    "softmax-huge-logits": dict(sizes=[4, 6, 5], activations=["identity", "softmax"], loss="cross_entropy",
                                scale="large"),
    "logits-huge": dict(sizes=[3, 8, 4], activations=["relu", "identity"], loss="softmax_cross_entropy",
                        scale="large"),
    "sigmoid-bce-saturated": dict(sizes=[5, 7, 3], activations=["tanh", "sigmoid"], loss="bce", scale="large"),
    "width-one-deep": dict(sizes=[1, 1, 1, 1, 1], activations=["tanh", "elu", "gelu", "silu"], loss="half_sse",
                           scale="unit"),
    "deeper-than-the-jax-depth-bucket": dict(sizes=[3, 5, 4, 6, 5, 4, 3], activations=["tanh", "relu", "sigmoid",
                                             "elu", "softplus", "softmax"], loss="cross_entropy", scale="unit"),
    "batch-one": dict(sizes=[3, 4, 3], activations=["leaky_relu", "identity"], loss="hinge", scale="unit",
                      batch=1),
    "hidden-softmax": dict(sizes=[3, 5, 5, 2], activations=["softmax", "softplus", "sigmoid"], loss="mse",
                           scale="large"),
}


@pytest.mark.parametrize("layout", contract.LAYOUTS)
@pytest.mark.parametrize("dtype", contract.DTYPES)
@pytest.mark.parametrize("name", PINNED)
def test_pinned_case(crosscheck, name, dtype, layout):
    if crosscheck.layers:
        pytest.skip("--layers names layer functions: crosscheck.layer_suite checks them")
    sut = crosscheck.sut
    reductions = sut.supported("reductions")  # the pinned network, in a reduction the SUT declares
    case = {"contract_version": contract.CONTRACT_VERSION, "batch": 7, "seed": 1, **PINNED[name], "dtype": dtype,
            "layout": layout, "reduction": "mean" if "mean" in reductions else reductions[0]}
    outside = contract.outside(case, sut.supports)
    if outside:
        pytest.skip(f"the SUT does not declare support for {name}: {outside}")
    crosscheck(problems.build(case))
