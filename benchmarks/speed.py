"""Oracle speed against torch.autograd.gradcheck and jax.test_util.check_grads, on the same net.

    OMP_NUM_THREADS=1 python benchmarks/speed.py [--repeat 20]

The net: tanh MLP [32, 64, 64, 10], softmax cross-entropy, batch 64, float64 (6,922 parameters).
Prints the median time of each way of checking its gradients, one thread, and each oracle's
largest relative error against autograd.
"""

import argparse
import statistics
import time

import baselines  # benchmarks/baselines.py: gradcheck and check_grads on the same net
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
    import torch

    torch.set_num_threads(1)
    p = problems.build(CASE)
    params, X, Y = p.params, p.X, p.Y
    n_params = sum(v.size for v in params.values())
    reference = torch_oracle.gradients(CASE, params, X, Y)
    rows = []

    def row(name, fn, repeat=args.repeat, accuracy=None):
        fn()  # warm: imports, JIT compilation
        rows.append((name, median_time(fn, repeat), accuracy))

    row("reference_impl backprop (NumPy)", lambda: sut.load(isolation="none").backprop(CASE, params, X, Y))
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

    # gradcheck and check_grads on the same function of the same parameters
    gradcheck = baselines.torch_gradcheck(params, X, Y)
    row("torch.autograd.gradcheck, slow mode (full Jacobian)", lambda: gradcheck(False),
        repeat=max(1, args.repeat // 10))
    row("torch.autograd.gradcheck, fast mode (one random projection)", lambda: gradcheck(True))
    check_grads = baselines.jax_check_grads(params, X, Y)
    row("jax.test_util.check_grads (rev, order 1, one random direction)", check_grads)

    print(f"net {CASE['sizes']}, batch {CASE['batch']}, float64, {n_params} parameters; median of "
          f"{args.repeat} (slow rows: {max(1, args.repeat // 10)}), one thread\n")
    print("| check | median time | max relative error vs autograd |")
    print("|---|---|---|")
    for name, seconds, acc in rows:
        err = "" if acc is None else f"{acc:.1e}"
        print(f"| {name} | {seconds * 1e3:.2f} ms | {err} |")


if __name__ == "__main__":
    main()
