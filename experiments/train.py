r"""Trains a planner: `python -m experiments.train --planner=id_vin [--preset=quick]`.

Flags left unset keep the value of the recipe (`--recipe`, `experiments/training/recipes.py`) or
else of the preset (`experiments/training/presets.py`). Re-running the same
command resumes from the run directory's latest checkpoint. Examples:

  python -m experiments.train --preset=quick --planner=id_vin
  python -m experiments.train --preset=quick --planner=id_vin --recipe=paper   # the paper's cell
  python -m experiments.train --preset=paper --planner=id_symvin --seeds=5
  python -m experiments.train --planner=vin --data=data/my_mazes.npz --workdir=runs/vin_mine

Several hosts train one run when each starts the same command with its own ``--process_id``
(``--devices`` = all their devices; the run directory on a shared file system):

  python -m experiments.train --preset=paper --planner=id_vin --devices=16 --workdir=/shared/runs/id_vin \
    --coordinator_address=host0:12355 --num_processes=2 --process_id=0   # on host0; --process_id=1 on host1
"""

from __future__ import annotations

import json
import os

from absl import app, flags, logging

from experiments import huge_pages
from experiments.training import USER_ERRORS, logs, parallel, presets, recipes, train_and_evaluate
from experiments.training import config as config_lib
from experiments.training.loop import test_text
from experiments.training.phases import train_phases

_PRESET = flags.DEFINE_enum("preset", "paper", list(presets.PRESETS), "Base configuration.")
_RECIPE = flags.DEFINE_enum(
  "recipe",
  "stable",
  list(recipes.RECIPES),
  "Per-planner flags on top of the preset (experiments/training/recipes.py); paper: the paper's cell and optimiser.",
)
_WORKDIR = flags.DEFINE_string(
  "workdir", None, "Run directory; default runs/<task>_<size>/<planner>_<preset>_seed<seed>[_x<seeds>]."
)
_COORDINATOR = flags.DEFINE_string(
  "coordinator_address", "", "Several processes: host:port of the first one (jax.distributed.initialize)."
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", 1, "Processes (hosts) that train this run together.")
_PROCESS_ID = flags.DEFINE_integer("process_id", 0, "This process's index, 0 to --num_processes - 1.")

# One flag per Config field, typed like the field, with its help; None means "the preset's value".
_DEFINE = {
  "int": flags.DEFINE_integer,
  "float": flags.DEFINE_float,
  "str": flags.DEFINE_string,
  "bool": flags.DEFINE_bool,
}
_FIELD_FLAGS = {
  field.name: _DEFINE[field.type](field.name, None, f"{field.metadata['help']} (default: the preset's)")
  for field in config_lib.FLAG_FIELDS
}


def default_workdir(config: config_lib.Config, preset: str, recipe: str) -> str:
  """runs/<task>_<size>/<planner>_<preset>[_<recipe>]_seed<seed>[_x<seeds>] (the default recipe unnamed)."""
  seeds = f"_x{config.seeds}" if config.seeds > 1 else ""
  name = f"{config.planner}_{preset}{'' if recipe == _RECIPE.default else '_' + recipe}_seed{config.seed}{seeds}"
  return os.path.join("runs", f"{config.task}_{config.size}", name)


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  huge_pages.reexec_with_huge_pages()
  logs.quiet_library_logs()
  parallel.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  overrides = {name: flag.value for name, flag in _FIELD_FLAGS.items() if flag.value is not None}
  try:
    config = recipes.configure(presets.get_config(_PRESET.value), _RECIPE.value, overrides)
    workdir = _WORKDIR.value or default_workdir(config, _PRESET.value, _RECIPE.value)
    logging.info("Run directory %s; config %s", workdir, json.dumps(config.to_dict()))
    if config.mapper:
      runs = {
        f"{phase} phase": (run, os.path.join(workdir, phase)) for phase, run in train_phases(config, workdir).items()
      }
    else:
      runs = {"": (train_and_evaluate(config, workdir), workdir)}
  except USER_ERRORS as error:
    raise SystemExit(f"{type(error).__name__}: {error}") from error
  for name, (results, run_dir) in runs.items():
    print(
      f"{config.planner} {config.task} {config.size}x{config.size}{' ' + name if name else ''}: test "
      f"{test_text(results['test'])} ({config.seeds} seed(s), best epoch {results['best_epoch']}, "
      f"{results['wall_time_s']:.0f} s) -> {run_dir}/results.json"
    )


if __name__ == "__main__":
  app.run(main)
