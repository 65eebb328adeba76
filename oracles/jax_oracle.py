"""JAX ``grad`` over jax.nn / jax.numpy in float64; dZ_l is the gradient of a zero tap added to Z_l.

Compiling a new XLA program for every network (about 1.3 s for these programs) would cost far
more than the check itself, so networks share programs by shape bucket:

* the widths and the batch are zero-padded to powers of two (at least 16 units and 32 examples):
  every layer to the widest layer's bucket, unless that costs far more than the network itself
  (``PADDING_FACTOR``), when each layer gets its own. Masks built inside the program from the true
  widths keep padded units out of softmax and the losses, and padded examples out of J. Zero
  padding adds exact zeros to every sum;
* networks shallower than the depth bucket (at least 4, then powers of two) are followed by
  identity layers, W = I, b = 0, identity activation, at the output's width: x·1 + 0 is exact, so
  they hand A_L to the loss unchanged and pass its gradient back unchanged;
* the activation and loss of each layer are chosen at run time by ``lax.switch``.

So the numbers are those of the unpadded network, the padded entries of the gradients are cut
away, and every network up to 16 units wide, 4 layers deep and 32 examples runs through one
program. Everything passed in is a NumPy array, so a call costs one dispatch of that program.

Compilations are kept across processes when the environment variable ``CROSSCHECK_JAX_CACHE``
names a directory: JAX's persistent compilation cache, keyed by the program, JAX version and
flags, so a stale entry is never used. The pytest plugin points it at ``.crosscheck-cache/jax``
under the pytest root unless it is already set; an empty value turns it off. The cache is used
only where ``filelock`` is installed (the ``jax`` extra brings it): JAX then locks it, so that
parallel workers never read a half-written entry.
"""

import os

import jax

jax.config.update("jax_enable_x64", True)  # before any array exists


def _persistent_cache(directory: str) -> None:
    try:
        import filelock  # noqa: F401
    except ImportError:
        return
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)  # the default (1 s) skips most of ours
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    jax.config.update("jax_compilation_cache_max_size", 2**28)  # a size limit is what makes JAX lock the cache


if os.environ.get("CROSSCHECK_JAX_CACHE"):
    _persistent_cache(os.environ["CROSSCHECK_JAX_CACHE"])

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


def _objective(Ws, bs, taps, X, Y, acts, loss, widths, m, r):
    """J of the padded network. Ws, bs and taps hold one W, b and zero tap a layer (lists, or
    arrays stacked over layers when every layer has the same bucket); widths[k] is the true width
    of layer k, m the true batch."""
    mask = lambda k, w: (jnp.arange(w) < widths[k])[None, :]  # noqa: E731
    example_mask = jnp.arange(X.shape[0]) < m
    layer = lambda A, W, b, tap, act, k: lax.switch(  # noqa: E731
        act, list(ACTIVATIONS.values()), A @ W + b + tap, mask(k, W.shape[1]))
    if isinstance(Ws, list):
        A = X
        for l, (W, b, tap) in enumerate(zip(Ws, bs, taps, strict=True), start=1):
            A = layer(A, W, b, tap, acts[l - 1], l)
    else:  # stacked: one scan step a layer, so XLA compiles the layer once (0.1 s less)
        A, _ = lax.scan(lambda A, s: (layer(A, *s), None), X,
                        (Ws, bs, taps, acts, jnp.arange(1, Ws.shape[0] + 1)))
    # padded examples are masked inside the loss too: their outputs may saturate (a = 1 exactly),
    # and a log's infinite slope times a zero cotangent would still be NaN
    per_example = lax.switch(loss, list(LOSSES.values()), A, Y, mask(-1, A.shape[1]) & example_mask[:, None],
                             widths[-1].astype(X.dtype))
    return r * jnp.where(example_mask, per_example, 0.0).sum()


_compiled = jax.jit(jax.value_and_grad(_objective, argnums=(0, 1, 2, 3)))
"""One trace per padded shape: the tuple of layer buckets and the batch bucket."""


MIN_WIDTH, MIN_BATCH, MIN_DEPTH = 16, 32, 4
"""The smallest buckets: every network up to these sizes shares one executable."""
PADDING_FACTOR = 4
"""Every layer is padded to the widest layer's bucket while that costs at most this many times the
network's parameters (or 2^20 entries); beyond, each layer gets its own width bucket."""
MAX_IDENTITY_WIDTH = 64
"""With per-layer buckets, identity layers (W = I) are added only at output widths up to this:
wider, they would cost more than the compilation they save."""


def _bucket(n: int, floor: int) -> int:
    return max(floor, 1 << (n - 1).bit_length())


def _pad(a, rows, cols):
    out = np.zeros((rows, cols))
    out[: a.shape[0], : a.shape[1]] = a
    return out


def gradients(case, params, X, Y):
    sizes, m = case["sizes"], X.shape[0]
    L = len(sizes) - 1
    mb, depth = _bucket(m, MIN_BATCH), _bucket(L, MIN_DEPTH)
    widest = _bucket(max(sizes), MIN_WIDTH)
    if depth * widest**2 <= max(PADDING_FACTOR * sum(a.size for a in params.values()), 2**20):
        w = [widest] * (L + 1)  # one width for every layer: the fewest programs
    else:  # an unbalanced network (say 16384 -> 64 -> 10): each layer its own bucket
        w = [_bucket(n, MIN_WIDTH) for n in sizes]
        depth = depth if w[-1] <= MAX_IDENTITY_WIDTH else L
    Ws = [_pad(params[f"W{l}"], w[l - 1], w[l]) for l in range(1, L + 1)] + [np.eye(w[-1])] * (depth - L)
    bs = [_pad(params[f"b{l}"], 1, w[l]) for l in range(1, L + 1)] + [np.zeros((1, w[-1]))] * (depth - L)
    acts = [ACTIVATION_INDEX[a] for a in case["activations"]] + [ACTIVATION_INDEX["identity"]] * (depth - L)
    taps = [np.zeros((mb, W.shape[1])) for W in Ws]
    if len(set(w)) == 1:  # one array a kind rather than one a layer: fewer transfers a call
        Ws, bs, taps = np.stack(Ws), np.stack(bs), np.stack(taps)
    J, (dWs, dbs, dtaps, dX) = jax.device_get(_compiled(
        Ws, bs, taps, _pad(X, mb, w[0]), _pad(Y, mb, w[-1]), np.array(acts),
        np.array(LOSS_INDEX[case["loss"]]), np.array(list(sizes) + [sizes[-1]] * (depth - L)), np.array(m),
        np.array(1.0 / m if case["reduction"] == "mean" else 1.0)))
    out = {"loss": float(J), "dA0": dX[:m, : sizes[0]]}
    for l in range(1, L + 1):
        out[f"dW{l}"] = dWs[l - 1][: sizes[l - 1], : sizes[l]]
        out[f"db{l}"] = dbs[l - 1][:, : sizes[l]]
        out[f"dZ{l}"] = dtaps[l - 1][:m, : sizes[l]]
    return out
