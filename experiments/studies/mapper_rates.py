"""The workspace U-Net alone at table1's cpu scale: its learning rate and schedule."""

from __future__ import annotations

from experiments.training.sweeps import Run, Sweep

TABLE1_MAPPER = {
  "phase": "mapper",
  "seeds": 3,
  "num_train": 2000,
  "num_val": 500,
  "num_test": 500,
  "pretrain_epochs": 10,
}
"""The workspace column's mapper at table1's cpu scale (`experiments.paper.table1`), at 3 seeds."""

AS_STUDY = {
  "learning_rate": 1e-3,
  "mapper": "workspace_sweep_max_fine",
  "field_loss_weight": 10.0,
  "mapper_optimizer": "adam",
  "mapper_width": 16,
  "batch_size": 16,
  "lr_schedule": "cosine",
  "decay_epochs": 0,
  "seeds": 1,
}
"""The arm sweep's field per half pixel trained as the study script of `docs/workspace_manipulation.md` trained it
(session 38): the fine raster's loss at weight 10, Adam, batches of 16, 32 channels, a half cosine over all epochs."""

AS_STUDY_20K = {**AS_STUDY, "num_train": 20_000, "pretrain_epochs": 3}
"""`AS_STUDY` on 20k workspaces for 3 epochs: the steps of 30 epochs on table1's 2000."""

AS_STUDY_20K_8_EPOCHS = {**AS_STUDY_20K, "pretrain_epochs": 8}
"""`AS_STUDY_20K` for 8 epochs: its validation still rose in the third."""

MAPPER_RATES = Sweep(
  preset="workspace",
  recipe="stable",
  flags=TABLE1_MAPPER,
  description="The workspace U-Net alone on table1's 2000 workspaces for 10 epochs, 3 seeds: its learning rate "
  "and schedule. table1's mapper took the recipe's (3e-3, flat for 5 epochs, then a half cosine) and its loss "
  "spiked in epoch 6, the decay's first.",
  runs=(
    Run("lr_3e-3", {}, "the recipe's: 3e-3, a half cosine over the last 5 epochs"),
    Run("lr_1e-3", {"learning_rate": 1e-3}, "1e-3 (the paper's), the same late decay"),
    Run("lr_3e-4", {"learning_rate": 3e-4}, "3e-4, the same late decay"),
    Run("lr_3e-3_cosine", {"lr_schedule": "cosine", "decay_epochs": 0}, "3e-3, a half cosine over all 10 epochs"),
    Run(
      "lr_1e-3_cosine",
      {"learning_rate": 1e-3, "lr_schedule": "cosine", "decay_epochs": 0},
      "1e-3, a half cosine over all 10 epochs",
    ),
    Run(
      "lr_3e-3_warmup",
      {"lr_schedule": "cosine", "warmup_epochs": 1, "decay_epochs": 0},
      "3e-3 after a one-epoch linear warm-up, then a half cosine over the other 9",
    ),
    Run("lr_3e-3_clip_1", {"clip_norm": 1.0}, "the recipe's, gradients clipped to norm 1 (40 elsewhere)"),
    Run(
      "lr_1e-3_clip_1", {"learning_rate": 1e-3, "clip_norm": 1.0}, "1e-3, the late decay, gradients clipped to norm 1"
    ),
    Run(
      "sweep_lr_1e-3",
      {"learning_rate": 1e-3, "mapper": "workspace_sweep"},
      "the arm-sweep mapper instead of the U-Net, as lr_1e-3",
    ),
    Run(
      "sweep_beta8_lr_1e-3",
      {"learning_rate": 1e-3, "mapper": "workspace_sweep_8", "seeds": 1},
      "sweep_lr_1e-3 with the sharper smooth maximum over the arm (β = 8), one seed",
    ),
    Run(
      "sweep_max_lr_1e-3",
      {"learning_rate": 1e-3, "mapper": "workspace_sweep_max", "seeds": 1},
      "sweep_lr_1e-3 with the maximum over the arm, one seed",
    ),
    Run(
      "sweep_max_mirrored_lr_1e-3",
      {"learning_rate": 1e-3, "mapper": "workspace_sweep_max_mirrored", "seeds": 1},
      "sweep_max_lr_1e-3 averaged over the image's exact mirrors and half turn, one seed",
    ),
    Run(
      "sweep_max_fine_lr_1e-3",
      {"learning_rate": 1e-3, "mapper": "workspace_sweep_max_fine"},
      "sweep_max_lr_1e-3 with its field per half pixel, 3 seeds",
    ),
    Run(
      "sweep_max_fine_field_10_lr_1e-3",
      {"learning_rate": 1e-3, "mapper": "workspace_sweep_max_fine", "field_loss_weight": 10.0},
      "sweep_max_fine_lr_1e-3 with its field also supervised by the polygons at a 4x finer raster (weight 10), 3 seeds",
    ),
    Run(
      "sweep_max_fine_field_10_adam_lr_1e-3",
      {
        "learning_rate": 1e-3,
        "mapper": "workspace_sweep_max_fine",
        "field_loss_weight": 10.0,
        "mapper_optimizer": "adam",
        "seeds": 1,
      },
      "sweep_max_fine_field_10_lr_1e-3 with Adam (as the study's script) instead of RMSprop, one seed",
    ),
    Run(
      "sweep_max_fine_field_10_as_study",
      AS_STUDY,
      "sweep_max_fine_field_10_adam_lr_1e-3 with the rest of the study script's settings: the field network twice "
      "as wide (32 channels), batches of 16, the half cosine over all 10 epochs; one seed",
    ),
    Run(
      "sweep_max_fine_field_10_as_study_20k",
      AS_STUDY_20K,
      "sweep_max_fine_field_10_as_study on 20k workspaces (its own 500/500 draw) for 3 epochs, the steps of 30 "
      "epochs on 2000; one seed",
    ),
    *(
      Run(f"sweep_max_fine_field_10_as_study_20k_seed{seed}", {**AS_STUDY_20K, "seed": seed}, f"the same, seed {seed}")
      for seed in (1, 2)
    ),
    Run(
      "sweep_max_fine_field_10_as_study_20k_8_epochs",
      AS_STUDY_20K_8_EPOCHS,
      "sweep_max_fine_field_10_as_study_20k for 8 epochs instead of 3 (its validation still rose in the third)",
    ),
    *(
      Run(
        f"sweep_max_fine_field_10_as_study_20k_8_epochs_seed{seed}",
        {**AS_STUDY_20K_8_EPOCHS, "seed": seed},
        f"the same, seed {seed}",
      )
      for seed in (1, 2)
    ),
  ),
)
