#!/usr/bin/env bash
# The reference runs, in the order that answers the most first; every matrix resumes where it stopped.
#   bash scripts/reference_queue.sh reference & bash scripts/reference_queue.sh reference &   (a lane per core)
# Each lane runs its cells one at a time on one thread. Measured on the 2-core reference machine: two one-thread
# students side by side each take as long as one two-thread student alone (200 steps: 37.3 s and 37.4 s against
# 37.5 s), so two lanes finish the queue in half the time. Lanes on the same queue share its cells (a cell one
# lane runs, the other passes over), so every slice finishes in half the time too. Commit leaderboards/results as
# cells finish.
set -u
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."
DCBENCH=${DCBENCH:-.venv/bin/dcbench}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
lane=${1:?usage: reference_queue.sh reference|shapes-reference|bccd-reference|shapes-reference-extras|shapes|bccd|distill}
case $lane in
  # the final reference tables (issue #15), every slice in order; run it once per core
  reference)
    bash "$SELF" shapes-reference
    bash "$SELF" bccd-reference
    bash "$SELF" shapes-reference-extras ;;
  shapes)
    $DCBENCH matrix leaderboards/specs/shapes-dcod-vs-random.toml --out leaderboards/results/shapes-quick
    $DCBENCH matrix leaderboards/specs/shapes-dcod-ablation.toml --out leaderboards/results/shapes-quick
    $DCBENCH matrix leaderboards/specs/shapes-dcod-lr.toml --out leaderboards/results/shapes-quick
    $DCBENCH matrix leaderboards/specs/shapes-od3.toml --out leaderboards/results/shapes-quick
    $DCBENCH matrix leaderboards/specs/shapes-label-modes.toml --out leaderboards/results/shapes-quick ;;
  bccd)
    $DCBENCH matrix leaderboards/specs/bccd-dcod.toml --out leaderboards/results/bccd-quick
    $DCBENCH matrix leaderboards/specs/bccd-od3.toml --out leaderboards/results/bccd-quick ;;
  # the final reference tables (issue #15), under the student rule the budget curve chose, a ratio at a time and
  # the lowest first: the done-criteria are read at the lowest ratio, and a sitting that ends mid-way leaves whole
  # slices, not every ratio half-done. Shapes: the main table's ratios before the DCOD ablation (all at 1 %), so
  # that which method leads at each ratio is answered first
  shapes-reference)
    REF="leaderboards/specs/shapes-reference.toml --out leaderboards/results/shapes-reference --ratio 1"
    $DCBENCH matrix $REF --ratio 0.01
    $DCBENCH matrix $REF --ratio 0.02
    $DCBENCH matrix $REF --ratio 0.05
    $DCBENCH matrix leaderboards/specs/shapes-reference-ablation.toml --out leaderboards/results/shapes-reference ;;
  # DCOD's label modes and former cut-box rule: beyond the paper's ablation, so after both main tables
  shapes-reference-extras)
    $DCBENCH matrix leaderboards/specs/shapes-reference-extras.toml --out leaderboards/results/shapes-reference ;;
  # the label decomposition (issue #32): Random, DCOD and OD3 under stored, teacher and distill labels
  distill)
    $DCBENCH matrix leaderboards/specs/shapes-distill.toml --out leaderboards/results/shapes-quick
    $DCBENCH matrix leaderboards/specs/bccd-distill.toml --out leaderboards/results/bccd-quick ;;
  bccd-reference)
    for r in 0.05 0.1; do
      $DCBENCH matrix leaderboards/specs/bccd-reference.toml --out leaderboards/results/bccd-reference --ratio 1 --ratio $r
    done ;;
  *) echo "reference_queue.sh: unknown lane '$lane' (reference, shapes-reference, bccd-reference, shapes-reference-extras, shapes, bccd or distill)" >&2; exit 2 ;;
esac
