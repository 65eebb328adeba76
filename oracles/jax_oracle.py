"""JAX ``grad`` over jax.nn / jax.numpy in float64; dZ_l is the gradient of a zero tap added to Z_l.

Compiling a new XLA program for every network shape (about 0.3 s) would cost far more than the
check itself, so every case runs through one jitted program per (depth, width bucket, batch
bucket): arrays are zero-padded to powers of two (at least 16 units, 32 examples), masks keep
padded units out of softmax and the losses and padded examples out of J, and the activation and
loss of each layer are chosen at run time by ``lax.switch``. Zero padding adds exact zeros to
every sum, so the numbers are those of the unpadded network; the padded entries of the gradients
are cut away.
"""

from functools import cache

import jax

jax.config.update("jax_enable_x64", True)  # before any array exists

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

NEG = -1e300  # padded logits: exp(NEG - max) is 0, and unlike -inf it keeps every gradient finite


def _masked_softmax(z, mask):
    return jax.nn.softmax(jnp.where(mask, z, NEG), axis=1)


ACTIVATIONS = {
    "identity": lambda z, mask: z,
    "sigmoid": lambda z, mask: jax.nn.sigmoid(z),
    "tanh": lambda z, mask: jnp.tanh(z),
    "relu": lambda z, mask: jax.nn.relu(z),
    "leaky_relu": lambda z, mask: jax.nn.leaky_relu(z, negative_slope=0.01),
    "elu": lambda z, mask: jax.nn.elu(z),
    "softplus": lambda z, mask: jax.nn.softplus(z),
    "silu": lambda z, mask: jax.nn.silu(z),
    "gelu": lambda z, mask: jax.nn.gelu(z, approximate=False),
    "softmax": _masked_softmax,
}


def _hinge(a, y, mask, K):
    c = jnp.argmax(y, axis=1)
    margins = a - jnp.take_along_axis(a, c[:, None], axis=1) + 1
    return jnp.where(mask & (y != 1), jax.nn.relu(margins), 0.0).sum(1)


def _safe(a, mask):
    # padded outputs must not reach a log: the where's gradient there is 0 either way
    return jnp.where(mask, a, 0.5)


# per-example losses over the real output units: (a, y, unit mask, K) -> (m,)
LOSSES = {
    "sse": lambda a, y, mask, K: jnp.where(mask, (a - y) ** 2, 0.0).sum(1),
    "half_sse": lambda a, y, mask, K: 0.5 * jnp.where(mask, (a - y) ** 2, 0.0).sum(1),
    "mse": lambda a, y, mask, K: jnp.where(mask, (a - y) ** 2, 0.0).sum(1) / K,
    "bce": lambda a, y, mask, K: -jnp.where(
        mask, jax.scipy.special.xlogy(y, _safe(a, mask)) + jax.scipy.special.xlogy(1 - y, 1 - _safe(a, mask)),
        0.0).sum(1),
    "cross_entropy": lambda a, y, mask, K: -jnp.where(mask, jax.scipy.special.xlogy(y, _safe(a, mask)), 0.0).sum(1),
    "softmax_cross_entropy": lambda a, y, mask, K: -jnp.where(
        mask, y * jax.nn.log_softmax(jnp.where(mask, a, NEG), axis=1), 0.0).sum(1),
    "bce_with_logits": lambda a, y, mask, K: -jnp.where(
        mask, y * jax.nn.log_sigmoid(a) + (1 - y) * jax.nn.log_sigmoid(-a), 0.0).sum(1),
    "hinge": _hinge,
}
ACTIVATION_INDEX = {name: i for i, name in enumerate(ACTIVATIONS)}
LOSS_INDEX = {name: i for i, name in enumerate(LOSSES)}


def _objective(params, taps, X, Y, acts, loss, masks, example_mask, K, r):
    A = X
    for l in range(1, len(taps) + 1):
        Z = A @ params[f"W{l}"] + params[f"b{l}"] + taps[l - 1]
        A = lax.switch(acts[l - 1], list(ACTIVATIONS.values()), Z, masks[l])
    # padded examples are masked inside the loss too: their outputs may saturate (a = 1 exactly),
    # and a log's infinite slope times a zero cotangent would still be NaN
    per_example = lax.switch(loss, list(LOSSES.values()), A, Y, masks[-1] & example_mask[:, None], K)
    return r * jnp.where(example_mask, per_example, 0.0).sum()


@cache
def _compiled(depth: int):
    # one trace per depth; jit then caches one executable per padded shape
    return jax.jit(jax.value_and_grad(_objective, argnums=(0, 1, 2)))


MIN_WIDTH, MIN_BATCH = 16, 32
"""The smallest buckets: every network up to these sizes shares one executable per depth."""


def _bucket(n: int, floor: int) -> int:
    return max(floor, 1 << (n - 1).bit_length())


def _pad(a, rows, cols):
    out = np.zeros((rows, cols))
    out[: a.shape[0], : a.shape[1]] = a
    return out


def gradients(case, params, X, Y):
    sizes, m = case["sizes"], X.shape[0]
    L = len(sizes) - 1
    w, mb = _bucket(max(sizes), MIN_WIDTH), _bucket(m, MIN_BATCH)
    padded = {}
    for l in range(1, L + 1):
        padded[f"W{l}"] = _pad(params[f"W{l}"], w, w)
        padded[f"b{l}"] = _pad(params[f"b{l}"], 1, w)
    masks = [jnp.asarray(np.arange(w) < n)[None, :] for n in sizes]
    taps = [jnp.zeros((mb, w)) for _ in range(L)]
    J, (dparams, dtaps, dX) = _compiled(L)(
        padded, taps, _pad(X, mb, w), _pad(Y, mb, w),
        jnp.asarray([ACTIVATION_INDEX[a] for a in case["activations"]]), LOSS_INDEX[case["loss"]],
        masks, jnp.asarray(np.arange(mb) < m), float(sizes[-1]), 1.0 / m if case["reduction"] == "mean" else 1.0)
    out = {"loss": float(J), "dA0": np.asarray(dX)[:m, : sizes[0]]}
    for l in range(1, L + 1):
        out[f"dW{l}"] = np.asarray(dparams[f"W{l}"])[: sizes[l - 1], : sizes[l]]
        out[f"db{l}"] = np.asarray(dparams[f"b{l}"])[:, : sizes[l]]
        out[f"dZ{l}"] = np.asarray(dtaps[l - 1])[:m, : sizes[l]]
    return out
