"""The third-party gradient checks the benchmarks time ours against, all on one kind of net: a
tanh MLP whose last layer's logits go through softmax cross-entropy,
J = -(1/m) sum Y log softmax(Z_L), as a function of every W and b.

    torch_gradcheck(params, X, Y)(fast)   torch.autograd.gradcheck, slow (full Jacobian) or fast mode
    jax_check_grads(params, X, Y)()       jax.test_util.check_grads, rev mode, order 1
"""


def mlp_loss(P, X, Y, tanh, log_softmax):
    """J of the net for any array library (``tanh`` and ``log_softmax`` over the units)."""
    L = len(P) // 2
    A = X
    for l in range(1, L + 1):
        Z = A @ P[f"W{l}"] + P[f"b{l}"]
        A = tanh(Z) if l < L else Z
    return -(Y * log_softmax(Z)).sum() / X.shape[0]


def torch_gradcheck(params, X, Y):
    """A call ``run(fast)`` of torch.autograd.gradcheck on J, every W and b as an input."""
    import torch

    names = sorted(params)
    inputs = tuple(torch.tensor(params[n], requires_grad=True) for n in names)
    tX, tY = torch.tensor(X), torch.tensor(Y)

    def loss(*tensors):
        return mlp_loss(dict(zip(names, tensors, strict=True)), tX, tY, torch.tanh, lambda z: torch.log_softmax(z, 1))

    return lambda fast: torch.autograd.gradcheck(loss, inputs, fast_mode=fast)


def jax_check_grads(params, X, Y):
    """A call ``run()`` of jax.test_util.check_grads on J (rev mode, order 1: one random direction)."""
    import jax
    import jax.numpy as jnp
    from jax.test_util import check_grads

    P = {n: jnp.asarray(v) for n, v in params.items()}
    jX, jY = jnp.asarray(X), jnp.asarray(Y)
    return lambda: check_grads(lambda P: mlp_loss(P, jX, jY, jnp.tanh, lambda z: jax.nn.log_softmax(z, axis=1)),
                               (P,), order=1, modes=("rev",))
