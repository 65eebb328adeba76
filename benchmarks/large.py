"""A sampled check of a 1M-parameter MLP: time per phase and peak memory.

    OMP_NUM_THREADS=1 python benchmarks/large.py [--sizes 512,1024,512,10] [--batch 64] [--units 8]
        [--dtype float64] [--results large.jsonl] [--against-one-direction]

The case carries ``"sample": {"units": k}`` (``crosscheck.sampling``): torch and JAX answer every
entry, finite differences answer the probes. Peak memory is the process's maximum resident set
(imports of torch and JAX included), from ``resource.getrusage``. ``--against-one-direction`` then
times, on the same network, ``torch.autograd.gradcheck`` in fast mode and
``jax.test_util.check_grads``: each checks one random projection of the gradient.
"""

import argparse
import json
import resource
import time

START = time.perf_counter()

import baselines  # noqa: E402  (benchmarks/baselines.py)

from crosscheck import check, problems, sut  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,1024,512,10")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--units", type=int, default=8)
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    parser.add_argument("--layout", default="rows", choices=("rows", "columns"))
    parser.add_argument("--oracles", default="torch,jax,fd")
    parser.add_argument("--sut", default="reference_impl:backprop")
    parser.add_argument("--results", help="append the case record here (for `python -m reports build`)")
    parser.add_argument("--against-one-direction", action="store_true",
                        help="also time gradcheck (fast mode) and check_grads on the same network")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    case = {"sizes": sizes, "activations": ["tanh"] * (len(sizes) - 2) + ["softmax"], "loss": "cross_entropy",
            "layout": args.layout, "dtype": args.dtype, "reduction": "mean", "batch": args.batch, "seed": 0,
            "scale": "unit", "sample": {"units": args.units}}
    params = sum(sizes[i] * sizes[i + 1] + sizes[i + 1] for i in range(len(sizes) - 1))
    imported = time.perf_counter()

    problem = problems.build(case)
    built = time.perf_counter()
    system = sut.load(args.sut, isolation="none")  # the check's own cost and memory, as before isolation
    for name in args.oracles.split(","):  # import each framework before the clock starts on the check
        check.ORACLES[name].available()
    ready = time.perf_counter()
    result = check.check(problem, system, args.oracles.split(","))
    done = time.perf_counter()

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    probes = sum(c.total for c in result.comparisons if c.against in result.probed and c.tensor != "loss")
    entries = sum(c.total for c in result.comparisons if c.against not in result.probed and c.tensor != "loss")
    print(f"network {sizes}, batch {args.batch}, {args.dtype}, {params:,} parameters, {args.units} units a layer")
    print(f"verdict: {result.verdict}; worst margin {max(c.margin for c in result.comparisons):.3g}")
    for name, status in result.oracles.items():
        kind = "probes" if name in result.probed else "every entry"
        print(f"  {name:6s} {status['seconds']:7.2f} s  ({kind})")
    print(f"  compared: {entries:,} entries against full oracles, {probes:,} probes against {result.probed}")
    print(f"check: {done - ready:.2f} s (build {built - imported:.2f} s, imports {imported - START:.2f} s, "
          f"frameworks {ready - built:.2f} s); whole run {done - START:.2f} s; peak memory {peak_mib:.0f} MiB")
    for c in result.comparisons:
        if c.checked and c.against in result.probed:
            print(f"  {c.tensor}: {c.checked}")
    if args.against_one_direction:
        one_direction(problem)
    if args.results:
        with open(args.results, "a") as f:
            f.write(json.dumps({"kind": "case", "test": "benchmarks/large.py", **result.to_json()},
                               sort_keys=True) + "\n")


def one_direction(problem):
    """gradcheck (fast mode) and check_grads on the same network: J of every W and b, float64."""
    params, X, Y = problem.rows64()
    gradcheck = baselines.torch_gradcheck(params, X, Y)
    start = time.perf_counter()
    gradcheck(True)
    print(f"torch.autograd.gradcheck, fast mode (one random projection): {time.perf_counter() - start:.2f} s")
    check_grads = baselines.jax_check_grads(params, X, Y)
    start = time.perf_counter()
    check_grads()
    print(f"jax.test_util.check_grads (rev, one random direction): {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
