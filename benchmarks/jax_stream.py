"""The JAX oracle over a stream of Hypothesis-generated cases with random shapes: mean time per case,
compilation included (the first case of each bucket compiles, or loads from the persistent cache).

    OMP_NUM_THREADS=1 python benchmarks/jax_stream.py [--cases 1000] [--cache DIR]

``--cache DIR`` turns on JAX's persistent compilation cache there (``CROSSCHECK_JAX_CACHE``): run it
twice to see a cold and a warm cache.
"""

import argparse
import os
import time

from hypothesis import HealthCheck, given, settings

from crosscheck import strategies as cs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--cache", default="", help="persistent compilation cache directory (default: none)")
    args = parser.parse_args()
    os.environ["CROSSCHECK_JAX_CACHE"] = args.cache  # read when the oracle is first imported
    from oracles import jax_oracle

    times = []

    @settings(max_examples=args.cases, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(cs.problems())
    def stream(p):
        t, X, Y = p.rows64()
        start = time.perf_counter()
        jax_oracle.gradients(p.case, t, X, Y)
        times.append(time.perf_counter() - start)

    stream()
    times.sort()
    print(f"{len(times)} cases: mean {1e3 * sum(times) / len(times):.2f} ms per case (compilation included), "
          f"median {1e3 * times[len(times) // 2]:.2f} ms, slowest {1e3 * times[-1]:.0f} ms")


if __name__ == "__main__":
    main()
