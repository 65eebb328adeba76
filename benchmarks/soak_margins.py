"""Summarise a soak's results file: verdicts and the largest margin (error / allowed) per dtype and
oracle, i.e. how close the correct implementation came to a false alarm. Comparisons against a
sampled case's probes are listed apart, as "ORACLE (probes)".

    python benchmarks/soak_margins.py soak.jsonl
"""

import json
import sys
from collections import Counter, defaultdict


def main(paths):
    verdicts = Counter()
    worst = defaultdict(float)
    for path in paths:
        for line in open(path):
            r = json.loads(line)
            if r.get("kind", "case") != "case":
                continue
            verdicts[(r["case"]["dtype"], r["verdict"])] += 1
            for c in r["comparisons"] + r["oracle_pairs"]:
                key = (r["case"]["dtype"], c["against"] + (" (probes)" if c.get("checked") else ""))
                worst[key] = max(worst[key], float(c["margin"]))
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
