"""The layer checks: every op of a convention's layer functions through the SUT (``--layers``) and the oracles.

    python -m crosscheck check --layers path/to/layers.py --convention cs231n
    python -m pytest --pyargs crosscheck.layer_suite --layers=path/to/layers.py --convention=cs231n

One test per op (``crosscheck.ops``) and dtype; an op whose functions the module does not define,
or a dtype outside the module's ``supports = {"dtypes": [...]}``, is skipped as not checked. Its
Hypothesis profile is the suite's (``crosscheck.profiles``).
"""

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from crosscheck import contract, conventions, ops
from crosscheck.profiles import suite_settings

# crosscheck too: the plugin counts these tests, and a run that checks no case fails
pytestmark = [pytest.mark.layers, pytest.mark.crosscheck]

shared_fixtures = suite_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def pytest_generate_tests(metafunc):
    """One test per op of the --layers module's convention (every op when none is named: each skips)."""
    if "op" in metafunc.fixturenames:
        layers, convention = metafunc.config.getoption("layers"), metafunc.config.getoption("convention")
        names = ops.of(conventions.for_layers(convention).split("-")[0]) if layers else ops.NAMES
        metafunc.parametrize("op", names)


@pytest.mark.parametrize("dtype", contract.DTYPES)
@shared_fixtures
@given(data=st.data())
def test_op_agrees_with_oracles(crosscheck, op, dtype, data):
    if crosscheck.layers is None:
        pytest.skip("no --layers module named")
    declared = crosscheck.sut.supported("dtypes")  # a module written for float64 alone says so
    if dtype not in declared:
        pytest.skip(f"not checked: the module's supports['dtypes'] is {list(declared)}")
    crosscheck(ops.build(data.draw(ops.cases(op, dtypes=(dtype,)), label="case")))
