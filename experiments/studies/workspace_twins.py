"""Table 1's workspace column at CPU scale: a shared mapper, each planner's pretraining and joint phase."""

from __future__ import annotations

from typing import Any

from experiments.studies.options import SMALL_CONV_GPPN, SMALL_SYMVIN
from experiments.studies.shared_mapper import SHARED_MAPPER, after_pretraining, joint_ablation
from experiments.training.recipes import CORRECTED
from experiments.training.sweeps import Run, Sweep


def corrected_column_runs(planner: str, options: dict[str, Any], note: str) -> tuple[Run, Run]:
  """``planner``'s pretraining on the true configuration space alone (``<planner>_planner``), then
  its joint phase with the shared mapper on the action loss alone under bias-corrected RMSprop
  (``<planner>_action_loss_corrected``): the joint recipe that scored best for VIN, ID-VIN and
  ID-SymVIN, without the uncorrected joint phase a full run would train first."""
  flags = {"planner": planner, **options}
  return (
    Run(f"{planner}_planner", {**flags, "phase": "planner"}, f"{note}, the planner's pretraining alone"),
    joint_ablation(
      f"{planner}_action_loss_corrected",
      f"{planner}_planner",
      f"{planner}_planner's pretraining, then no map loss and bias-corrected RMSprop",
      **flags,
      map_loss_weight=0.0,
      **CORRECTED,
    ),
  )


WORKSPACE_STUDY_BASE = {"epochs": 15, "map_loss_weight": 1.0, "rmsprop_bias_correction": False}
"""The joint phase the workspace study varied: the planner's loss plus the map's, PyTorch's RMSprop, 15
epochs (the workspace preset's before round 21, which took the study's best: `presets.workspace`)."""


WORKSPACE_TWINS = Sweep(
  preset="workspace",
  flags=WORKSPACE_STUDY_BASE,
  description="Table 1's 'Workspace Mani.' column at CPU scale: the mapper pretrained once (one seed) and shared "
  "by every planner run, which pretrains its planner on the true configuration space, then trains both jointly "
  "('_action_loss' runs: on the planner's loss alone, no map loss; '_corrected' runs: the joint phase alone, from "
  "another run's pretrainings, with bias-corrected RMSprop; '_planner' runs: the planner's pretraining alone); "
  "SymVIN, ConvGPPN and GPPN at the family_twins sizes. "
  "The mapper run comes first: a joint phase needs it finished.",
  runs=after_pretraining(
    Run("mapper", {"phase": "mapper", "seeds": 1}, "the U-Net alone (binary cross-entropy), one seed"),
    Run(
      "mapper_corrected",
      {"phase": "mapper", "seeds": 1, **CORRECTED},
      "the U-Net alone under bias-corrected RMSprop and the recipe's rate, one seed: the workspace preset's mapper phase",
    ),
    Run(
      "mapper_corrected_lr_1e-3",
      {"phase": "mapper", "seeds": 1, **CORRECTED, "mapper_learning_rate": 1e-3},
      "mapper_corrected with the mapper at 1e-3 (the mapper_rates sweep's choice at 2000 workspaces), one seed",
    ),
    Run(
      "mapper_corrected_lr_1e-3_30k",
      {"phase": "mapper", "seeds": 1, **CORRECTED, "mapper_learning_rate": 1e-3, "num_train": 30_000},
      "mapper_corrected_lr_1e-3 on 30k training workspaces (its own 2k/2k draw): is the 98.5 % plateau the data's "
      "or the 96-pixel image's?",
    ),
    Run(
      "mapper_sweep_30k",
      {
        "phase": "mapper",
        "seeds": 1,
        **CORRECTED,
        "mapper": "workspace_sweep",
        "mapper_learning_rate": 1e-3,
        "num_train": 30_000,
        "pretrain_epochs": 6,
      },
      "the arm-sweep mapper (a learned sub-pixel obstacle field read along each arm) on mapper_corrected_lr_1e-3_30k's "
      "workspaces for 6 epochs, one seed",
    ),
    Run(
      "mapper_sweep_wide_30k",
      {
        "phase": "mapper",
        "seeds": 1,
        **CORRECTED,
        "mapper": "workspace_sweep",
        "mapper_width": 16,
        "mapper_learning_rate": 1e-3,
        "num_train": 30_000,
        "pretrain_epochs": 3,
      },
      "mapper_sweep_30k's field twice as wide (32 channels; it fits its training set no better than the validation "
      "set), 3 epochs",
    ),
    Run(
      "mapper_fine",
      {"phase": "mapper", "seeds": 1, "mapper": "workspace_unet_fine"},
      "the U-Net on a polar grid twice as fine in angle and radius (one stem level), one seed",
    ),
    Run("vin", {"planner": "vin", **SHARED_MAPPER}, "K = 30"),
    Run("id_vin", {"planner": "id_vin", **SHARED_MAPPER}, "K_fwd = 30"),
    Run("vin_action_loss", {"planner": "vin", "map_loss_weight": 0.0, **SHARED_MAPPER}, "K = 30, no map loss"),
    Run(
      "id_vin_action_loss", {"planner": "id_vin", "map_loss_weight": 0.0, **SHARED_MAPPER}, "K_fwd = 30, no map loss"
    ),
    joint_ablation(
      "vin_action_loss_corrected",
      "vin",
      "vin's pretrainings, then no map loss and bias-corrected RMSprop",
      planner="vin",
      map_loss_weight=0.0,
      **CORRECTED,
    ),
    joint_ablation(
      "id_vin_action_loss_corrected",
      "id_vin_action_loss",
      "id_vin_action_loss's pretrainings, then no map loss and bias-corrected RMSprop",
      planner="id_vin",
      map_loss_weight=0.0,
      **CORRECTED,
    ),
    joint_ablation(
      "vin_corrected", "vin", "vin's pretrainings, then bias-corrected RMSprop", planner="vin", **CORRECTED
    ),
    joint_ablation(
      "id_vin_action_loss_corrected_6ep",
      "id_vin_action_loss",
      "id_vin_action_loss_corrected with 6 joint epochs (the late decay over the last 5)",
      planner="id_vin",
      map_loss_weight=0.0,
      epochs=6,
      **CORRECTED,
    ),
    Run(
      "id_vin_action_loss_all_corrected",
      {"planner": "id_vin", "map_loss_weight": 0.0, **CORRECTED, **SHARED_MAPPER},
      "K_fwd = 30, no map loss, bias-corrected RMSprop in the planner's pretraining too (the mapper shared)",
    ),
    joint_ablation(
      "id_vin_corrected",
      "id_vin_action_loss",
      "id_vin_action_loss's pretrainings, then the map loss and bias-corrected RMSprop",
      planner="id_vin",
      **CORRECTED,
    ),
    Run("symvin", {"planner": "symvin", **SMALL_SYMVIN, **SHARED_MAPPER}, "20 fields, K = 30"),
    Run("id_symvin", {"planner": "id_symvin", **SMALL_SYMVIN, **SHARED_MAPPER}, "20 fields, K_fwd = 30"),
    joint_ablation(
      "id_symvin_action_loss_corrected",
      "id_symvin",
      "id_symvin's pretrainings, then no map loss and bias-corrected RMSprop",
      planner="id_symvin",
      **SMALL_SYMVIN,
      map_loss_weight=0.0,
      **CORRECTED,
    ),
    Run("conv_gppn", {"planner": "conv_gppn", **SMALL_CONV_GPPN, **SHARED_MAPPER}, "hidden 32, K = 30"),
    Run("id_conv_gppn", {"planner": "id_conv_gppn", **SMALL_CONV_GPPN, **SHARED_MAPPER}, "hidden 32, K_fwd = 30"),
    Run("gppn", {"planner": "gppn", **SMALL_CONV_GPPN, **SHARED_MAPPER}, "hidden 32, K = 30"),
    *(
      run
      for planner, options, note in (
        ("symvin", SMALL_SYMVIN, "20 fields, K = 30"),
        ("conv_gppn", SMALL_CONV_GPPN, "hidden 32, K = 30"),
        ("id_conv_gppn", SMALL_CONV_GPPN, "hidden 32, K_fwd = 30"),
        ("gppn", SMALL_CONV_GPPN, "hidden 32, K = 30"),
      )
      for run in corrected_column_runs(planner, options, note)
    ),
  ),
)
