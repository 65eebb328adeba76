"""A deliberately wrong SUT: the sigmoid derivative evaluated at A, not Z.

The bug
-------
The derivative of the sigmoid is ``sigmoid'(z) = sigmoid(z) (1 - sigmoid(z))``,
which can also be written ``a (1 - a)`` with ``a = sigmoid(z)``. The classic
slip is to mix the two forms and apply the sigmoid once more to the cached
activation: ``sigmoid(A) (1 - sigmoid(A))`` where ``A = sigmoid(Z)`` already.
The forward pass, and hence the loss, is untouched; only the backward pass
through sigmoid layers is wrong.

Everything else is the correct `general_chain` implementation. Because that
module never fuses the output layer (no ``A - Y`` shortcut for sigmoid +
bce), the bug shows at every sigmoid layer, output layer included. Walking
the backward pass from the loss, the first tensor to diverge from a correct
implementation is ``dZ{l}`` of the sigmoid layer closest to the output (the
highest-numbered one); its ``dW{l}``, ``db{l}`` and the gradients of every
layer below it follow. Cases without a sigmoid layer come out exactly right.

Running it against the suite
----------------------------
From the repository root; the suite should report a failure that localises
to that ``dZ``::

    pytest -m crosscheck --sut=examples/suts/buggy_sigmoid_at_a.py:backprop
"""

from scipy.special import expit

try:
    from . import general_chain as _correct
except ImportError:
    # Loaded straight from its file path (``path.py:backprop``) rather than as
    # part of the examples.suts package: load the sibling file the same way.
    import importlib.util
    import pathlib
    import sys

    _name = "_examples_suts_general_chain"
    _correct = sys.modules.get(_name)
    if _correct is None:
        _spec = importlib.util.spec_from_file_location(
            _name, pathlib.Path(__file__).with_name("general_chain.py"))
        _correct = importlib.util.module_from_spec(_spec)
        sys.modules[_name] = _correct
        _spec.loader.exec_module(_correct)

__all__ = ["backprop"]


def _sigmoid_backward_at_a(Z, A, dA, axis):
    s = expit(A)  # BUG: A is already sigmoid(Z); this should be expit(Z)
    return dA * s * (1.0 - s)


_ACTIVATIONS = dict(_correct.ACTIVATIONS)
_ACTIVATIONS["sigmoid"] = _correct.Activation(_correct.ACTIVATIONS["sigmoid"].forward,
                                              _sigmoid_backward_at_a)


def backprop(case, params, X, Y):
    """Same contract as `general_chain.backprop`, with the sigmoid bug.

    Parameters
    ----------
    case : dict
        The case as in the plug-in contract.
    params : dict of ndarray
        ``W{l}`` and ``b{l}`` in the case's layout.
    X : ndarray
        ``(m, n0)`` for rows, ``(n0, m)`` for columns.
    Y : ndarray
        Targets shaped like ``A_L``.

    Returns
    -------
    dict
        ``"loss"``, ``"dW{l}"``, ``"db{l}"``, ``"dZ{l}"`` and ``"dA0"``; wrong
        from the last sigmoid layer downwards whenever one is present.
    """
    return _correct.run(case, params, X, Y, activations=_ACTIVATIONS)
