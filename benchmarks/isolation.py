"""What isolation costs per case: the SUT's two calls in this process against the same calls in its
child process (``crosscheck.boundary``), on the same generated cases of the default strategy.

    OMP_NUM_THREADS=1 python benchmarks/isolation.py [--cases 400] [--sut reference_impl:backprop]
"""

import argparse
import time

import numpy as np
from hypothesis import HealthCheck, given, settings

from crosscheck import strategies as cs
from crosscheck import sut as _sut


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--sut", default=_sut.DEFAULT)
    args = parser.parse_args()
    problems = []

    @settings(max_examples=args.cases, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(cs.problems())
    def collect(p):
        problems.append(p)

    collect()
    start = time.perf_counter()
    isolated = _sut.load(args.sut)
    startup = time.perf_counter() - start
    here = _sut.load(args.sut, isolation="none")
    times = {"in process": [], "child process": []}
    for p in problems:  # interleaved, so that both meet the same machine load
        for name, s in (("in process", here), ("child process", isolated)):
            t = time.perf_counter()
            outcome = s.call(p.case, p.params, p.X, p.Y)
            times[name].append(time.perf_counter() - t)
            assert outcome.kind in ("answered", "unsupported"), outcome.message
    isolated.close()
    print(f"{len(problems)} cases of the default strategy, SUT {args.sut}")
    print(f"child start-up (import numpy and the SUT): {startup * 1e3:.0f} ms, once per worker")
    print("| SUT's two calls | mean | median | 90th percentile |")
    print("|---|---|---|---|")
    for name, t in times.items():
        t = np.array(t) * 1e3
        print(f"| {name} | {t.mean():.3f} ms | {np.median(t):.3f} ms | {np.quantile(t, 0.9):.3f} ms |")
    extra = (np.array(times["child process"]) - np.array(times["in process"])) * 1e3
    print(f"isolation overhead per case: mean {extra.mean():.3f} ms, median {np.median(extra):.3f} ms")


if __name__ == "__main__":
    main()
