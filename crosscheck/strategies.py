"""Hypothesis strategies for generated cases (public: import them to test your own code).

    from crosscheck.strategies import cases, problems
    @given(problems(supports=my_backprop.supports))
    def test_mine(problem): ...

A case is drawn constructively: the loss first, then an output activation the loss is defined for,
then everything else independently; arrays come from a seeded generator (``problems.build``), so
Hypothesis shrinks towards small networks, plain activations and seed 0.
"""

from __future__ import annotations

import functools
import json

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from crosscheck import contract, losses
from crosscheck import problems as _problems

MAX_SEED = 2**32 - 1


MEMO_LIMIT = 1024


def _memoized(make):
    """The same strategy object for the same arguments: a test that draws ``problems(sut.supports, ...)`` in
    its body builds it once, not once an example (a fresh strategy costs Hypothesis more than drawing from
    it). Arguments that are not plain data are not remembered."""
    made = {}

    @functools.wraps(make)
    def strategy(supports=None, **kwargs):
        try:
            key = json.dumps([supports, sorted(kwargs.items())], sort_keys=True)
        except (TypeError, ValueError):
            return make(supports, **kwargs)
        if key not in made:
            if len(made) >= MEMO_LIMIT:
                made.clear()
            made[key] = make(supports, **kwargs)
        return made[key]

    return strategy


def _check_range(name: str, lo: int, hi: int, floor: int) -> None:
    if not (isinstance(lo, int) and isinstance(hi, int) and floor <= lo <= hi):
        raise InvalidArgument(f"{name} must satisfy {floor} <= min <= max, got min={lo!r}, max={hi!r}")


@_memoized
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
    hidden = contract.supported(supports, "hidden_activations")
    outputs = contract.supported(supports, "output_activations")
    try:
        shape = contract.declared(supports)
    except contract.ContractError as exc:
        raise InvalidArgument(str(exc)) from None
    depth_choices = tuple(d for d in range(min_depth, max_depth + 1) if shape["depths"] is None or d in shape["depths"])
    if not depth_choices and shape["depths"]:
        depth_choices = shape["depths"]  # the SUT takes only these: they win over the test's range
    if not hidden:
        depth_choices = tuple(d for d in depth_choices if d == 1)
    pairs = [(loss, out) for loss in contract.supported(supports, "losses") for out in outputs
             if (losses.get(loss).outputs is None or out in losses.get(loss).outputs)
             and _widths(shape, loss, out, (min_width, max_width))]
    if shape["sizes"]:
        pairs = [(loss, out) for loss, out in pairs if _architectures(shape, hidden, loss, out)]
    elif not depth_choices:
        pairs = []
    if not pairs:
        raise InvalidArgument(f"supports {supports!r} leaves no network (activations, loss, depth, output width) "
                              f"to generate")
    dtype_choices = [d for d in contract.supported(supports, "dtypes") if dtypes is None or d in dtypes]
    layout_choices = [d for d in contract.supported(supports, "layouts") if layouts is None or d in layouts]
    if scales is not None and not set(scales) <= set(_problems.SCALES):
        raise InvalidArgument(f"scales {scales!r}: valid scales are {', '.join(_problems.SCALES)}")
    scale_choices = tuple(s for s in contract.supported(supports, "scales") if scales is None or s in scales)
    if not dtype_choices or not layout_choices or not scale_choices:
        raise InvalidArgument(f"no dtype, layout or scale left: supports {supports!r}, dtypes {dtypes!r}, "
                              f"layouts {layouts!r}, scales {scales!r} (scales: {', '.join(_problems.SCALES)})")
    drawn = _cases(hidden, tuple(pairs), shape, tuple(dtype_choices), tuple(layout_choices), scale_choices,
                   contract.supported(supports, "reductions"), depth_choices, (min_width, max_width),
                   (min_batch, max_batch))
    return drawn if sample_units is None else drawn.map(lambda case: {**case, "sample": {"units": sample_units}})


def _min_out(loss: str, out: str) -> int:
    # one-unit outputs make softmax constant and one-hot targets trivial; the builder allows them
    # for everything else
    return 2 if (out == "softmax" or losses.get(loss).targets == "onehot") else 1


def _widths(shape: dict, loss: str, out: str, width: tuple[int, int]) -> tuple[int, ...] | range:
    """The output widths a case with this loss and output activation may have."""
    low = _min_out(loss, out)
    if shape["output_units"] is not None:
        return tuple(n for n in shape["output_units"] if n >= low)
    return range(max(width[0], low), max(width[1], low) + 1)


def _architectures(shape: dict, hidden, loss: str, out: str) -> list[tuple[int, ...]]:
    """The declared whole architectures that fit this loss and output activation."""
    return [s for s in shape["sizes"] if s[-1] >= _min_out(loss, out)
            and (shape["depths"] is None or len(s) - 1 in shape["depths"])
            and (shape["output_units"] is None or s[-1] in shape["output_units"]) and (hidden or len(s) == 2)]


@st.composite
def _cases(draw, hidden_acts, pairs, shape, dtype_choices, layout_choices, scale_choices, reductions, depths,
           width, batch):
    # tuples, not lists: Hypothesis keeps a strategy of hashable arguments, rather than making and
    # validating a new one at every draw
    min_width, max_width = width
    loss = draw(st.sampled_from(tuple(sorted({loss for loss, _ in pairs}, key=[p[0] for p in pairs].index))))
    out = draw(st.sampled_from(tuple(o for l_, o in pairs if l_ == loss)))
    if shape["sizes"]:
        sizes = list(draw(st.sampled_from(tuple(_architectures(shape, hidden_acts, loss, out)))))
        L = len(sizes) - 1
    else:
        L = draw(st.sampled_from(depths))
        sizes = [draw(st.integers(min_width, max_width)) for _ in range(L)]
        sizes.append(draw(st.sampled_from(_widths(shape, loss, out, width))))
    hidden = [draw(st.sampled_from(hidden_acts)) for _ in range(L - 1)]
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


@_memoized
def problems(supports: dict | None = None, **kwargs) -> st.SearchStrategy[_problems.Problem]:
    """Cases with their arrays (``crosscheck.problems.Problem``), ready for a SUT."""
    return cases(supports, **kwargs).map(_problems.build)
