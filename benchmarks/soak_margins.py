"""Summarise a soak's results file: verdicts and the largest margin (error / allowed) per dtype and
oracle, i.e. how close the correct implementation came to a false alarm. Comparisons against a
sampled case's probes are listed apart, as "ORACLE (probes)".

    python benchmarks/soak_margins.py soak.jsonl
"""

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crosscheck.check import record_margins  # noqa: E402


def main(paths):
    verdicts = Counter()
    worst = defaultdict(float)
    for path in paths:
        for line in open(path):
            r = json.loads(line)
            if r.get("kind", "case") != "case":
                continue
            verdicts[(r["case"]["dtype"], r["verdict"])] += 1
            margins, pairs = record_margins(r)  # a compact record or a full one
            probed = set(r.get("probed") or [])
            for against, m in [(o, max(by.values(), default=0.0)) for o, by in margins.items()] + list(pairs.items()):
                key = (r["case"]["dtype"], against + (" (probes)" if probed & set(against.split("~")) else ""))
                worst[key] = max(worst[key], m)
    print("| dtype | verdicts |")
    print("|---|---|")
    for dtype in sorted({d for d, _ in verdicts}):
        print(f"| {dtype} | " + ", ".join(f"{n} {v}" for (d, v), n in sorted(verdicts.items()) if d == dtype) + " |")
    print("\n| dtype | compared with | largest margin |")
    print("|---|---|---|")
    for (dtype, against), m in sorted(worst.items()):
        print(f"| {dtype} | {against} | {m:.3g} |")


if __name__ == "__main__":
    main(sys.argv[1:])
