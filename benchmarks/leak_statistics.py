"""Print the leak engine's statistical figures, measured by simulation, against their targets.

    python benchmarks/leak_statistics.py [--seeds N]

- recall: share of planted leaks (and planted silent leaks) the engine reports: >= 90%;
- false leaks: share of leak-free data sets on which it reports any: <= the 5% error rate
  (judged by the lower end of its 95% interval, so a target met by luck is not claimed);
- coverage: share of simulated segments whose 95% interval covers the true rate: >= 94%.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leak_app import simulation
from leak_app.stats import wilson_interval


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=200, help="data sets per figure (default 200)")
    seeds = range(parser.parse_args(argv).seeds)
    start = time.perf_counter()
    recall = simulation.leak_recall(seeds)
    silent = simulation.silent_recall(seeds)
    false = simulation.false_leak_rates(seeds)
    coverage = simulation.interval_coverage(segments=200 * len(seeds))
    rows = [
        ("planted leaks found (recall)", recall, ">= 0.90", recall >= 0.90),
        ("planted silent leaks found", silent, ">= 0.90", silent >= 0.90),
    ]
    for name in ("leaks", "silent_leaks"):
        low, _ = wilson_interval(false[name] * len(seeds), len(seeds))
        rows.append((f"data sets with a false {name.replace('_', ' ')[:-1]}", false[name],
                     "<= 0.05", float(low) <= 0.05))
    rows += [
        ("Wilson 95% interval coverage", coverage["wilson"], ">= 0.94", coverage["wilson"] >= 0.94),
        ("shrunk (empirical-Bayes) 95% interval coverage", coverage["empirical_bayes"], ">= 0.94",
         coverage["empirical_bayes"] >= 0.94),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  value   target   met   ({len(seeds)} data sets each, "
          f"{coverage['segments']:,} segments for coverage)")
    for name, value, target, met in rows:
        print(f"{name:<{width}}  {value:.4f}  {target}  {'yes' if met else 'NO'}")
    print(f"all met: {all(r[3] for r in rows)}  ({time.perf_counter() - start:.0f} s)")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
