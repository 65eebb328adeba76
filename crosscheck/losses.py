"""The loss table: one row per contract loss name.

Each row holds the harness's own per-example definition (float64, complex-safe, rows layout: ``a`` and
``y`` are (..., m, K), the result is (..., m)), what targets it takes, which output activations make it
well defined, and the magnitudes the error model needs. The SUT's loss code is never used here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crosscheck import activations
from crosscheck.activations import sigmoid, softmax, softplus

Array = np.ndarray


def _log(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x)


def _xlog(y, a):
    """y log a with 0 log 0 = 0, as the contract's sums intend."""
    return np.where(y != 0, y * _log(np.where(y != 0, a, 1.0)), 0.0)


def _logsumexp(a):
    shift = a.real.max(axis=-1, keepdims=True)
    return (shift + np.log(np.exp(a - shift).sum(axis=-1, keepdims=True)))[..., 0]


def target_onehot(y):
    """1 at the target class c = argmax y, 0 elsewhere (broadcasts like y)."""
    return (np.arange(y.shape[-1]) == np.argmax(y.real, axis=-1)[..., None]) * 1.0


def hinge_margins(a, y):
    """a_k - a_c + 1 for every wrong class k, with c the target class; 0 at k = c."""
    c = target_onehot(y)
    return (a - (a * c).sum(-1, keepdims=True) + 1.0) * (1 - c)


def _hinge(a, y):
    m = hinge_margins(a, y)
    return np.where(m.real > 0, m, 0.0).sum(axis=-1)


def _hinge_grad_terms(a, y):
    active = (hinge_margins(a, y) > 0) * 1.0
    return active + target_onehot(y) * active.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Loss:
    name: str
    formula: str
    value: Callable[[Array, Array], Array]
    """Per-example loss, summed over the K output units."""
    targets: str
    """'onehot', 'binary' or 'real': what Y holds."""
    outputs: tuple[str, ...] | None
    """Output activations that keep the loss finite (None: any)."""
    grad_terms: Callable[[Array, Array], Array]
    """Sum of magnitudes of the terms of d loss / d a_k (the rounding scale of dA_L)."""
    hess_abs: Callable[[Array, Array, Array], Array]
    """|d^2 loss / d a^2| applied to an error vector E: how errors in A_L move dA_L."""
    value_terms: Callable[[Array, Array], Array]
    """Sum of magnitudes of the terms of the per-example loss (the rounding scale of J)."""
    kink: bool = False
    """True when d loss / d a jumps (hinge margins at zero)."""


def _squared_error(scale: Callable[[Array], float]):
    """Magnitudes for scale(a) * sum_k (a_k - y_k)^2; scale is 1, 1/2 or 1/K."""
    return dict(
        grad_terms=lambda a, y: scale(a) * 2 * (np.abs(a) + np.abs(y)),
        hess_abs=lambda a, y, e: scale(a) * 2 * e,
        value_terms=lambda a, y: scale(a) * ((a - y) ** 2 + 2 * np.abs(a - y) * (np.abs(a) + np.abs(y))).sum(-1),
    )


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in [
        Loss("sse", "sum_k (a_k - y_k)^2", lambda a, y: ((a - y) ** 2).sum(-1), "real", None,
             **_squared_error(lambda a: 1.0)),
        Loss("half_sse", "1/2 sum_k (a_k - y_k)^2", lambda a, y: 0.5 * ((a - y) ** 2).sum(-1),
             "real", None, **_squared_error(lambda a: 0.5)),
        Loss("mse", "(1/K) sum_k (a_k - y_k)^2", lambda a, y: ((a - y) ** 2).mean(-1), "real", None,
             **_squared_error(lambda a: 1.0 / a.shape[-1])),
        Loss("bce", "-sum_k [y_k log a_k + (1 - y_k) log(1 - a_k)]",
             lambda a, y: -(_xlog(y, a) + _xlog(1 - y, 1 - a)).sum(-1), "binary", ("sigmoid",),
             grad_terms=lambda a, y: np.abs(y / a) + np.abs((1 - y) / (1 - a)),
             hess_abs=lambda a, y, e: (y / a**2 + (1 - y) / (1 - a) ** 2) * e,
             # log of a rounded a or 1 - a errs by u whatever their size: one unit per log
             value_terms=lambda a, y: (np.abs(_xlog(y, a)) + np.abs(_xlog(1 - y, 1 - a))
                                       + np.abs(y) + np.abs(1 - y)).sum(-1)),
        Loss("cross_entropy", "-sum_k y_k log a_k", lambda a, y: -_xlog(y, a).sum(-1), "onehot",
             ("softmax", "sigmoid"),
             grad_terms=lambda a, y: np.abs(y / a),
             hess_abs=lambda a, y, e: (y / a**2) * e,
             value_terms=lambda a, y: (np.abs(_xlog(y, a)) + np.abs(y)).sum(-1)),
        Loss("softmax_cross_entropy", "-sum_k y_k log softmax(a)_k  (a: logits)",
             lambda a, y: y.sum(-1) * _logsumexp(a) - (y * a).sum(-1), "onehot", None,
             # p may be formed as exp(log_softmax), whose rounding grows with |log p|
             grad_terms=lambda a, y: softmax(a) * (1 + np.abs(a - _logsumexp(a)[..., None])) + np.abs(y),
             hess_abs=lambda a, y, e: softmax(a) * (e + (softmax(a) * e).sum(-1, keepdims=True)),
             value_terms=lambda a, y: (np.abs(y) * (np.abs(a) + np.abs(a).max(-1, keepdims=True))
                                       ).sum(-1) + np.abs(_logsumexp(a)) + 1),
        Loss("bce_with_logits", "-sum_k [y_k log sigmoid(a_k) + (1 - y_k) log(1 - sigmoid(a_k))]",
             lambda a, y: (softplus(a) - y * a).sum(-1), "binary", None,
             # sigma(a) may be formed as exp(a - softplus(a)), whose rounding grows with |a|
             grad_terms=lambda a, y: (activations.sig_terms(a) + np.abs(y)
                                      + np.abs(a) * (np.abs(y) * sigmoid(-a) + np.abs(1 - y) * sigmoid(a))),
             hess_abs=lambda a, y, e: sigmoid(a) * (1 - sigmoid(a)) * e,
             value_terms=lambda a, y: (softplus(a) + np.abs(y * a) + 1).sum(-1)),
        Loss("hinge", "sum_{k != c} max(0, a_k - a_c + 1), c the target class",
             _hinge, "onehot", None,
             grad_terms=_hinge_grad_terms,
             hess_abs=lambda a, y, e: np.zeros_like(e),
             value_terms=lambda a, y: (_hinge_grad_terms(a, y) * (np.abs(a) + np.abs(a).max(-1, keepdims=True) + 1)
                                       ).sum(-1),
             kink=True),
    ]
}

NAMES = tuple(LOSSES)

# Output activation + loss pairs that equal a loss on the logits Z_L. The same function, but the
# logit form has no log(1 - a) to lose digits in when the output saturates.
ON_LOGITS = {("sigmoid", "bce"): "bce_with_logits", ("softmax", "cross_entropy"): "softmax_cross_entropy"}


def get(name: str) -> Loss:
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; valid names: {', '.join(NAMES)}") from None
