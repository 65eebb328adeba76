"""The plug-in contract: names, shapes, layouts and the checks that hold a SUT to them.

See docs/contract.md for the prose version. Everything the harness knows about shapes lives here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from crosscheck import activations, losses

CONTRACT_VERSION = "1.1"
CONTRACT_VERSIONS = ("1.0", "1.1")
"""1.1 adds the architecture and format keys of ``supports`` (SHAPE_KEYS); a 1.0 SUT is a 1.1 SUT
that declares none of them."""
LAYOUTS = ("rows", "columns")
DTYPES = ("float64", "float32")
REDUCTIONS = ("mean", "sum")
SCALES = ("small", "unit", "large")
"""The input scales of generated cases (their multipliers are ``problems.SCALES``)."""
REQUIRED_CASE_KEYS = ("sizes", "activations", "loss", "layout", "dtype", "reduction")
SUPPORT_KEYS = {
    "activations": activations.NAMES,
    "hidden_activations": activations.NAMES,  # every layer but the last
    "output_activations": activations.NAMES,  # the last layer
    "losses": losses.NAMES,
    "layouts": LAYOUTS,
    "dtypes": DTYPES,
    "reductions": REDUCTIONS,
    "scales": SCALES,  # a SUT whose formulas overflow on large inputs declares the scales it is valid on
}
"""supports keys that list names: generated cases stay inside each list."""
LABELS = ("onehot", "integer")
BIASES = ("2d", "1d")
OPTIONAL_OUTPUTS = ("loss", "dZ", "dA0")
SHAPE_KEYS = {
    "depths": "a list of layer counts L (>= 1) the SUT takes",
    "output_units": "a list of output widths n_L the SUT takes",
    "sizes": "a list of whole architectures [n0, ..., nL], when the SUT takes only those",
    "labels": "'onehot' (default) or 'integer': Y of a one-hot loss arrives as class indices, shape (m,)",
    "bias": "'2d' (default: (1, n) or (n, 1)) or '1d': every b_l arrives, and db_l goes back, as shape (n,)",
    "returns": "which of 'loss', 'dZ', 'dA0' the SUT returns (default all three; dW and db always)",
}
"""supports keys of contract 1.1 that describe architectures and formats."""
ALL_SUPPORT_KEYS = (*SUPPORT_KEYS, *SHAPE_KEYS)


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
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes)):
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
    dtype = np.dtype(case["dtype"])
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
        if got.dtype != dtype:
            raise ContractError(f"{name} has dtype {got.dtype}, expected {case['dtype']}")
        if not np.isfinite(got).all():
            raise ContractError(f"{name} holds non-finite values")
    extra = sorted(set(params) - set(want))
    if extra:
        raise ContractError(f"params has unexpected keys {extra}")


def _real_scalar(value) -> str | None:
    """Why ``value`` is not a finite real number (a Python or NumPy scalar, or a 0-d array), or None."""
    kind = getattr(value, "type_name", type(value).__name__)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        shape = f" of shape {value.shape}" if isinstance(value, np.ndarray) else ""
        return f"'loss' must be a real number, got {kind}{shape}"
    if not math.isfinite(float(value)):
        return f"'loss' is {float(value)}"
    return None


def check_answer(case: dict, answer: Any, m: int, skip: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """Yield (key, problem) for every way a SUT's answer breaks the contract; ``skip`` names the
    tensors the SUT declared it does not return (``not_returned``): absent, they are no problem."""
    if not isinstance(answer, dict):
        yield "answer", f"backprop must return a dict, got {getattr(answer, 'type_name', type(answer).__name__)}"
        return
    loss = answer.get("loss")
    if loss is None:
        if "loss" not in skip:
            yield "loss", "missing key 'loss'"
    else:
        problem = _real_scalar(loss)
        if problem:
            yield "loss", problem
    dtype = np.dtype(case["dtype"])
    for key, shape in gradient_shapes(case, m).items():
        if key not in answer:
            if key != "dA0" and key not in skip:
                yield key, f"missing key {key!r}"
            continue
        got = answer[key]
        if not isinstance(got, np.ndarray):
            yield key, f"{key} must be a numpy array, got {getattr(got, 'type_name', type(got).__name__)}"
        elif got.shape != shape:
            yield key, f"{key} has shape {got.shape}, expected {shape}"
        elif got.dtype != dtype:
            yield key, f"{key} has dtype {got.dtype}, expected {case['dtype']}"
        elif not np.isfinite(got).all():
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
    """The names a SUT supports for one of SUPPORT_KEYS (all of them when it declares nothing).

    ``hidden_activations`` and ``output_activations`` are also narrowed by ``activations``.
    """
    every = SUPPORT_KEYS[key]
    if key in ("hidden_activations", "output_activations"):
        every = supported(supports, "activations")
    if not supports or key not in supports:
        return every
    unknown = [n for n in supports[key] if n not in SUPPORT_KEYS[key]]
    if unknown:
        raise ContractError(f"supports[{key!r}] names unknown {unknown}; valid: {', '.join(SUPPORT_KEYS[key])}")
    return tuple(n for n in every if n in supports[key])


def _ints(supports: dict, key: str, low: int) -> tuple[int, ...] | None:
    if key not in supports:
        return None
    values = supports[key]
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") or not len(values) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low for v in values):
        raise ContractError(f"supports[{key!r}] must be a non-empty list of integers >= {low}, got {values!r}")
    return tuple(sorted({int(v) for v in values}))


def declared(supports: dict | None) -> dict:
    """Contract 1.1's architecture and format keys, validated, with their defaults filled in."""
    supports = supports or {}
    out = {"depths": _ints(supports, "depths", 1), "output_units": _ints(supports, "output_units", 1)}
    sizes = supports.get("sizes")
    if sizes is not None:
        if isinstance(sizes, (str, bytes)) or not len(sizes) or not all(
                isinstance(s, (list, tuple)) and len(s) >= 2
                and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in s)
                for s in sizes):
            raise ContractError(f"supports['sizes'] must be a non-empty list of [n0, ..., nL], got {sizes!r}")
        # smallest first: a failing case shrinks towards the smallest network the SUT takes
        sizes = tuple(sorted({tuple(int(n) for n in s) for s in sizes}, key=lambda s: (sum(s), len(s), s)))
    out["sizes"] = sizes
    for key, valid, default in (("labels", LABELS, "onehot"), ("bias", BIASES, "2d")):
        value = supports.get(key, default)
        if value not in valid:
            raise ContractError(f"supports[{key!r}] must be one of {', '.join(valid)}, got {value!r}")
        out[key] = value
    returns = supports.get("returns", OPTIONAL_OUTPUTS)
    if isinstance(returns, str) or not set(returns) <= {*OPTIONAL_OUTPUTS, "dW", "db"}:
        raise ContractError(f"supports['returns'] lists which of {', '.join(OPTIONAL_OUTPUTS)} the SUT returns "
                            f"(dW and db always), got {returns!r}")
    out["returns"] = tuple(k for k in OPTIONAL_OUTPUTS if k in returns)
    return out


def outside(case: dict, supports: dict | None) -> str | None:
    """Why a concrete case lies outside what a SUT declares (None when it is inside)."""
    acts = case["activations"]
    checks = [("hidden_activations", acts[:-1]), ("output_activations", acts[-1:]), ("losses", [case["loss"]]),
              ("layouts", [case["layout"]]), ("dtypes", [case["dtype"]]), ("reductions", [case["reduction"]])]
    if "scale" in case:
        checks.append(("scales", [case["scale"]]))
    for key, names in checks:
        missing = [n for n in names if n not in supported(supports, key)]
        if missing:
            return f"{key} {missing} not in the SUT's supports"
    shape, sizes = declared(supports), list(case["sizes"])
    if shape["sizes"] is not None and tuple(sizes) not in shape["sizes"]:
        return f"sizes {sizes} is not one of the architectures the SUT declares"
    if shape["depths"] is not None and len(sizes) - 1 not in shape["depths"]:
        return f"depth {len(sizes) - 1} is not one the SUT declares"
    if shape["output_units"] is not None and sizes[-1] not in shape["output_units"]:
        return f"output width {sizes[-1]} is not one the SUT declares"
    return None


def not_returned(case: dict, supports: dict | None) -> list[str]:
    """The contract tensors a SUT says it does not return, in backward order (loss first)."""
    returns = declared(supports)["returns"]
    out = [] if "loss" in returns else ["loss"]
    if "dZ" not in returns:
        out += [k for k in backward_order(case, with_dA0=False) if k.startswith("dZ")]
    if "dA0" not in returns:
        out.append("dA0")
    return out
