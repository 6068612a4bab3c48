"""table1's workspace column behind the arm-sweep mapper instead of the U-Net."""

from __future__ import annotations

import implicit_planning as ip
from experiments.studies.mapper_rates import AS_STUDY
from experiments.studies.options import SMALL_CONV_GPPN, SMALL_SYMVIN
from experiments.studies.shared_mapper import SHARED_MAPPER, after_pretraining
from experiments.training.sweeps import ROOT, Run, Sweep

TABLE1_WORKSPACE = {
  "seeds": 3,
  "task": "manip_workspace",
  "size": 18,
  "pretrain_epochs": 10,
  "epochs": 5,
  "map_loss_weight": 0.0,
  "rmsprop_bias_correction": True,
  "mapper_learning_rate": 1e-3,
}
"""table1's workspace column at its cpu scale (`experiments.paper.table1`): the quick preset's 2000 workspaces,
10 pretraining and 5 joint epochs on the action loss alone, the mapper at 1e-3."""
PLANNER_WIDTHS = {"symvin": SMALL_SYMVIN, "conv_gppn": SMALL_CONV_GPPN, "id_conv_gppn": SMALL_CONV_GPPN}
PLANNER_WIDTHS |= {"id_symvin": SMALL_SYMVIN, "gppn": SMALL_CONV_GPPN}


def budget_run(planner: str, k: int) -> Run:
  """``planner`` at table1's cpu widths and ``k`` cell applications, from the sweep's shared mapper."""
  budget = {"k_fwd": k} if ip.planner_spec(planner).implicit else {"k": k}
  flags = {"planner": planner, **PLANNER_WIDTHS.get(planner, {}), **budget, **SHARED_MAPPER}
  return Run(f"{planner}_k{k}", flags, f"K = {k}, from the sweep's shared mapper")


STUDY_MAPPER = {
  "mapper_from": "runs/sweeps/mapper_rates/sweep_max_fine_field_10_as_study_20k_8_epochs/mapper",
  "mapper_width": AS_STUDY["mapper_width"],
}
"""The mapper_rates sweep's best mapper (`AS_STUDY_20K_8_EPOCHS`, seed 0; its default root): pretrained on a
20k draw whose training split holds none of table1's held-out workspaces but the empty one (checked)."""


def study_mapper_run(planner: str, mirrored: bool = False) -> Run:
  """``planner``'s joint phase at K = 30 behind `STUDY_MAPPER`, from the sweep's pretrained planner;
  ``mirrored``: its map averaged over the image's mirrors (the same parameters)."""
  return Run(
    f"{planner}_k30_study_mapper{'_mirrored' if mirrored else ''}",
    {
      "planner": planner,
      **PLANNER_WIDTHS.get(planner, {}),
      **STUDY_MAPPER,
      **({"mapper": "workspace_sweep_max_fine_mirrored"} if mirrored else {}),
      "planner_from": f"{ROOT}/{planner}_k30/planner",
    },
    "K = 30, the joint phase alone behind the mapper_rates sweep's 8-epoch mapper on 20k workspaces (run it first)"
    + (", its map averaged over the image's mirrors" if mirrored else ""),
  )


WORKSPACE_ARM_SWEEP = Sweep(
  preset="quick",
  recipe="stable",
  flags={**TABLE1_WORKSPACE, "mapper": "workspace_sweep_max_fine"},
  description="table1's workspace column at K = 30, 50 and 80 (2000 workspaces, 3 seeds) behind the arm-sweep mapper instead "
  "of the U-Net: its field per half pixel, pretrained on the configuration space and on the polygons at a raster 4x "
  "finer than the image (field_loss_weight 10), one seed shared as table1 shares its U-Net; all else as table1. "
  "'_study_mapper' runs: the joint phase behind mapper_rates' best mapper instead ('_mirrored': read averaged over "
  "the image's mirrors).",
  runs=after_pretraining(
    Run("mapper", {"phase": "mapper", "seeds": 1, "field_loss_weight": 10.0}, "the arm-sweep mapper alone, one seed"),
    *(
      budget_run(planner, k)
      for k in (30, 50, 80)
      for planner in ("vin", "id_vin", "symvin", "id_symvin", "conv_gppn", "id_conv_gppn", "gppn")
    ),
    *(study_mapper_run(planner) for planner in ("vin", "id_vin", "symvin", "id_symvin", "conv_gppn", "id_conv_gppn")),
    *(study_mapper_run(planner, mirrored=True) for planner in ("vin", "id_vin", "symvin", "id_symvin")),
  ),
)
