"""The layer-level kill matrix (mutants/layers.py): every layer mutant is killed on its op, every kill
names the expected first wrong output, and the ops a mutant does not touch still pass.

The budget per mutant and op is the active Hypothesis profile's, capped at ``CAP`` cases so that
the matrix stays a few seconds of CI (``python -m mutants.layers --cases N`` hunts longer).
"""

import pytest
from hypothesis import settings

from crosscheck import check, ops
from mutants.layers import CATALOGUE, hunt

CAP = 25


@pytest.mark.parametrize("mutant", CATALOGUE, ids=lambda m: m.name)
def test_every_layer_mutant_is_killed_and_localized(mutant):
    sut = mutant.sut()
    for op in mutant.first:
        kill = hunt(mutant, op, min(settings.default.max_examples, CAP), sut=sut)
        assert kill.killed, f"{mutant.name} survived {kill.cases} cases of {op}"
        assert kill.localized, (mutant.name, op, kill.mislocalized[:3])
        assert kill.first_divergence == mutant.first[op], kill.message


@pytest.mark.parametrize("mutant", CATALOGUE, ids=lambda m: m.name)
def test_the_ops_a_mutant_does_not_touch_still_pass(mutant):
    sut = mutant.sut()
    for op in ops.of(mutant.convention):
        if op in mutant.first:
            continue
        for dtype in ("float64", "float32"):
            row = ops.get(op)
            dims = {k: hi for k, (lo, hi) in row.dims.items()}
            settings = {k: v[1] for k, v in row.settings.items()}  # not dropout's p = 1
            result = check.check(ops.build(ops.case_of(op, dims, dtype, "unit", 3, settings)), sut, ["torch", "fd"])
            assert result.verdict == "pass", (mutant.name, result.message())


@pytest.mark.parametrize("family", [1, 2, 3])
def test_the_catalogue_covers_every_op_of_each_family(family):
    caught = {op for m in CATALOGUE for op in m.first}
    assert set(ops.FAMILIES[family]) <= caught, set(ops.FAMILIES[family]) - caught
