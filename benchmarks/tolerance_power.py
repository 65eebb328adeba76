"""How wide is the float32 allowance? For generated float32 cases, the allowed error at the
largest |dW_l| entry, relative to that entry, summarised by depth.

    python benchmarks/tolerance_power.py [--cases 400]
"""

import argparse
from collections import defaultdict

import numpy as np
from hypothesis import HealthCheck, given, settings

import reference_impl
from crosscheck import contract, tolerance
from crosscheck import strategies as cs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=400)
    args = parser.parse_args()
    by_depth = defaultdict(list)

    @settings(max_examples=args.cases, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(cs.problems(dtypes=("float32",)))
    def measure(p):
        case = p.case
        S = tolerance.bounds({**case, "layout": "rows"}, *p.rows64()).S
        grads = reference_impl.backprop(case, p.params, p.X, p.Y)
        grads = contract.to_rows(case, {k: v for k, v in grads.items() if k != "loss"})
        for l in range(1, contract.depth(case) + 1):
            dW = grads[f"dW{l}"].astype(np.float64)
            i = np.unravel_index(np.argmax(np.abs(dW)), dW.shape)
            if dW[i] != 0:
                by_depth[contract.depth(case)].append(tolerance.allowed(S[f"dW{l}"], "float32", "float64")[i]
                                                      / abs(dW[i]))

    measure()
    print("| depth | dW tensors | median | 90th percentile | share above 1e-3 |")
    print("|---|---|---|---|---|")
    for depth, values in sorted(by_depth.items()):
        v = np.array(values)
        share = 100 * (v > 1e-3).mean()
        print(f"| {depth} | {len(v)} | {np.median(v):.2g} | {np.quantile(v, 0.9):.2g} | {share:.0f}% |")


if __name__ == "__main__":
    main()
