r"""Trains a planner: `python -m experiments.train --planner=id_vin [--preset=quick]`.

Flags left unset keep the preset's value (`experiments/training/presets.py`). Re-running the same
command resumes from the run directory's latest checkpoint. Examples:

  python -m experiments.train --preset=quick --planner=id_vin
  python -m experiments.train --preset=paper --planner=id_symvin --seeds=5
  python -m experiments.train --planner=vin --data=data/my_mazes.npz --workdir=runs/vin_mine
"""

from __future__ import annotations

import json
import os

from absl import app, flags, logging

from experiments import huge_pages
from experiments.training import USER_ERRORS, logs, presets, train_and_evaluate
from experiments.training import config as config_lib

_PRESET = flags.DEFINE_enum("preset", "paper", list(presets.PRESETS), "Base configuration.")
_WORKDIR = flags.DEFINE_string(
  "workdir", None, "Run directory; default runs/<task>_<size>/<planner>_<preset>_seed<seed>[_x<seeds>]."
)

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


def default_workdir(config: config_lib.Config, preset: str) -> str:
  """runs/<task>_<size>/<planner>_<preset>_seed<seed>[_x<seeds>]."""
  seeds = f"_x{config.seeds}" if config.seeds > 1 else ""
  return os.path.join("runs", f"{config.task}_{config.size}", f"{config.planner}_{preset}_seed{config.seed}{seeds}")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  huge_pages.reexec_with_huge_pages()
  logs.quiet_library_logs()
  overrides = {name: flag.value for name, flag in _FIELD_FLAGS.items() if flag.value is not None}
  try:
    config = presets.get_config(_PRESET.value).replace(**overrides)
    workdir = _WORKDIR.value or default_workdir(config, _PRESET.value)
    logging.info("Run directory %s; config %s", workdir, json.dumps(config.to_dict()))
    results = train_and_evaluate(config, workdir)
  except USER_ERRORS as error:
    raise SystemExit(f"{type(error).__name__}: {error}") from error
  test = results["test"]
  print(
    f"{config.planner} {config.task} {config.size}x{config.size}: test %Optimal "
    f"{test['optimal']['mean']:.2f} ± {test['optimal']['std']:.2f}, %Success "
    f"{test['success']['mean']:.2f} ± {test['success']['std']:.2f} "
    f"({config.seeds} seed(s), best epoch {results['best_epoch']}, "
    f"{results['wall_time_s']:.0f} s) -> {workdir}/results.json"
  )


if __name__ == "__main__":
  app.run(main)
