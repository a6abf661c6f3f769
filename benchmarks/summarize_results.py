"""Print a table of result.json files: mean and std of each metric over seeds, per method variant and ratio.

    python benchmarks/summarize_results.py RUNS_DIR [RUNS_DIR ...]

A stop-gap reader until the leaderboard command exists; it reads only result files.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

METRICS = ("mAP", "AP50", "AP75", "APs", "APm", "APl")


def variant(result: dict) -> str:
    opts = result["method"].get("variant", result["config"]["method_options"])
    label = result["config"]["method"]
    return label + (" " + " ".join(f"{k}={v}" for k, v in sorted(opts.items())) if opts else "")


def main(dirs: list[str]) -> None:
    groups = defaultdict(list)
    for d in dirs:
        for f in sorted(Path(d).rglob("result.json")):
            r = json.loads(f.read_text())
            groups[(variant(r), r["config"]["ratio"], r["config"]["protocol"]["protocol_id"])].append(r)
    print("| method | ratio | images | protocol | seeds | " + " | ".join(METRICS) + " |")
    print("|" + "---|" * (5 + len(METRICS)))
    for (name, ratio, proto), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        cells = []
        for m in METRICS:
            vals = [r["metrics"][m] for r in rs if r["metrics"][m] is not None]
            if not vals:
                cells.append("-")
            elif len(vals) == 1:
                cells.append(f"{vals[0]:.2f}")
            else:
                cells.append(f"{statistics.mean(vals):.2f} ± {statistics.stdev(vals):.2f}")
        seeds = ",".join(str(r["config"]["seed"]) for r in sorted(rs, key=lambda r: r["config"]["seed"]))
        print(f"| {name} | {ratio:g} | {rs[0]['budget']} | {proto} | {seeds} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["runs"])
