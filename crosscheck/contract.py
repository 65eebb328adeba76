"""The plug-in contract: names, shapes, layouts and the checks that hold a SUT to them.

See docs/contract.md for the prose version. Everything the harness knows about shapes lives here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from crosscheck import activations, losses

CONTRACT_VERSION = "1.0"
LAYOUTS = ("rows", "columns")
DTYPES = ("float64", "float32")
REDUCTIONS = ("mean", "sum")
SCALES = ("small", "unit", "large")
"""The input scales of generated cases (their multipliers are ``problems.SCALES``)."""
REQUIRED_CASE_KEYS = ("sizes", "activations", "loss", "layout", "dtype", "reduction")
SUPPORT_KEYS = {
    "activations": activations.NAMES,
    "losses": losses.NAMES,
    "layouts": LAYOUTS,
    "dtypes": DTYPES,
    "reductions": REDUCTIONS,
    "scales": SCALES,  # a SUT whose formulas overflow on large inputs declares the scales it is valid on
}


class ContractError(ValueError):
    """A case, an input array or a SUT's answer that breaks the contract."""


def _one_of(what: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ContractError(f"case[{what!r}] = {value!r} is not valid; valid: {', '.join(valid)}")


def validate_case(case: dict) -> None:
    """Raise ContractError naming the first key that is missing or wrong."""
    if not isinstance(case, dict):
        raise ContractError(f"a case is a dict, got {type(case).__name__}")
    for key in REQUIRED_CASE_KEYS:
        if key not in case:
            raise ContractError(f"case is missing key {key!r} (required: {', '.join(REQUIRED_CASE_KEYS)})")
    sizes = case["sizes"]
    if (not isinstance(sizes, (list, tuple)) or len(sizes) < 2
            or not all(isinstance(n, int) and n >= 1 for n in sizes)):
        raise ContractError(f"case['sizes'] must be [n0, n1, ..., nL] with L >= 1 and every n >= 1, got {sizes!r}")
    acts = case["activations"]
    if not isinstance(acts, (list, tuple)) or len(acts) != len(sizes) - 1:
        raise ContractError(f"case['activations'] must list one name per layer ({len(sizes) - 1}), got {acts!r}")
    for name in acts:
        activations.get(name)
    losses.get(case["loss"])
    _one_of("layout", case["layout"], LAYOUTS)
    _one_of("dtype", case["dtype"], DTYPES)
    _one_of("reduction", case["reduction"], REDUCTIONS)
    if "sample" in case:  # a large network, checked by probes (crosscheck.sampling)
        sample = case["sample"]
        if not isinstance(sample, dict) or set(sample) != {"units"}:
            raise ContractError(f"case['sample'] must be {{'units': k}}, got {sample!r}")
        k = sample["units"]
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ContractError(f"case['sample']['units'] must be an int >= 1, got {k!r}")


def depth(case: dict) -> int:
    return len(case["sizes"]) - 1


def shapes(case: dict, m: int) -> dict[str, tuple[int, ...]]:
    """Forward shape of every named tensor: X, Y, W{l}, b{l}, Z{l}, in the case's layout."""
    sizes, columns = case["sizes"], case["layout"] == "columns"

    def act(n):
        return (n, m) if columns else (m, n)

    out = {"X": act(sizes[0]), "Y": act(sizes[-1])}
    for l in range(1, len(sizes)):
        out[f"W{l}"] = (sizes[l], sizes[l - 1]) if columns else (sizes[l - 1], sizes[l])
        out[f"b{l}"] = (sizes[l], 1) if columns else (1, sizes[l])
        out[f"Z{l}"] = act(sizes[l])
    return out


def batch_size(case: dict, X: np.ndarray) -> int:
    return X.shape[1] if case["layout"] == "columns" else X.shape[0]


def gradient_shapes(case: dict, m: int) -> dict[str, tuple[int, ...]]:
    """Shape of every gradient the contract asks for (dA0 is optional)."""
    fwd = shapes(case, m)
    out = {}
    for l in range(1, depth(case) + 1):
        out[f"dW{l}"], out[f"db{l}"], out[f"dZ{l}"] = fwd[f"W{l}"], fwd[f"b{l}"], fwd[f"Z{l}"]
    out["dA0"] = fwd["X"]
    return out


def backward_order(case: dict, with_dA0: bool = True) -> list[str]:
    """dZ_L, dW_L, db_L, dZ_{L-1}, ..., dW_1, db_1 (then dA0): the order divergence is judged in."""
    order = [f"{t}{l}" for l in range(depth(case), 0, -1) for t in ("dZ", "dW", "db")]
    return order + (["dA0"] if with_dA0 else [])


def layer_of(tensor: str) -> int:
    return int(tensor.lstrip("dWbZA"))


def validate_inputs(case: dict, params: dict, X: np.ndarray, Y: np.ndarray) -> None:
    """Check params, X and Y against the case: names, shapes, dtypes, finiteness."""
    validate_case(case)
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        raise ContractError(f"X must be a 2-D numpy array, got {type(X).__name__} {getattr(X, 'shape', '')}")
    m = batch_size(case, X)
    want = shapes(case, m)
    arrays = {"X": X, "Y": Y, **params}
    for name in [n for n in want if n[0] in "XYWb"]:
        if name not in arrays:
            raise ContractError(f"params is missing {name!r} (has {sorted(params)})")
        got = arrays[name]
        if not isinstance(got, np.ndarray):
            raise ContractError(f"{name} must be a numpy array, got {type(got).__name__}")
        if got.shape != want[name]:
            raise ContractError(f"{name} has shape {got.shape}, expected {want[name]} "
                                f"(layout {case['layout']!r}, sizes {case['sizes']}, batch {m})")
        if got.dtype != np.dtype(case["dtype"]):
            raise ContractError(f"{name} has dtype {got.dtype}, expected {case['dtype']}")
        if not np.all(np.isfinite(got)):
            raise ContractError(f"{name} holds non-finite values")
    extra = sorted(set(params) - set(want))
    if extra:
        raise ContractError(f"params has unexpected keys {extra}")


def check_answer(case: dict, answer: Any, m: int) -> Iterator[tuple[str, str]]:
    """Yield (key, problem) for every way a SUT's answer breaks the contract."""
    if not isinstance(answer, dict):
        yield "answer", f"backprop must return a dict, got {type(answer).__name__}"
        return
    loss = answer.get("loss")
    if loss is None:
        yield "loss", "missing key 'loss'"
    else:
        try:
            value = float(loss)
        except (TypeError, ValueError):
            yield "loss", f"'loss' must be a float, got {type(loss).__name__}"
        else:
            if not math.isfinite(value):
                yield "loss", f"'loss' is {value}"
    for key, shape in gradient_shapes(case, m).items():
        if key not in answer:
            if key != "dA0":
                yield key, f"missing key {key!r}"
            continue
        got = answer[key]
        if not isinstance(got, np.ndarray):
            yield key, f"{key} must be a numpy array, got {type(got).__name__}"
        elif got.shape != shape:
            yield key, f"{key} has shape {got.shape}, expected {shape}"
        elif got.dtype != np.dtype(case["dtype"]):
            yield key, f"{key} has dtype {got.dtype}, expected {case['dtype']}"
        elif not np.all(np.isfinite(got)):
            bad = np.argwhere(~np.isfinite(got))
            yield key, (f"{key} holds {len(bad)} non-finite value(s), first {got[tuple(bad[0])]} "
                        f"at index {tuple(int(i) for i in bad[0])}")


# Layout conversion: oracles and the error model work in the rows layout; a columns case is its
# exact transpose (W_rows = W_cols^T, Z_rows = Z_cols^T), so nothing is lost by converting.

def to_rows(case: dict, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if case["layout"] == "rows":
        return dict(tensors)
    return {k: np.asarray(v).T for k, v in tensors.items()}


def from_rows(case: dict, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return to_rows(case, tensors)  # a transpose is its own inverse


def supported(supports: dict | None, key: str) -> tuple[str, ...]:
    """The names a SUT supports for one of SUPPORT_KEYS (all of them when it declares nothing)."""
    every = SUPPORT_KEYS[key]
    if not supports or key not in supports:
        return every
    unknown = [n for n in supports[key] if n not in every]
    if unknown:
        raise ContractError(f"supports[{key!r}] names unknown {unknown}; valid: {', '.join(every)}")
    return tuple(n for n in every if n in supports[key])
