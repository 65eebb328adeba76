"""Per-example losses and their gradients with respect to the network output A_L.

Each entry maps a name to (loss(A, Y, axis) -> per-example losses, dloss(A, Y, axis) -> dA), where
``axis`` is the unit axis (1 for rows, 0 for columns). The reduction (mean or sum) is applied by
the caller.
"""

import numpy as np

from reference_impl.activations import sigmoid, softmax


def _log_softmax(A, axis):
    shifted = A - A.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _hinge_margins(A, Y, axis):
    # a_k − a_c + 1 for the wrong classes; the target class itself never counts
    a_c = (A * Y).sum(axis=axis, keepdims=True)
    return np.where(Y == 1, 0, A - a_c + 1)


def _hinge_grad(A, Y, axis):
    active = (_hinge_margins(A, Y, axis) > 0).astype(A.dtype)
    # each active margin pushes its class up and the target class down
    return active - Y * active.sum(axis=axis, keepdims=True)


LOSSES = {
    "sse": (lambda A, Y, axis: ((A - Y) ** 2).sum(axis),
            lambda A, Y, axis: 2 * (A - Y)),
    "half_sse": (lambda A, Y, axis: 0.5 * ((A - Y) ** 2).sum(axis),
                 lambda A, Y, axis: A - Y),
    "mse": (lambda A, Y, axis: ((A - Y) ** 2).mean(axis),
            lambda A, Y, axis: 2 * (A - Y) / A.shape[axis]),
    "bce": (lambda A, Y, axis: -(Y * np.log(A) + (1 - Y) * np.log(1 - A)).sum(axis),
            lambda A, Y, axis: -Y / A + (1 - Y) / (1 - A)),
    "cross_entropy": (lambda A, Y, axis: -(Y * np.log(A)).sum(axis),
                      lambda A, Y, axis: -Y / A),
    "softmax_cross_entropy": (lambda A, Y, axis: -(Y * _log_softmax(A, axis)).sum(axis),
                              lambda A, Y, axis: softmax(A, axis) * Y.sum(axis, keepdims=True) - Y),
    "bce_with_logits": (lambda A, Y, axis: (np.logaddexp(0, A) - Y * A).sum(axis),
                        lambda A, Y, axis: sigmoid(A) - Y),
    "hinge": (lambda A, Y, axis: np.maximum(_hinge_margins(A, Y, axis), 0).sum(axis),
              _hinge_grad),
}


def get(name):
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}")
    return LOSSES[name]
