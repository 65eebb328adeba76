"""Oracle speed against torch.autograd.gradcheck and jax.test_util.check_grads, on the same net.

    OMP_NUM_THREADS=1 python benchmarks/speed.py [--repeat 20]

The net: tanh MLP [32, 64, 64, 10], softmax cross-entropy, batch 64, float64 (6,922 parameters).
Prints the median time of each way of checking its gradients, one thread, and each oracle's
largest relative error against autograd.
"""

import argparse
import statistics
import time

import numpy as np

from crosscheck import contract, problems, sampling, sut
from oracles import finite_differences as fd
from oracles import jax_oracle, torch_oracle

CASE = {"sizes": [32, 64, 64, 10], "activations": ["tanh", "tanh", "identity"], "loss": "softmax_cross_entropy",
        "layout": "rows", "dtype": "float64", "reduction": "mean", "batch": 64, "seed": 0, "scale": "unit",
        "contract_version": contract.CONTRACT_VERSION}


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def relative_error(got, ref):
    return max(np.abs(got[k] - ref[k]).max() / np.abs(ref[k]).max() for k in ref if k != "loss")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    import jax
    import jax.numpy as jnp
    import torch
    from jax.test_util import check_grads

    torch.set_num_threads(1)
    p = problems.build(CASE)
    params, X, Y = p.params, p.X, p.Y
    n_params = sum(v.size for v in params.values())
    reference = torch_oracle.gradients(CASE, params, X, Y)
    rows = []

    def row(name, fn, repeat=args.repeat, accuracy=None):
        fn()  # warm: imports, JIT compilation
        rows.append((name, median_time(fn, repeat), accuracy))

    row("reference_impl backprop (NumPy)", lambda: sut.load().backprop(CASE, params, X, Y))
    row("torch oracle (autograd)", lambda: torch_oracle.gradients(CASE, params, X, Y), accuracy=0.0)
    row("jax oracle (grad, jit, padded)", lambda: jax_oracle.gradients(CASE, params, X, Y),
        accuracy=relative_error(jax_oracle.gradients(CASE, params, X, Y), reference))
    row("fd oracle, every W/b/Z/X entry (complex step, per unit)", lambda: fd.gradients(CASE, params, X, Y),
        accuracy=relative_error(fd.gradients(CASE, params, X, Y), reference))
    sampled = {**CASE, "sample": {"units": 8}}
    probes = sampling.plan(sampled, CASE["batch"])
    row("fd oracle, sampled: 8 units a layer and one direction per tensor (probes)",
        lambda: fd.probed(sampled, params, X, Y, probes),
        accuracy=max(np.abs(fd.probed(sampled, params, X, Y, probes)[k] - pr.of(reference[k])).max()
                     / np.abs(pr.of(reference[k])).max() for k, pr in probes.items()))
    row("fd oracle, one pass per W entry (per_entry)",
        lambda: fd.gradients(CASE, params, X, Y, weights="per_entry"), repeat=max(1, args.repeat // 10),
        accuracy=relative_error(fd.gradients(CASE, params, X, Y, weights="per_entry"), reference))

    # torch's gradcheck on the same function of the same parameters
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tX, tY = torch.tensor(X), torch.tensor(Y)
    names = sorted(t)

    def loss(*tensors):
        P = dict(zip(names, tensors, strict=True))
        A = tX
        for l, act in enumerate(CASE["activations"], start=1):
            Z = A @ P[f"W{l}"] + P[f"b{l}"]
            A = torch.tanh(Z) if act == "tanh" else Z
        return torch.nn.functional.cross_entropy(A, tY)

    inputs = tuple(t[k] for k in names)
    row("torch.autograd.gradcheck, slow mode (full Jacobian)",
        lambda: torch.autograd.gradcheck(loss, inputs, fast_mode=False), repeat=max(1, args.repeat // 10))
    row("torch.autograd.gradcheck, fast mode (one random projection)",
        lambda: torch.autograd.gradcheck(loss, inputs, fast_mode=True))

    jparams = {k: jnp.asarray(v) for k, v in params.items()}

    def jloss(P):
        A = jnp.asarray(X)
        for l, act in enumerate(CASE["activations"], start=1):
            Z = A @ P[f"W{l}"] + P[f"b{l}"]
            A = jnp.tanh(Z) if act == "tanh" else Z
        return -(jnp.asarray(Y) * jax.nn.log_softmax(A, axis=1)).sum(1).mean()

    row("jax.test_util.check_grads (rev, order 1, one random direction)",
        lambda: check_grads(jloss, (jparams,), order=1, modes=("rev",)))

    print(f"net {CASE['sizes']}, batch {CASE['batch']}, float64, {n_params} parameters; median of "
          f"{args.repeat} (slow rows: {max(1, args.repeat // 10)}), one thread\n")
    print("| check | median time | max relative error vs autograd |")
    print("|---|---|---|")
    for name, seconds, acc in rows:
        err = "" if acc is None else f"{acc:.1e}"
        print(f"| {name} | {seconds * 1e3:.2f} ms | {err} |")


if __name__ == "__main__":
    main()
