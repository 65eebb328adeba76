"""The suite's power: every catalogue mutant is killed and localized, every correct alternative passes.

``pytest -m mutants``; ``python -m mutants`` prints the kill matrix.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crosscheck import strategies as cs
from mutants.catalogue import CATALOGUE
from mutants.kill import hunt

pytestmark = pytest.mark.mutants

CORRECT = [
    "examples/suts/per_example_loop.py:backprop",
    "examples/suts/ng_columns.py:backprop",
    "examples/suts/general_chain.py:backprop",
    "mutants.base:backprop",
]


@pytest.mark.parametrize("mutant", CATALOGUE, ids=[m.name for m in CATALOGUE])
def test_mutant_is_killed_and_localized(mutant, crosscheck):
    kill = hunt(mutant)
    crosscheck.write(kill.to_json())
    assert kill.killed, f"{mutant.name} survived {kill.cases} cases: {mutant.story}"
    assert not kill.mislocalized, (
        f"{mutant.name}: {len(kill.mislocalized)} of {kill.kills} kills named the wrong tensor, first: "
        f"{kill.mislocalized[0]}")


@pytest.mark.parametrize("spec", CORRECT)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_correct_alternative_passes(spec, crosscheck, loaded, data):
    sut = loaded(spec)
    crosscheck(data.draw(cs.problems(sut.supports), label="problem"), sut)
