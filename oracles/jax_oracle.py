"""JAX ``grad`` over jax.nn / jax.numpy in float64; dZ_l is the gradient of a zero tap added to Z_l."""

import jax

jax.config.update("jax_enable_x64", True)  # before any array exists

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "leaky_relu": lambda z: jax.nn.leaky_relu(z, negative_slope=0.01),
    "elu": jax.nn.elu,
    "softplus": jax.nn.softplus,
    "silu": jax.nn.silu,
    "gelu": lambda z: jax.nn.gelu(z, approximate=False),
    "softmax": lambda z: jax.nn.softmax(z, axis=1),
}


def _hinge(a, y):
    c = jnp.argmax(y, axis=1)
    margins = a - jnp.take_along_axis(a, c[:, None], axis=1) + 1
    return jnp.where(y == 1, 0.0, jax.nn.relu(margins)).sum(1)


LOSSES = {
    "sse": lambda a, y: ((a - y) ** 2).sum(1),
    "half_sse": lambda a, y: 0.5 * ((a - y) ** 2).sum(1),
    "mse": lambda a, y: ((a - y) ** 2).mean(1),
    "bce": lambda a, y: -(jax.scipy.special.xlogy(y, a) + jax.scipy.special.xlogy(1 - y, 1 - a)).sum(1),
    "cross_entropy": lambda a, y: -jax.scipy.special.xlogy(y, a).sum(1),
    "softmax_cross_entropy": lambda a, y: -(y * jax.nn.log_softmax(a, axis=1)).sum(1),
    "bce_with_logits": lambda a, y: -(y * jax.nn.log_sigmoid(a) + (1 - y) * jax.nn.log_sigmoid(-a)).sum(1),
    "hinge": _hinge,
}


def _objective(case):
    names, loss = case["activations"], LOSSES[case["loss"]]
    mean = case["reduction"] == "mean"

    def J(params, taps, X, Y):
        A = X
        for l, name in enumerate(names, start=1):
            Z = A @ params[f"W{l}"] + params[f"b{l}"] + taps[l - 1]
            A = ACTIVATIONS[name](Z)
        per_example = loss(A, Y)
        return per_example.mean() if mean else per_example.sum()

    return J


def gradients(case, params, X, Y):
    m, sizes = X.shape[0], case["sizes"]
    taps = [jnp.zeros((m, n)) for n in sizes[1:]]
    J, (dparams, dtaps, dX) = jax.value_and_grad(_objective(case), argnums=(0, 1, 2))(
        {k: jnp.asarray(v) for k, v in params.items()}, taps, jnp.asarray(X), jnp.asarray(Y))
    out = {"loss": float(J), "dA0": np.asarray(dX)}
    for l in range(1, len(sizes)):
        out[f"dW{l}"], out[f"db{l}"] = np.asarray(dparams[f"W{l}"]), np.asarray(dparams[f"b{l}"])
        out[f"dZ{l}"] = np.asarray(dtaps[l - 1])
    return out
