r"""Evaluates a trained run: `python -m experiments.evaluate --workdir=<run> [--split=test]`.

Loads the run's best checkpoint (or `--checkpoint=latest`), computes the exact %Optimal,
%Success and action accuracy of the greedy policy on a split of the run's dataset (or of
`--data`, which may hold maps of another size but must be the same task) and writes
`<workdir>/eval_<split>[_k<k_fwd>][_<solver>][_<mapper>][_start_<start>][_<dataset>][_latest].json`
(or `--out`): evaluating with another dataset, budget, forward solver, mapper, start or checkpoint
never replaces an earlier result. A mapper's run is scored by its map's per-cell accuracy and obstacle IoU. Examples:

  python -m experiments.evaluate --workdir=runs/maze2d_15/id_vin_quick_seed0
  python -m experiments.evaluate --workdir=<run> --k_fwd=80 --data=data/<27x27 file> --split=test
  python -m experiments.evaluate --workdir=<run> --forward_solver=iteration --k_fwd=200 --checkpoint=latest
  python -m experiments.evaluate --workdir=<explicit ConvGPPN run> --start=zeros   # what its learned start gives
  python -m experiments.evaluate --pretrained=id_vin --k_fwd=60     # a pretrained planner (pretrained/)
  python -m experiments.evaluate --workdir=<mapper run> --mapper=workspace_sweep_max_mirrored

A pretrained planner is evaluated on its own dataset (generated from its config when missing)
unless `--data`; its summary is written only to `--out`.
"""

from __future__ import annotations

import json

from absl import app, flags

import implicit_planning as ip
from experiments import huge_pages
from experiments.training import USER_ERRORS, evaluation, logs

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory made by experiments.train.")
_PRETRAINED = flags.DEFINE_string(
  "pretrained", None, "A pretrained planner's name (pretrained/), instead of --workdir."
)
_TASK = flags.DEFINE_string("task", "maze2d", "The pretrained planner's task.")
_SIZE = flags.DEFINE_integer("size", 15, "The pretrained planner's map size.")
_DATA = flags.DEFINE_string("data", "", "Dataset file; default: the run's own dataset.")
_SPLIT = flags.DEFINE_enum("split", "test", ["train", "val", "test"], "Split to evaluate.")
_K_FWD = flags.DEFINE_integer(
  "k_fwd", None, "Test-time forward budget (explicit planners: K); default: the training one."
)
_FORWARD_SOLVER = flags.DEFINE_enum(
  "forward_solver",
  None,
  list(ip.equilibrium.SOLVERS),
  "An implicit planner's forward solver; default: the training one.",
)
_CHECKPOINT = flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "Which checkpoint.")
_MAPPER = flags.DEFINE_string(
  "mapper",
  None,
  "A mapped run's mapper read another way, with the same parameters (e.g. workspace_sweep_max_mirrored "
  "for a workspace_sweep_max run: its map averaged over the image's exact mirrors); default: the training one.",
)
_START = flags.DEFINE_enum(
  "start",
  None,
  list(evaluation.START_ABLATIONS),
  "A trained initial-state layer (explicit ConvGPPN/GPPN) replaced by its bias alone or by zeros: what the "
  "run owes to its learned start; default: the trained layer.",
)
_OUT = flags.DEFINE_string(
  "out",
  "",
  "JSON path; default: <workdir>/eval_<split>[_k<k_fwd>][_<solver>][_<mapper>][_start_<start>][_<dataset>][_latest].json.",
)


SCORES = {
  "optimal": "%Optimal",
  "success": "%Success",
  "accuracy": None,
  "map_accuracy": "map %cells right",
  "obstacle_iou": "obstacle %IoU",
  "field_accuracy": "field %points right (fine raster)",
  "field_edge_accuracy": "field %points right near edges",
}
"""The summary's scores printed as JSON (a planner's, a mapper's or both), and the label of each
shown on the line after it."""


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if (_WORKDIR.value is None) == (_PRETRAINED.value is None):
    raise app.UsageError("give one of --workdir (a run) and --pretrained (a pretrained planner's name)")
  huge_pages.reexec_with_huge_pages()
  logs.quiet_library_logs()
  try:
    if _PRETRAINED.value:
      summary = evaluation.evaluate_pretrained(
        _PRETRAINED.value,
        _TASK.value,
        _SIZE.value,
        _SPLIT.value,
        _DATA.value,
        _K_FWD.value,
        _OUT.value or None,
        forward_solver=_FORWARD_SOLVER.value,
      )
    else:
      summary = evaluation.evaluate_run(
        _WORKDIR.value,
        split=_SPLIT.value,
        data_path=_DATA.value,
        k_fwd=_K_FWD.value,
        which=_CHECKPOINT.value,
        out=_OUT.value,
        forward_solver=_FORWARD_SOLVER.value,
        mapper=_MAPPER.value,
        start=_START.value,
      )
  except USER_ERRORS as error:
    raise SystemExit(f"{type(error).__name__}: {error}") from error
  print(json.dumps({name: summary[name] for name in SCORES if name in summary}))
  shown = [(label, summary[name]) for name, label in SCORES.items() if label and name in summary]
  print(
    ", ".join(f"{label} {score['mean']:.2f} ± {score['std']:.2f}" for label, score in shown), f"-> {summary['out']}"
  )
  if "success_by_distance" not in summary:  # a mapper alone
    return
  by_distance = summary["success_by_distance"]
  for name in ("success", "optimal"):
    bins = zip(by_distance["edges"][:-1], by_distance["edges"][1:], by_distance[name]["mean"])
    print(
      f"%{name.capitalize()} by distance to the goal: "
      + ", ".join(f"[{lo:g}, {'inf' if hi is None else f'{hi:g}'}) {rate:.1f}" for lo, hi, rate in bins)
    )


if __name__ == "__main__":
  app.run(main)
