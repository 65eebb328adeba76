"""The op table: one row per layer op that a layer library writes as its own function(s).

A row says how a convention's functions are called (``forward_fn``, ``backward_fn``), what they
take and return, how the inputs' shapes follow from drawn dims, the harness's own float64 forward
(complex-safe: the complex-step oracle runs through it), a torch forward (autograd's oracle), and
the error-model rule of every output (``crosscheck.tolerance``, one function per op). The scalar
the gradients are of is <dout, out> for an op with an upstream gradient, and the loss itself for
a loss. Adding an op is adding a row: the strategies, the oracles, the adapters and the checks
enumerate this table.

An op case is plain data, so its JSON is its whole reproduction::

    {"kind": "op", "op": "affine", "dims": {"N": 4, "D": 3, "M": 5}, "dtype": "float32",
     "scale": "unit", "seed": 7, "contract_version": "1.1"}

``build`` turns it into arrays, deterministically from the seed, in the case's dtype (labels as
int64 class indices); an op's arrays all travel in ``params`` (named as the row names them) to the
SUT's side of ``crosscheck.boundary``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crosscheck import activations, contract, losses, tolerance
from crosscheck.problems import SCALES, IllPosedCase
from crosscheck.windows import windows

KIND = "op"
MAX_REDRAWS = 50


@dataclass(frozen=True)
class Input:
    name: str
    draw: str
    """data N(0, 1) s; weight N(0, 1/fan_in) s; bias N(0, 1/4) s; label integers in [0, C);
    upstream N(0, 1), the gradient arriving from above (dout); setting a number the case states
    (``case["settings"]``: eps, a keep probability, a mask's seed), a 0-d array (float64, or int64
    for an integer), which the SUT gets inside the row's parameter dict, never as an array."""
    shape: Callable[[dict], tuple[int, ...]]


@dataclass(frozen=True)
class Op:
    name: str
    convention: str
    """Whose functions these are: 'cs231n' (layer functions) or 'ng' (the course's step functions)."""
    formula: str
    forward_fn: str
    backward_fn: str | None
    """None: ``forward_fn`` returns (loss, dx) itself (cs231n's losses)."""
    inputs: tuple[Input, ...]
    """The forward's arguments, in order."""
    outputs: tuple[str, ...]
    """What the forward returns before its cache, in order (a loss: 'loss')."""
    gradients: tuple[str, ...]
    """What backward returns, in order."""
    wrt: tuple[str, ...]
    """The input each gradient is of (same order as ``gradients``)."""
    dims: dict[str, tuple[int, int]]
    forward: Callable
    """Harness forward: (*inputs as float64/complex128, labels int) -> tuple of outputs."""
    torch_forward: Callable
    """(torch, *inputs as float64 tensors) -> tuple of outputs."""
    rule: Callable
    """(inputs dict float64, dtype) -> {output or gradient name: S} (``tolerance``)."""
    upstream: str | None = None
    """The name backward's first argument goes by (dout, dZ, dA); None for a loss."""
    extra_args: tuple = ()
    """Fixed arguments after the inputs (the course's activation name)."""
    scale: Callable | None = None
    """(inputs) -> {gradient: factor}: a gradient the convention states is scaled (ng's 1/m)."""
    clear: Callable | None = None
    """(inputs float64, dtype) -> bool per example (axis 0 of the first input, or its columns for ng):
    the example is clear of every kink (relu at 0, hinge margins at 0) in the case's dtype."""
    examples_axis: int = 0
    settings: dict = None
    """{setting: its allowed values}: the numbers a case states (``case["settings"]``), e.g. eps."""
    positional: tuple[str, ...] = ()
    """Settings the SUT gets as positional arguments after the arrays, before the parameter dict
    (groupnorm's G); every other setting goes in the dict."""
    param_dict: tuple | None = None
    """(name, fixed entries): the settings go to the SUT as one dict argument after the arrays,
    e.g. ('bn_param', {'mode': 'train'}) -> bn_param = {'mode': 'train', 'eps': 1e-05}."""

    def __post_init__(self):
        object.__setattr__(self, "settings", dict(self.settings or {}))

    @property
    def order(self) -> list[str]:
        """Forward outputs first, then backward's outputs in order: the order of the first divergence."""
        return [*self.outputs, *self.gradients]

    def function_of(self, key: str) -> str:
        """'dw (affine_backward's output 2 of 3)' for messages."""
        if key in self.outputs and self.backward_fn is not None:
            return f"{key} ({self.forward_fn}'s output)"
        fn = self.backward_fn or self.forward_fn
        names = self.gradients if self.backward_fn else self.order
        return f"{key} ({fn}'s output {names.index(key) + 1} of {len(names)})"


# ---------------------------------------------------------------------------------------------
# harness forwards (float64, complex-safe) and torch forwards


def _affine(x, w, b):
    return (x.reshape(x.shape[0], -1) @ w + b,)


def _linear(A, W, b):
    return (W @ A + b,)


def _onehot(x, y):
    return np.eye(x.shape[1])[np.asarray(y, int)]


def _mean_loss(name):
    def forward(x, y):
        return (losses.get(name).value(x, _onehot(x, y)).sum() / x.shape[0],)
    return forward


def _torch_softmax_loss(T, x, y):
    return (T.nn.functional.cross_entropy(x, y),)


def _torch_svm_loss(T, x, y):
    # multi_margin_loss averages over the C classes as well as over N; the convention sums over classes
    return (x.shape[1] * T.nn.functional.multi_margin_loss(x, y, margin=1.0),)


TORCH_ACTIVATIONS = {"relu": lambda T, z: T.relu(z), "sigmoid": lambda T, z: T.sigmoid(z)}


def _normalize(x, gamma, beta, eps, axis):
    """γ (x - μ) / sqrt(σ² + eps) + β over ``axis``, complex-safe (σ² from squares, not |.|²)."""
    xc = x - x.mean(axis, keepdims=True)
    return (gamma * (xc / np.sqrt((xc * xc).mean(axis, keepdims=True) + eps)) + beta,)


def _torch_normalize(T, x, gamma, beta, eps, axis):
    if axis == 0:  # training mode: the batch's own mean and biased variance
        return (T.nn.functional.batch_norm(x, None, None, gamma, beta, training=True, eps=float(eps)),)
    return (T.nn.functional.layer_norm(x, (x.shape[1],), gamma, beta, eps=float(eps)),)


def dropout_mask(shape, p, seed) -> np.ndarray:
    """Inverted dropout's mask, keep probability p: what np.random.seed(seed) then
    (np.random.rand(*shape) < p) / p gives (RandomState(seed) is the same stream, without touching
    the global one)."""
    return (np.random.RandomState(int(seed)).rand(*shape) < float(p)) / float(p)


def _normalization(name, axis, backward_fn, formula):
    fn = "batchnorm" if axis == 0 else "layernorm"
    return Op(
        name, "cs231n", formula, f"{fn}_forward", backward_fn,
        inputs=(Input("x", "data", _shape("N", "D")), Input("gamma", "gamma", _shape("D")),
                Input("beta", "bias", _shape("D")), Input("dout", "upstream", _shape("N", "D")),
                Input("eps", "setting", _shape())),
        outputs=("out",), gradients=("dx", "dgamma", "dbeta"), wrt=("x", "gamma", "beta"),
        dims={"N": (2, 6), "D": (1, 6)} if axis == 0 else {"N": (1, 6), "D": (2, 6)},
        forward=lambda x, gamma, beta, dout, eps: _normalize(x, gamma, beta, eps, axis),
        torch_forward=lambda T, x, gamma, beta, dout, eps: _torch_normalize(T, x, gamma, beta, eps.item(), axis),
        rule=lambda i, dtype: tolerance.normalization_rule(i["x"], i["gamma"], i["beta"], i["dout"],
                                                          float(i["eps"]), axis, dtype),
        upstream="dout", settings={"eps": EPSILONS},
        param_dict=("bn_param", {"mode": "train"}) if axis == 0 else ("ln_param", {}))


def _conv(x, w, b, stride, pad):
    """out[n, f] = Σ over each window of x_pad w[f] + b[f], by ``windows`` (complex-safe)."""
    F = w.shape[0]
    cols = windows(x, w.shape[2], w.shape[3], int(stride), int(pad))  # (N, C, Ho, Wo, HH, WW)
    N, C, Ho, Wo = cols.shape[:4]
    cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(N, Ho, Wo, -1)
    return ((cols @ w.reshape(F, -1).T + b).transpose(0, 3, 1, 2),)


def _max_pool(x, PH, PW, stride):
    """Each window's max, selected by the real part so that a complex step rides along with it."""
    flat = windows(x, int(PH), int(PW), int(stride))
    flat = flat.reshape(flat.shape[:4] + (-1,))
    return (np.take_along_axis(flat, np.real(flat).argmax(-1)[..., None], -1)[..., 0],)


def _groupnorm(x, gamma, beta, G, eps):
    N, C, H, W = x.shape
    xhat = _normalize(x.reshape(N, int(G), -1), 1, 0, eps, 2)[0].reshape(x.shape)
    return (gamma * xhat + beta,)


def _spatial(name, formula, backward_fn, inputs, dims, forward, torch_forward, rule, settings, param_dict,
             gradients=("dx", "dgamma", "dbeta"), wrt=("x", "gamma", "beta"), **kw):
    return Op(name, "cs231n", formula, f"{name}_forward" if not name.endswith("_naive") else
              name.replace("_naive", "_forward_naive"), backward_fn, inputs=inputs, outputs=("out",),
              gradients=gradients, wrt=wrt, dims=dims, forward=forward, torch_forward=torch_forward, rule=rule,
              upstream="dout", settings=settings, param_dict=param_dict, **kw)


def _conv_x_shape(d):
    # kernel HH = KH + 2 pad, so H = (Ho - 1) stride + KH gives Ho outputs with nothing left over
    return (d["N"], d["C"], (d["Ho"] - 1) * d["stride"] + d["KH"], (d["Wo"] - 1) * d["stride"] + d["KW"])


def _pool_x_shape(d):
    return (d["N"], d["C"], (d["Ho"] - 1) * d["stride"] + d["pool_height"],
            (d["Wo"] - 1) * d["stride"] + d["pool_width"])


def _pool_clear(inputs, dtype):
    return tolerance.pool_clear(inputs["x"], int(inputs["pool_height"]), int(inputs["pool_width"]),
                                int(inputs["stride"]), dtype)


def _torch_conv(T, x, w, b, dout, stride, pad):
    return (T.nn.functional.conv2d(x, w, b, stride=stride.item(), padding=pad.item()),)


def _torch_max_pool(T, x, dout, PH, PW, stride):
    return (T.nn.functional.max_pool2d(x, (PH.item(), PW.item()), stride=stride.item()),)


def _torch_spatial_batchnorm(T, x, gamma, beta, dout, eps):
    return (T.nn.functional.batch_norm(x, None, None, gamma, beta, training=True, eps=eps.item()),)


def _torch_groupnorm(T, x, gamma, beta, dout, G, eps):
    return (T.nn.functional.group_norm(x, G.item(), gamma.reshape(-1), beta.reshape(-1), eps=eps.item()),)




EPSILONS = (1e-5, 1e-3, 1e-8)
"""The eps a normalization case may state (CS231n's default first)."""
KEEP = (0.5, 0.25, 0.8, 0.3, 1.0)
"""The keep probabilities p a dropout case may state (0.3: a 1/p that no dtype holds exactly)."""


# ---------------------------------------------------------------------------------------------
# kink rules


def _away_from_kink(act_name):
    kink = activations.get(act_name).kink

    def clear(inputs, dtype):
        z = inputs["x"] if "x" in inputs else inputs["Z"]
        # exact inputs: only an input exactly at the kink is ambiguous
        return (np.abs(z - kink) > 0).reshape(z.shape[0], -1).all(1)
    return clear if kink is not None else None


def _margins_clear(inputs, dtype):
    x = inputs["x"]
    return tolerance.margins_clear(x, tolerance._exact(x), _onehot(x, inputs["y"]), dtype)


def _linear_activation_clear(act_name):
    kink = activations.get(act_name).kink

    def clear(inputs, dtype):
        A, W, b = inputs["A_prev"], inputs["W"], inputs["b"]
        Z = (W @ A + b).T
        E_Z = tolerance.linear_rule(A, W, b, np.zeros_like(Z.T), dtype)["Z"]
        return (np.abs(Z - kink) > tolerance.allowed(np.swapaxes(E_Z, -1, -2), dtype, "float64")).all(1)
    return clear if kink is not None else None


# ---------------------------------------------------------------------------------------------
# the rows


def _shape(*names):
    return lambda d: tuple(d[n] if isinstance(n, str) else n for n in names)


def _affine_x_shape(d):
    return (d["N"], d["D"], d["D2"]) if "D2" in d else (d["N"], d["D"])


def _per_m(*names):
    return lambda inputs: {n: 1.0 / inputs["A_prev"].shape[1] for n in names}


def _elementwise(convention, act_name, forward_fn, backward_fn, x, out, dx, upstream):
    act = activations.get(act_name)
    return Op(
        act_name if convention == "cs231n" else f"ng_{act_name}", convention,
        f"{out} = {act_name}({x}); {dx} = {upstream} ⊙ {act_name}'({x})",
        forward_fn, backward_fn,
        inputs=(Input(x, "data", _shape("N", "D")), Input(upstream, "upstream", _shape("N", "D"))),
        outputs=(out,), gradients=(dx,), wrt=(x,), dims={"N": (1, 8), "D": (1, 8)},
        forward=lambda z, dout: (act.value(z),),
        torch_forward=lambda T, z, dout: (TORCH_ACTIVATIONS[act_name](T, z),),
        rule=lambda i, dtype: dict(zip((out, dx), tolerance.elementwise_rule(
            act, i[x], i[upstream], dtype).values(), strict=True)),
        upstream=upstream, clear=_away_from_kink(act_name))


def _linear_activation(act_name):
    act = activations.get(act_name)
    torch_act = TORCH_ACTIVATIONS[act_name]
    return Op(
        f"linear_{act_name}", "ng",
        f"A = {act_name}(Z), Z = W A_prev + b; dZ = dA ⊙ {act_name}'(Z), dA_prev = Wᵀ dZ, "
        f"dW = (1/m) dZ A_prevᵀ, db = (1/m) Σ dZ",
        "linear_activation_forward", "linear_activation_backward",
        inputs=(Input("A_prev", "data", _shape("D", "N")), Input("W", "weight", _shape("M", "D")),
                Input("b", "bias", _shape("M", 1)), Input("dA", "upstream", _shape("M", "N"))),
        outputs=("A",), gradients=("dA_prev", "dW", "db"), wrt=("A_prev", "W", "b"),
        dims={"N": (1, 8), "D": (1, 8), "M": (1, 8)},
        forward=lambda A, W, b, dA: (act.value((W @ A + b).T).T,),
        torch_forward=lambda T, A, W, b, dA: (torch_act(T, W @ A + b),),
        rule=lambda i, dtype: tolerance.linear_activation_rule(act, i["A_prev"], i["W"], i["b"], i["dA"], dtype),
        upstream="dA", extra_args=(act_name,), scale=_per_m("dW", "db"),
        clear=_linear_activation_clear(act_name), examples_axis=1)


FAMILY3 = [
    _spatial("conv_naive", "out[n, f, i, j] = Σ_{c, kh, kw} x_pad[n, c, i s + kh, j s + kw] w[f, c, kh, kw] + b[f] "
             "(zero padding pad, stride s); dx, dw, db: the same sums' gradients", "conv_backward_naive",
             inputs=(Input("x", "data", _conv_x_shape),
                     Input("w", "weight", lambda d: (d["F"], d["C"], d["KH"] + 2 * d["pad"], d["KW"] + 2 * d["pad"])),
                     Input("b", "bias", _shape("F")), Input("dout", "upstream", _shape("N", "F", "Ho", "Wo")),
                     Input("stride", "setting", _shape()), Input("pad", "setting", _shape())),
             dims={"N": (1, 2), "C": (1, 3), "F": (1, 3), "Ho": (1, 2), "Wo": (1, 2), "KH": (1, 3), "KW": (1, 3)},
             forward=lambda x, w, b, dout, stride, pad: _conv(x, w, b, stride, pad), torch_forward=_torch_conv,
             rule=lambda i, dtype: tolerance.conv_rule(i["x"], i["w"], i["b"], i["dout"], int(i["stride"]),
                                                       int(i["pad"]), dtype),
             settings={"stride": (1, 2), "pad": (0, 1)}, param_dict=("conv_param", {}),
             gradients=("dx", "dw", "db"), wrt=("x", "w", "b")),
    _spatial("max_pool_naive", "out[n, c, i, j] = max of x[n, c, i s : i s + PH, j s : j s + PW]; dx routes each "
             "dout to its window's max (no ties: a max is kept clear of its runner-up)", "max_pool_backward_naive",
             inputs=(Input("x", "data", _pool_x_shape), Input("dout", "upstream", _shape("N", "C", "Ho", "Wo")),
                     Input("pool_height", "setting", _shape()), Input("pool_width", "setting", _shape()),
                     Input("stride", "setting", _shape())),
             dims={"N": (1, 3), "C": (1, 3), "Ho": (1, 2), "Wo": (1, 2)},
             forward=lambda x, dout, PH, PW, stride: _max_pool(x, PH, PW, stride), torch_forward=_torch_max_pool,
             rule=lambda i, dtype: tolerance.maxpool_rule(i["x"], i["dout"], int(i["pool_height"]),
                                                          int(i["pool_width"]), int(i["stride"])),
             settings={"pool_height": (2, 1, 3), "pool_width": (2, 3, 1), "stride": (2, 1)},
             param_dict=("pool_param", {}), gradients=("dx",), wrt=("x",), clear=_pool_clear),
    _spatial("spatial_batchnorm", "batchnorm per channel over its N·H·W entries (training mode), x (N, C, H, W), "
             "γ, β (C,)", "spatial_batchnorm_backward",
             inputs=(Input("x", "data", _shape("N", "C", "H", "W")), Input("gamma", "gamma", _shape("C")),
                     Input("beta", "bias", _shape("C")), Input("dout", "upstream", _shape("N", "C", "H", "W")),
                     Input("eps", "setting", _shape())),
             dims={"N": (2, 3), "C": (1, 3), "H": (1, 4), "W": (1, 4)},
             forward=lambda x, gamma, beta, dout, eps: _normalize(x, gamma.reshape(1, -1, 1, 1),
                                                                  beta.reshape(1, -1, 1, 1), eps, (0, 2, 3)),
             torch_forward=_torch_spatial_batchnorm,
             rule=lambda i, dtype: tolerance.spatial_batchnorm_rule(i["x"], i["gamma"], i["beta"], i["dout"],
                                                                    float(i["eps"]), dtype),
             settings={"eps": EPSILONS}, param_dict=("bn_param", {"mode": "train"})),
    _spatial("spatial_groupnorm", "out = γ x̂ + β, x̂ normalized over each example's groups of C/G channels "
             "(C = G K), γ, β (1, C, 1, 1)", "spatial_groupnorm_backward",
             inputs=(Input("x", "data", lambda d: (d["N"], d["G"] * d["K"], d["H"], d["W"])),
                     Input("gamma", "gamma", lambda d: (1, d["G"] * d["K"], 1, 1)),
                     Input("beta", "bias", lambda d: (1, d["G"] * d["K"], 1, 1)),
                     Input("dout", "upstream", lambda d: (d["N"], d["G"] * d["K"], d["H"], d["W"])),
                     Input("G", "setting", _shape()), Input("eps", "setting", _shape())),
             dims={"N": (1, 3), "K": (1, 2), "H": (2, 4), "W": (1, 4)},
             forward=lambda x, gamma, beta, dout, G, eps: _groupnorm(x, gamma, beta, G, eps),
             torch_forward=_torch_groupnorm,
             rule=lambda i, dtype: tolerance.spatial_groupnorm_rule(i["x"], i["gamma"], i["beta"], i["dout"],
                                                                    int(i["G"]), float(i["eps"]), dtype),
             settings={"G": (2, 1, 3), "eps": EPSILONS}, param_dict=("gn_param", {}), positional=("G",)),
]
"""Family 3 (cs231n): conv and max-pool, naive (stride, pad), spatial batchnorm and groupnorm. A size
setting (stride, pad, pool size, G) is part of the shapes: an input's shape reads it with the dims."""


OPS: dict[str, Op] = {op.name: op for op in [
    # cs231n layer functions (rows layout: examples along axis 0; 1-D biases; integer labels)
    Op("affine", "cs231n", "out = x w + b (x read as (N, D)); dx = dout wᵀ, dw = xᵀ dout, db = Σ_N dout",
       "affine_forward", "affine_backward",
       inputs=(Input("x", "data", _affine_x_shape), Input("w", "weight", lambda d: (d["D"] * d.get("D2", 1), d["M"])),
               Input("b", "bias", _shape("M")), Input("dout", "upstream", _shape("N", "M"))),
       outputs=("out",), gradients=("dx", "dw", "db"), wrt=("x", "w", "b"),
       dims={"N": (1, 8), "D": (1, 8), "M": (1, 8)},
       forward=lambda x, w, b, dout: _affine(x, w, b),
       torch_forward=lambda T, x, w, b, dout: (x.reshape(x.shape[0], -1) @ w + b,),
       rule=lambda i, dtype: tolerance.affine_rule(i["x"], i["w"], i["b"], i["dout"], dtype), upstream="dout"),
    _elementwise("cs231n", "relu", "relu_forward", "relu_backward", "x", "out", "dx", "dout"),
    _elementwise("cs231n", "sigmoid", "sigmoid_forward", "sigmoid_backward", "x", "out", "dx", "dout"),
    Op("softmax_loss", "cs231n", "loss = (1/N) Σ_i -log softmax(x_i)[y_i]; dx = (softmax(x) - onehot(y)) / N",
       "softmax_loss", None,
       inputs=(Input("x", "data", _shape("N", "C")), Input("y", "label", _shape("N"))),
       outputs=("loss",), gradients=("dx",), wrt=("x",), dims={"N": (1, 8), "C": (2, 8)},
       forward=_mean_loss("softmax_cross_entropy"), torch_forward=_torch_softmax_loss,
       rule=lambda i, dtype: tolerance.loss_rule(losses.get("softmax_cross_entropy"), i["x"], i["y"])),
    Op("svm_loss", "cs231n", "loss = (1/N) Σ_i Σ_{k != y_i} max(0, x_ik - x_iy_i + 1); dx its (sub)gradient",
       "svm_loss", None,
       inputs=(Input("x", "data", _shape("N", "C")), Input("y", "label", _shape("N"))),
       outputs=("loss",), gradients=("dx",), wrt=("x",), dims={"N": (1, 8), "C": (2, 8)},
       forward=_mean_loss("hinge"), torch_forward=_torch_svm_loss,
       rule=lambda i, dtype: tolerance.loss_rule(losses.get("hinge"), i["x"], i["y"]), clear=_margins_clear),
    # the deeplearning.ai course's step functions (columns layout: examples along axis 1; b is (n, 1))
    Op("linear", "ng", "Z = W A_prev + b; dA_prev = Wᵀ dZ, dW = (1/m) dZ A_prevᵀ, db = (1/m) Σ_m dZ",
       "linear_forward", "linear_backward",
       inputs=(Input("A_prev", "data", _shape("D", "N")), Input("W", "weight", _shape("M", "D")),
               Input("b", "bias", _shape("M", 1)), Input("dZ", "upstream", _shape("M", "N"))),
       outputs=("Z",), gradients=("dA_prev", "dW", "db"), wrt=("A_prev", "W", "b"),
       dims={"N": (1, 8), "D": (1, 8), "M": (1, 8)},
       forward=lambda A, W, b, dZ: _linear(A, W, b),
       torch_forward=lambda T, A, W, b, dZ: (W @ A + b,),
       rule=lambda i, dtype: tolerance.linear_rule(i["A_prev"], i["W"], i["b"], i["dZ"], dtype),
       upstream="dZ", scale=_per_m("dW", "db"), examples_axis=1),
    _elementwise("ng", "relu", "relu", "relu_backward", "Z", "A", "dZ", "dA"),
    _elementwise("ng", "sigmoid", "sigmoid", "sigmoid_backward", "Z", "A", "dZ", "dA"),
    _linear_activation("relu"),
    _linear_activation("sigmoid"),
    # family 2 (cs231n): normalization, training mode, and inverted dropout with its mask fixed by the case
    _normalization("batchnorm", 0, "batchnorm_backward",
                   "out = γ x̂ + β, x̂ = (x - μ_N) / sqrt(σ²_N + eps) per feature (training mode); "
                   "backward by any form (the computational graph)"),
    _normalization("batchnorm_alt", 0, "batchnorm_backward_alt",
                   "batchnorm's forward; dx = (γ / (N sqrt(σ² + eps))) (N dout - Σ_N dout - x̂ Σ_N dout x̂)"),
    _normalization("layernorm", 1, "layernorm_backward",
                   "out = γ x̂ + β, x̂ = (x - μ_D) / sqrt(σ²_D + eps) per example"),
    Op("dropout", "cs231n",
       "out = x ⊙ mask, mask = (rand(*x.shape) < p) / p after np.random.seed(seed) (inverted dropout, "
       "keep probability p, training mode); dx = dout ⊙ mask",
       "dropout_forward", "dropout_backward",
       inputs=(Input("x", "data", _shape("N", "D")), Input("dout", "upstream", _shape("N", "D")),
               Input("p", "setting", _shape()), Input("seed", "setting", _shape())),
       outputs=("out",), gradients=("dx",), wrt=("x",), dims={"N": (1, 8), "D": (1, 8)},
       forward=lambda x, dout, p, seed: (x * dropout_mask(x.shape, p, seed),),
       torch_forward=lambda T, x, dout, p, seed: (
           x * T.tensor(dropout_mask(tuple(x.shape), p.item(), seed.item()), dtype=T.float64),),
       rule=lambda i, dtype: tolerance.dropout_rule(i["x"], i["dout"], dropout_mask(i["x"].shape, i["p"], i["seed"])),
       upstream="dout", settings={"p": KEEP, "seed": range(2**31)}, param_dict=("dropout_param", {"mode": "train"})),
    *FAMILY3,
]}
NAMES = tuple(OPS)
FAMILIES = {1: ("affine", "relu", "sigmoid", "softmax_loss", "svm_loss", "linear", "ng_relu", "ng_sigmoid",
                "linear_relu", "linear_sigmoid"),
            2: ("batchnorm", "batchnorm_alt", "layernorm", "dropout"),
            3: ("conv_naive", "max_pool_naive", "spatial_batchnorm", "spatial_groupnorm")}
"""Issue 12's families of ops, in the order they landed."""


def get(name: str) -> Op:
    try:
        return OPS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown op {name!r}; valid: {', '.join(NAMES)}") from None


def of(convention: str) -> tuple[str, ...]:
    """The ops a convention's functions implement, in table order."""
    return tuple(name for name, op in OPS.items() if op.convention == convention)


def is_op(case) -> bool:
    return isinstance(case, dict) and case.get("kind") == KIND


# ---------------------------------------------------------------------------------------------
# cases and their arrays


def validate_case(case: dict) -> Op:
    """The case's row, or ContractError naming what is wrong with the case."""
    if not is_op(case):
        raise contract.ContractError("an op case needs \"kind\": \"op\"")
    for key in ("op", "dims", "dtype", "scale", "seed"):
        if key not in case:
            raise contract.ContractError(f"an op case needs key {key!r}")
    try:
        op = get(case["op"])
    except ValueError as exc:
        raise contract.ContractError(str(exc)) from None
    if case["dtype"] not in contract.DTYPES:
        raise contract.ContractError(f"case['dtype'] = {case['dtype']!r}; valid: {', '.join(contract.DTYPES)}")
    if case["scale"] not in SCALES:
        raise contract.ContractError(f"case['scale'] = {case['scale']!r}; valid: {', '.join(SCALES)}")
    dims = case["dims"]
    if not isinstance(dims, dict):
        raise contract.ContractError(f"case['dims'] must be a dict, got {dims!r}")
    for name in list(op.dims) + [k for k in dims if k not in op.dims]:
        value = dims.get(name)
        allowed_extra = name == "D2" and op.name == "affine"
        if name not in op.dims and not allowed_extra:
            raise contract.ContractError(f"op {op.name} has no dim {name!r}; its dims: {', '.join(op.dims)}")
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
            raise contract.ContractError(f"case['dims'][{name!r}] must be an integer in [1, 4096], got {value!r}")
    if op.settings or "settings" in case:
        got = case.get("settings")
        if not isinstance(got, dict) or set(got) != set(op.settings):
            raise contract.ContractError(f"op {op.name} needs case['settings'] with exactly "
                                         f"{', '.join(op.settings) or 'nothing'}; got {got!r}")
        for name, allowed in op.settings.items():
            value = got[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in allowed:
                raise contract.ContractError(f"case['settings'][{name!r}] = {value!r} is not one of op "
                                             f"{op.name}'s values for it")
    seed = case["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise contract.ContractError(f"case['seed'] must be an integer in [0, 2**64), got {seed!r}")
    return op


@dataclass
class OpProblem:
    """One op case and its arrays, in the case's dtype (labels int64)."""

    case: dict
    params: dict[str, np.ndarray]
    """Every array the op's functions are given, by the row's names (the upstream gradient too)."""

    kind = KIND

    @property
    def op(self) -> Op:
        return get(self.case["op"])

    @property
    def X(self) -> np.ndarray:
        return np.zeros(0)  # an op's arrays all travel in params

    Y = X

    def inputs64(self) -> dict[str, np.ndarray]:
        """The arrays as the oracles and the error model see them: float64 (labels stay integers)."""
        return {k: v if v.dtype.kind in "iu" else np.asarray(v, np.float64) for k, v in self.params.items()}

    def bounds(self) -> dict[str, np.ndarray]:
        with np.errstate(all="ignore"):
            return self.op.rule(self.inputs64(), self.case["dtype"])


def _draw(rng, inp: Input, shape, dims, s):
    if inp.draw == "data":
        return rng.normal(size=shape) * s
    if inp.draw == "weight":
        fan_in = shape[1] if inp.name == "W" else shape[0]  # the course's W is (n, n_prev)
        if len(shape) == 4:  # a conv filter bank (F, C, HH, WW): each filter sees C·HH·WW inputs
            fan_in = int(np.prod(shape[1:]))
        return rng.normal(size=shape) * s / np.sqrt(fan_in)
    if inp.draw == "bias":
        return rng.normal(size=shape) * s / 2
    if inp.draw == "upstream":
        return rng.normal(size=shape)
    if inp.draw == "label":
        return rng.integers(0, dims["C"], shape)
    if inp.draw == "gamma":
        return 1 + rng.normal(size=shape) * s / 2
    raise ValueError(f"unknown draw {inp.draw!r}")


def sizes(case: dict) -> dict:
    """What an input's shape reads: the case's dims and its settings (a stride, a pad, G)."""
    return {**case.get("settings", {}), **case["dims"]}


def build(case: dict) -> OpProblem:
    """The arrays of an op case, deterministically from its seed; examples near a kink are redrawn."""
    op = validate_case(case)
    dims, dtype = case["dims"], np.dtype(case["dtype"])
    rng = np.random.default_rng(case["seed"])
    s = SCALES[case["scale"]]
    arrays = {}
    for inp in op.inputs:
        if inp.draw == "setting":  # no draw: the case states it
            value = case["settings"][inp.name]
            arrays[inp.name] = np.asarray(value, np.int64 if isinstance(value, int) else np.float64)
            continue
        value = _draw(rng, inp, inp.shape(sizes(case)), dims, s)
        arrays[inp.name] = value.astype(np.int64) if inp.draw == "label" else value.astype(dtype)
    first = op.inputs[0]
    for _ in range(MAX_REDRAWS):
        if op.clear is None:
            break
        with np.errstate(all="ignore"):
            ok = op.clear({k: np.asarray(v, np.float64) if v.dtype.kind == "f" else v
                           for k, v in arrays.items()}, case["dtype"])
        if ok.all():
            break
        redo = np.flatnonzero(~ok)
        fresh = _draw(rng, first, first.shape(sizes(case)), dims, s).astype(dtype)
        if op.examples_axis == 0:
            arrays[first.name][redo] = fresh[redo]
        else:
            arrays[first.name][:, redo] = fresh[:, redo]
    else:
        raise IllPosedCase(f"no well-posed draw after {MAX_REDRAWS} tries: {case}")
    # ascontiguousarray would make a setting's 0-d array 1-d
    return OpProblem(case, {k: np.ascontiguousarray(v) if v.ndim else v for k, v in arrays.items()})


def case_of(op: str, dims: dict, dtype: str = "float64", scale: str = "unit", seed: int = 0,
            settings: dict | None = None) -> dict:
    """An op case; an op with settings gets ``settings`` (default: the first allowed value of each)."""
    case = {"kind": KIND, "op": op, "dims": dict(dims), "dtype": dtype, "scale": scale, "seed": seed,
            "contract_version": contract.CONTRACT_VERSION}
    row = get(op)
    if row.settings:
        case["settings"] = {k: (settings or {}).get(k, v[0]) for k, v in row.settings.items()}
    return case


def cases(op: str, dtypes=contract.DTYPES, scales=tuple(SCALES), batched_x: bool = True):
    """A Hypothesis strategy of op cases for one op: its dims within the row's ranges (affine's x also
    as (N, D, D2)), a dtype, a scale and a seed."""
    from hypothesis import strategies as st

    row = get(op)
    dims = st.fixed_dictionaries({k: st.integers(lo, hi) for k, (lo, hi) in row.dims.items()},
                                 optional={"D2": st.integers(2, 3)} if op == "affine" and batched_x else {})
    settings = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in row.settings.items()})
    return st.builds(case_of, st.just(op), dims, st.sampled_from(dtypes), st.sampled_from(scales),
                     st.integers(0, 2**32 - 1), settings)


# ---------------------------------------------------------------------------------------------
# answers


def expected_shapes(problem: OpProblem) -> dict[str, tuple[int, ...]]:
    """The shape of every output: a forward output from the harness forward, a gradient its input's."""
    op, inputs = problem.op, problem.inputs64()
    with np.errstate(all="ignore"):
        outs = op.forward(*(inputs[i.name] for i in op.inputs))
    shapes = {name: np.shape(v) for name, v in zip(op.outputs, outs, strict=True)}
    shapes.update({g: inputs[w].shape for g, w in zip(op.gradients, op.wrt, strict=True)})
    return shapes


def check_answer(problem: OpProblem, answer) -> list[tuple[str, str]]:
    """(key, problem) for every output that is missing or not numbers (shape and dtype are compare's)."""
    op = problem.op
    if not isinstance(answer, dict):
        return [("answer", f"the adapter's answer is not a dict: {answer!r}")]
    out = []
    for key in op.order:
        if key not in answer:
            out.append((key, f"{op.function_of(key)} is missing"))
            continue
        value = answer[key]
        if key == "loss":
            if contract._real_scalar(value):
                out.append((key, f"{op.forward_fn}'s loss: {contract._real_scalar(value)}"))
        elif not isinstance(value, np.ndarray):
            out.append((key, f"{op.function_of(key)} is a {type(value).__name__}, not an ndarray"))
    return out
