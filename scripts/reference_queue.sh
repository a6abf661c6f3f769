#!/usr/bin/env bash
# The DCOD round-2 reference runs, in the order that answers the most first; every matrix resumes where it stopped.
#   bash scripts/reference_queue.sh            (from the repository root; commit leaderboards/results as cells finish)
set -u
cd "$(dirname "$0")/.."
DCBENCH=${DCBENCH:-.venv/bin/dcbench}
$DCBENCH matrix leaderboards/specs/shapes-dcod-vs-random.toml --out leaderboards/results/shapes-quick
$DCBENCH matrix leaderboards/specs/bccd-dcod.toml --out leaderboards/results/bccd-quick
$DCBENCH matrix leaderboards/specs/shapes-dcod-ablation.toml --out leaderboards/results/shapes-quick
