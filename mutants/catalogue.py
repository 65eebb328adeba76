"""The mutant catalogue: realistic backprop bugs, each one formula wrong in an otherwise correct
implementation (``base.Backprop``), with what it takes to reveal it and where it must show first.

Each entry records
* ``bug_class``: which classic mistake it is;
* ``reveals``: the cases that can expose it, as keyword arguments to ``crosscheck.strategies.cases``
  (e.g. a tanh layer, a batch of at least 2);
* ``first``: the tensors that may diverge first in backward order, as a function of the case. An
  activation-derivative bug must show at the dZ of a layer with that activation: the highest one
  unless the wrong formula happens to agree with the right one there (elu' only differs for
  z <= 0, gelu' barely differs in saturation). A bug in every layer's dW (or db) shows at the
  highest layer whose dW it actually changes: zeros (a dead relu, an inactive hinge) can hide it
  in the layers above.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import erf

from mutants.base import Backprop, sigmoid


@dataclass(frozen=True)
class Mutant:
    name: str
    bug_class: str
    story: str
    sut: Backprop
    first: Callable[[dict], tuple[str, ...]]
    reveals: dict = field(default_factory=dict)

    @property
    def spec(self) -> str:
        return f"mutants.catalogue:{self.name}"


def at(activation: str) -> Callable[[dict], tuple[str, ...]]:
    """dZ of any layer with this activation: where an activation-derivative bug shows first."""
    return lambda case: tuple(f"dZ{l}" for l, a in enumerate(case["activations"], 1) if a == activation)


def output(tensor: str) -> Callable[[dict], tuple[str, ...]]:
    return lambda case: (f"{tensor}{len(case['activations'])}",)


def below_output(case: dict) -> tuple[str, ...]:
    """Where a wrong dA shows: the dZ of the layer below the output, or lower when a zero
    derivative there (a saturated unit, a dead relu) happens to hide it, or finally dA0."""
    return tuple(f"dZ{l}" for l in range(len(case["activations"]) - 1, 0, -1)) + ("dA0",)


def every_layer(tensor: str) -> Callable[[dict], tuple[str, ...]]:
    return lambda case: tuple(f"{tensor}{l}" for l in range(1, len(case["activations"]) + 1))


def only(*activations, **more) -> dict:
    return {"supports": {"activations": list(activations)}, **more}


def loss(name, **more) -> dict:
    return {"supports": {"losses": [name]}, **more}


def mutant(base_method: str, fn) -> Backprop:
    """A Backprop whose ``base_method`` is replaced by ``fn`` (same signature, self first)."""
    return type(f"Mutant_{base_method}", (Backprop,), {base_method: fn})()


def _prime(name, wrong):
    """act_prime with one activation's derivative replaced."""
    def act_prime(self, n, Z, A):
        return wrong(Z, A) if n == name else Backprop.act_prime(self, n, Z, A)
    return mutant("act_prime", act_prime)


def _loss_grad(name, wrong):
    def loss_grad(self, n, A, Y, axis):
        return wrong(A, Y, axis) if n == name else Backprop.loss_grad(self, n, A, Y, axis)
    return mutant("loss_grad", loss_grad)


class _Accumulating(Backprop):
    """Gradient buffers allocated once and never zeroed: each call adds to the last call's dW."""

    def __init__(self):
        self.buffers = {}

    def finish(self, case, grads):
        for key in [k for k in grads if k.startswith("dW")]:
            old = self.buffers.get(key)
            if old is not None and old.shape == grads[key].shape and old.dtype == grads[key].dtype:
                grads[key] = grads[key] + old
            self.buffers[key] = grads[key]
        return grads


def _float16(self, case, grads):
    with np.errstate(over="ignore"):  # float16 overflows to inf: part of the bug
        return {k: (v.astype(np.float16).astype(v.dtype) if k.startswith("dW") else v) for k, v in grads.items()}


def _mean_twice(self, rows, A_prev, dZ):
    m = A_prev.shape[0 if rows else 1]
    return Backprop.weight_grad(self, rows, A_prev, dZ) / m


def _skip_last_example(self, rows, A_prev, dZ):
    return A_prev[:-1].T @ dZ[:-1] if rows else dZ[:, :-1] @ A_prev[:, :-1].T


def _fused_everywhere(self, case, Z, A, Y, r, axis):
    return r * (A - Y)


_phi = lambda Z: np.exp(-0.5 * Z * Z) / math.sqrt(2 * math.pi)  # noqa: E731

CATALOGUE = [
    Mutant("sigmoid_prime_at_A", "activation derivative at the wrong quantity",
           "sigmoid' evaluated at A, which is already sigmoid(Z): sigmoid(A) (1 - sigmoid(A))",
           _prime("sigmoid", lambda Z, A: sigmoid(A) * (1 - sigmoid(A))), at("sigmoid"), only("sigmoid")),
    Mutant("tanh_prime_from_Z", "activation derivative at the wrong quantity",
           "tanh' written as 1 - Z^2 instead of 1 - A^2",
           _prime("tanh", lambda Z, A: 1 - Z * Z), at("tanh"), only("tanh")),
    Mutant("tanh_prime_unsquared", "activation derivative in the wrong form",
           "tanh' written as 1 - A (the square forgotten)",
           _prime("tanh", lambda Z, A: 1 - A), at("tanh"), only("tanh")),
    Mutant("elu_prime_forgot_one", "activation derivative in the wrong form",
           "elu' for z <= 0 taken as A = e^z - 1 instead of A + 1",
           _prime("elu", lambda Z, A: np.where(Z > 0, 1, A).astype(Z.dtype)), at("elu"), only("elu")),
    Mutant("softplus_prime_is_softplus", "activation derivative in the wrong form",
           "softplus' taken as log(1 + e^z) itself instead of sigmoid(z)",
           _prime("softplus", lambda Z, A: A), at("softplus"), only("softplus")),
    Mutant("silu_prime_no_product_rule", "activation derivative in the wrong form",
           "silu' taken as sigmoid(z), dropping the z sigmoid'(z) term of the product rule",
           _prime("silu", lambda Z, A: sigmoid(Z)), at("silu"), only("silu")),
    Mutant("gelu_prime_no_density_term", "activation derivative in the wrong form",
           "gelu' taken as Phi(z), dropping z phi(z)",
           _prime("gelu", lambda Z, A: 0.5 * (1 + erf(Z / math.sqrt(2)))), at("gelu"), only("gelu")),
    Mutant("leaky_slope_lost", "leaky slope lost",
           "leaky_relu' copied from relu: 0 for z < 0 instead of 0.01",
           _prime("leaky_relu", lambda Z, A: (Z >= 0).astype(Z.dtype)), at("leaky_relu"), only("leaky_relu")),
    Mutant("softmax_elementwise", "softmax treated as elementwise",
           "softmax backward as dA * A (1 - A), the diagonal of its Jacobian only",
           mutant("softmax_backward", lambda self, dA, A, axis: dA * A * (1 - A)), at("softmax"),
           only("softmax", min_width=2)),
    Mutant("sse_missing_factor_2", "loss derivative: a missing factor",
           "d/da sum (a - y)^2 written as (a - y)",
           _loss_grad("sse", lambda A, Y, axis: A - Y), output("dZ"), loss("sse")),
    Mutant("half_sse_extra_factor_2", "loss derivative: a wrong factor",
           "d/da 1/2 sum (a - y)^2 written as 2 (a - y)",
           _loss_grad("half_sse", lambda A, Y, axis: 2 * (A - Y)), output("dZ"), loss("half_sse")),
    Mutant("mse_forgot_1_over_K", "loss derivative: a forgotten 1/K",
           "mse's derivative without the 1/K of its mean over outputs",
           _loss_grad("mse", lambda A, Y, axis: 2 * (A - Y)), output("dZ"), loss("mse", min_width=2)),
    Mutant("bce_sign_flipped", "loss derivative: a sign",
           "bce's derivative as y/a - (1 - y)/(1 - a)",
           _loss_grad("bce", lambda A, Y, axis: Y / A - (1 - Y) / (1 - A)), output("dZ"), loss("bce")),
    Mutant("cross_entropy_sign_flipped", "loss derivative: a sign",
           "cross-entropy's derivative as y/a, the minus sign lost",
           _loss_grad("cross_entropy", lambda A, Y, axis: Y / A), output("dZ"), loss("cross_entropy")),
    Mutant("softmax_cross_entropy_no_softmax", "loss derivative: a missing factor",
           "softmax cross-entropy's derivative as logits - y, the softmax forgotten",
           _loss_grad("softmax_cross_entropy", lambda A, Y, axis: A - Y), output("dZ"),
           loss("softmax_cross_entropy")),
    Mutant("bce_with_logits_no_sigmoid", "loss derivative: a missing factor",
           "bce-with-logits' derivative as a - y, the sigmoid forgotten",
           _loss_grad("bce_with_logits", lambda A, Y, axis: A - Y), output("dZ"), loss("bce_with_logits")),
    Mutant("hinge_counts_target_class", "hinge margins counted wrong",
           "multiclass hinge margins summed over every class, the target's own margin of 1 included",
           mutant("hinge_margins", lambda self, A, Y, axis: A - (A * Y).sum(axis=axis, keepdims=True) + 1),
           lambda case: ("loss",), loss("hinge", min_width=2)),  # the margins make the loss too: forward first
    Mutant("hinge_target_pushed_once", "hinge margins counted wrong",
           "the target class pushed down once, not once per active margin",
           _loss_grad("hinge", lambda A, Y, axis: (Backprop.hinge_margins(None, A, Y, axis) > 0) - Y),
           output("dZ"), loss("hinge", min_width=3)),
    Mutant("mean_forgotten", "mean reduction forgotten",
           "the 1/m of the mean reduction never applied",
           mutant("scale", lambda self, case, m: 1), output("dZ"),
           {"supports": {"reductions": ["mean"]}, "min_batch": 2}),
    Mutant("mean_applied_twice", "mean reduction applied twice",
           "1/m applied in dA_L and again in dW = A^T dZ / m",
           mutant("weight_grad", _mean_twice), every_layer("dW"),
           {"supports": {"reductions": ["mean"]}, "min_batch": 2}),
    Mutant("bias_grad_first_example", "bias gradient not summed over examples",
           "db taken from the first example's dZ instead of the sum over examples",
           mutant("bias_grad", lambda self, rows, dZ: dZ[:1] if rows else dZ[:, :1]), every_layer("db"),
           {"min_batch": 2}),
    Mutant("bias_grad_wrong_axis", "bias gradient summed over the wrong axis",
           "db summed over the units instead of the examples",
           mutant("bias_grad", lambda self, rows, dZ: dZ.sum(axis=1 if rows else 0, keepdims=True)),
           output("db"), {"min_batch": 2}),
    # every layer's dW comes back transposed: it shows in the output layer first, unless that dW is
    # zero (a hinge loss of 0 makes dZ_L = 0) and so equal to its transpose; then in a layer below
    Mutant("dW_transposed", "dW transposed",
           "dW = dZ^T A_{l-1} in the rows layout (the transpose of the right answer)",
           mutant("weight_grad", lambda self, rows, A_prev, dZ: dZ.T @ A_prev if rows else dZ @ A_prev.T),
           every_layer("dW"), {"layouts": ("rows",), "min_width": 2}),
    Mutant("dW_columns_uses_rows_formula", "dW wrong in one layout only",
           "the columns layout computes dW with the rows formula A_{l-1} dZ^T, so it comes back transposed",
           mutant("weight_grad", lambda self, rows, A_prev, dZ: A_prev.T @ dZ if rows else A_prev @ dZ.T),
           every_layer("dW"), {"layouts": ("columns",), "min_width": 2}),
    Mutant("dA_through_dW", "dA propagated with the wrong weights",
           "dA_{l-1} = dZ_l dW_l^T: the gradient dW where the weights W belong",
           mutant("input_grad", lambda self, rows, W, dW, dZ: dZ @ dW.T if rows else dW.T @ dZ),
           below_output, {"min_depth": 2}),
    Mutant("gradients_accumulate", "state kept between calls",
           "gradient buffers allocated once and never zeroed: each call adds the previous dW",
           _Accumulating(), every_layer("dW")),  # the highest dW the last call left a same-shaped buffer for
    Mutant("dW_through_float16", "precision lost",
           "dW passed through a float16 buffer on its way out",
           mutant("finish", _float16), every_layer("dW"), {"dtypes": ("float64",)}),
    Mutant("dW_skips_last_example", "off by one over examples",
           "the sum over examples in dW stops one short (range(m - 1))",
           mutant("weight_grad", _skip_last_example), every_layer("dW"), {"min_batch": 2}),
    Mutant("backward_skips_layer_1", "off by one over layers",
           "the backward loop runs range(L, 1, -1) and never reaches layer 1",
           # layer 1's tensors, or dA0 when they all happen to be 0 (a one-unit softmax in layer 1)
           mutant("layers", lambda self, L: range(L, 1, -1)), lambda case: ("dZ1", "dW1", "db1", "dA0")),
    Mutant("fused_shortcut_everywhere", "a fused shortcut applied where it does not hold",
           "dZ_L = (A - Y)/m used for every loss and output, e.g. with sse",
           mutant("output_delta", _fused_everywhere), output("dZ"), loss("sse")),
]
MUTANTS = {m.name: m for m in CATALOGUE}
globals().update({m.name: m.sut for m in CATALOGUE})  # each mutant loads as --sut=mutants.catalogue:NAME
