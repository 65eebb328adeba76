"""Hypothesis strategies for generated cases (public: import them to test your own code).

    from crosscheck.strategies import cases, problems
    @given(problems(supports=my_backprop.supports))
    def test_mine(problem): ...

A case is drawn constructively: the loss first, then an output activation the loss is defined for,
then everything else independently; arrays come from a seeded generator (``problems.build``), so
Hypothesis shrinks towards small networks, plain activations and seed 0.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from crosscheck import contract, losses
from crosscheck import problems as _problems

MAX_SEED = 2**32 - 1


def _check_range(name: str, lo: int, hi: int, floor: int) -> None:
    if not (isinstance(lo, int) and isinstance(hi, int) and floor <= lo <= hi):
        raise InvalidArgument(f"{name} must satisfy {floor} <= min <= max, got min={lo!r}, max={hi!r}")


def cases(supports: dict | None = None, *, min_depth: int = 1, max_depth: int = 4,
          min_width: int = 1, max_width: int = 16, min_batch: int = 1, max_batch: int = 32,
          dtypes: tuple[str, ...] | None = None, layouts: tuple[str, ...] | None = None,
          scales: tuple[str, ...] | None = None, sample_units: int | None = None) -> st.SearchStrategy[dict]:
    """Case dicts: the contract's keys plus ``batch``, ``seed``, ``scale`` and ``contract_version``.

    ``supports`` restricts names (and scales) the way a SUT's ``supports`` attribute does;
    ``dtypes``, ``layouts`` and ``scales`` (of ``problems.SCALES``) narrow further. ``sample_units`` makes every
    case a sampled one (``crosscheck.sampling``), for networks too wide for finite differences of
    every entry. Arguments are checked here, before anything is drawn.
    """
    if sample_units is not None and (isinstance(sample_units, bool) or not isinstance(sample_units, int)
                                     or sample_units < 1):
        raise InvalidArgument(f"sample_units must be an int >= 1, got {sample_units!r}")
    _check_range("depth", min_depth, max_depth, 1)
    _check_range("width", min_width, max_width, 1)
    _check_range("batch", min_batch, max_batch, 1)
    acts = contract.supported(supports, "activations")
    usable = [name for name in contract.supported(supports, "losses")
              if losses.get(name).outputs is None or set(losses.get(name).outputs) & set(acts)]
    if not acts or not usable:
        raise InvalidArgument(f"supports {supports!r} leaves no activation/loss pair to generate")
    dtype_choices = [d for d in contract.supported(supports, "dtypes") if dtypes is None or d in dtypes]
    layout_choices = [d for d in contract.supported(supports, "layouts") if layouts is None or d in layouts]
    if scales is not None and not set(scales) <= set(_problems.SCALES):
        raise InvalidArgument(f"scales {scales!r}: valid scales are {', '.join(_problems.SCALES)}")
    scale_choices = tuple(s for s in contract.supported(supports, "scales") if scales is None or s in scales)
    if not dtype_choices or not layout_choices or not scale_choices:
        raise InvalidArgument(f"no dtype, layout or scale left: supports {supports!r}, dtypes {dtypes!r}, "
                              f"layouts {layouts!r}, scales {scales!r} (scales: {', '.join(_problems.SCALES)})")
    drawn = _cases(acts, tuple(usable), tuple(dtype_choices), tuple(layout_choices), scale_choices,
                   contract.supported(supports, "reductions"), (min_depth, max_depth), (min_width, max_width),
                   (min_batch, max_batch))
    return drawn if sample_units is None else drawn.map(lambda case: {**case, "sample": {"units": sample_units}})


@st.composite
def _cases(draw, acts, usable, dtype_choices, layout_choices, scale_choices, reductions, depth, width, batch):
    min_width, max_width = width
    loss = draw(st.sampled_from(usable))
    allowed_out = [a for a in acts if losses.get(loss).outputs is None or a in losses.get(loss).outputs]
    L = draw(st.integers(*depth))
    # one-unit outputs make softmax constant and one-hot targets trivial; the builder allows them
    # for everything else
    out = draw(st.sampled_from(allowed_out))
    min_out = 2 if (out == "softmax" or losses.get(loss).targets == "onehot") else 1
    sizes = [draw(st.integers(min_width, max_width)) for _ in range(L)]
    sizes.append(draw(st.integers(max(min_width, min_out), max(max_width, min_out))))
    hidden = [draw(st.sampled_from(acts)) for _ in range(L - 1)]
    return {
        "contract_version": contract.CONTRACT_VERSION,
        "sizes": sizes,
        "activations": hidden + [out],
        "loss": loss,
        "layout": draw(st.sampled_from(layout_choices)),
        "dtype": draw(st.sampled_from(dtype_choices)),
        "reduction": draw(st.sampled_from(reductions)),
        "batch": draw(st.integers(*batch)),
        "scale": draw(st.sampled_from(scale_choices)),
        "seed": draw(st.integers(0, MAX_SEED)),
    }


def problems(supports: dict | None = None, **kwargs) -> st.SearchStrategy[_problems.Problem]:
    """Cases with their arrays (``crosscheck.problems.Problem``), ready for a SUT."""
    return cases(supports, **kwargs).map(_problems.build)
