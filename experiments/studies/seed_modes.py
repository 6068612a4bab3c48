"""Where the spread over seeds comes from: the initial parameters or the data order."""

from __future__ import annotations

from experiments.studies.options import SQUASHED, id_vin_run
from experiments.training.sweeps import Run, Sweep

SEED_MODES = Sweep(
  preset="quick",
  description="Where the spread over seeds comes from: seeds that vary only the initial parameters "
  "or only the data order and label draws (run with --set=seeds=5).",
  runs=(
    Run("vin_init", {"planner": "vin", "seed_scope": "init"}, "VIN, seeds vary the initial parameters"),
    Run("vin_order", {"planner": "vin", "seed_scope": "order"}, "VIN, seeds vary data order and labels"),
    id_vin_run("squash_init", "squashed ID-VIN, seeds vary the initial parameters", **SQUASHED, seed_scope="init"),
    id_vin_run("squash_order", "squashed ID-VIN, seeds vary data order and labels", **SQUASHED, seed_scope="order"),
  ),
)
