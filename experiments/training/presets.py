"""Training presets: `paper` (section 5.1 / appendix D.2), `mid`, `quick` (minutes on a CPU),
`workspace` (workspace manipulation with a mapper), `visual` (visual navigation), `test`.

A preset is a `Config`; ``experiments.train`` flags override single fields. Measured scores of
each preset are in the README's results tables, with their commands.
"""

from __future__ import annotations

from collections.abc import Callable

from experiments.training.config import Config, ConfigError


def paper() -> Config:
  """The paper's 2D-navigation setup (section 5.1, appendix D.2): 15x15, 10k/2k/2k, 60 epochs.

  K = 30 (implicit: K_fwd = 30 forward iterations, K_bwd = 15 Anderson), l_h = 150, l_q = 100,
  RMSprop 1e-3, batch 32. Command: ``python -m experiments.train --preset=paper --planner=vin --recipe=paper``;
  on the 2-core development machine VIN took 15 min, ID-VIN about 12 min.
  """
  return Config()


def quick() -> Config:
  """The paper's planner, optimiser and batch settings on a smaller dataset (2000/500/500 maps,
  generated in under a second) for 20 epochs.

  Command: ``python -m experiments.train --preset=quick --planner=id_vin`` (the README's main job);
  about 30 s for ID-VIN and 45 s for VIN on the 2-core development machine.
  """
  return Config(num_train=2000, num_val=500, num_test=500, epochs=20)


def mid() -> Config:
  """Between quick and paper, where the gap between explicit and implicit training shows: the
  paper's training split (10k maps) for 30 epochs, with 1k validation and test maps.

  Command: ``python -m experiments.train --preset=mid --planner=vin``. The study of implicit
  training (README, "Training implicit planners") runs its ablations at this scale.
  """
  return Config(num_train=10_000, num_val=1000, num_test=1000, epochs=30)


def workspace() -> Config:
  """Workspace manipulation (section 5.1, appendix D.1): 18x18 configuration spaces planned on the
  map a U-Net makes from the 96x96 workspace image; 10k/2k/2k problems. The mapper and the planner
  are pretrained for 15 epochs each (the paper), then trained jointly for 6 on the planner's loss
  alone, each phase in a subfolder of the workdir (`phases`). RMSprop is bias-corrected: the
  joint phase starts it afresh, and PyTorch's first steps (up to 10x the rate) knock the
  pretrained mapper away. The paper does not give the joint phase; this is the best of our study
  (docs/implicit_training.md, rounds 18-21: ID-VIN 97.6 % against 95.8 with the map loss, PyTorch's
  RMSprop and 3 joint epochs).

  Command: ``python -m experiments.train --preset=workspace --planner=id_vin``.
  """
  return Config(
    task="manip_workspace",
    size=18,
    mapper="workspace_unet",
    pretrain_epochs=15,
    epochs=6,
    map_loss_weight=0.0,
    rmsprop_bias_correction=True,
  )


def visual() -> Config:
  """Visual navigation (section 5.1, appendix D.1, after GPPN): 15x15 mazes seen only through four
  32x32 egocentric views per cell, rendered on the fly (`data_gen.panorama`); the paper's CNN mapper
  and the planner trained together from scratch (``end_to_end``) on the action loss plus the map's
  binary cross-entropy (``map_loss_weight`` 1; 0 for the action loss alone), 10 epochs on the quick
  preset's 2000/500/500 mazes: the paper's 10k mazes take five times as long. RMSprop with Adam's
  bias correction: with PyTorch's, whose first steps are up to 10x the learning rate, the mean loss
  of the first epoch was 271 (ID-VIN) and 7902 (VIN), and ID-VIN's mapper died (a constant map,
  84 % of cells right); corrected, ID-VIN's first epoch averaged 2.2 and its map was 99.8 % right.

  Command: ``python -m experiments.train --preset=visual --planner=id_vin``; about 3.5 s per step of
  32 mazes on one core of the development machine, most of it the mapper (README, "Visual navigation").
  """
  return Config(
    task="visual_nav",
    mapper="panorama_cnn",
    phase="end_to_end",
    num_train=2000,
    num_val=500,
    num_test=500,
    epochs=10,
    rmsprop_bias_correction=True,
  )


def test() -> Config:
  """Seconds-long run for tests: 7x7 mazes, 32/16/16 maps, 2 epochs, l_h = l_q = 8, K = 5, and
  XLA's own convolutions (on CPU they compile in about two thirds of the time of the custom
  formulations "auto" picks, which `tests/ops` checks against them).

  Command: ``python -m experiments.train --preset=test --planner=vin`` (about 15 s, mostly
  compilation).
  """
  return Config(
    size=7,
    num_train=32,
    num_val=16,
    num_test=16,
    epochs=2,
    l_h=8,
    l_q=8,
    k=5,
    k_fwd=5,
    k_bwd=5,
    batch_size=8,
    eval_batch_size=16,
    log_every=2,
    conv_impl="xla",
    mapper_width=2,
  )


PRESETS: dict[str, Callable[[], Config]] = {
  "paper": paper,
  "mid": mid,
  "quick": quick,
  "workspace": workspace,
  "visual": visual,
  "test": test,
}


def get_config(preset: str) -> Config:
  """The named preset.

  Raises:
    ConfigError: unknown preset (the message lists the known ones).
  """
  if preset not in PRESETS:
    raise ConfigError(f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}")
  return PRESETS[preset]()
