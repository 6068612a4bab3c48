r"""Exports a finished run's planner as a pretrained one: `python -m experiments.export_pretrained --workdir=<run>`.

Takes the seed with the best validation %Success and writes it to
``pretrained/<task>_<size>/<planner>/`` (`experiments.training.export`); an existing entry is never
replaced: remove it first.

  python -m experiments.export_pretrained --workdir=runs/sweeps/implicit_levers_quick/squash_vi_start_lr_3e-3_decay_5 \
    --command="python -m experiments.sweep --sweep=implicit_levers --preset=quick --set=seeds=5 --only=..."
"""

from __future__ import annotations

from absl import app, flags

import implicit_planning as ip
from experiments.training import USER_ERRORS, export

_WORKDIR = flags.DEFINE_string("workdir", None, "A finished run directory made by experiments.train.", required=True)
_PRETRAINED_ROOT = flags.DEFINE_string(
  "pretrained_root", str(ip.pretrained.PRETRAINED_ROOT), "Where the pretrained planners live."
)
_COMMAND = flags.DEFINE_string("command", "", "The command that trained the run, for the record.")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    directory = export.export(_WORKDIR.value, _PRETRAINED_ROOT.value, _COMMAND.value)
  except (*USER_ERRORS, FileExistsError, ValueError) as error:
    raise SystemExit(f"{type(error).__name__}: {error}") from error
  print(f"exported -> {directory}")


if __name__ == "__main__":
  app.run(main)
