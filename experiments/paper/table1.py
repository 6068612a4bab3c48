"""Table 1 and its per-K form (figures 12–13): the six planners and GPPN on manipulation in
configuration space (18×18, 36×36), workspace manipulation through the U-Net mapper and visual
navigation through the panorama mapper, at K = 30, 50, 80 (the table averages over K)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from experiments.paper import figure
from experiments.paper.scales import Scale
from experiments.training import presets
from experiments.training.sweeps import ROOT, Run

PLANNERS = (*figure.EXPLICIT, *figure.IMPLICIT, "gppn")
MAPPER_RUN = "workspace_mapper"
PAPER = {
  "vin": (89.65, 74.75, 80.98, 66.11),
  "symvin": (55.15, 65.72, 82.17, 96.04),
  "conv_gppn": (79.71, 70.55, 70.23, 81.76),
  "id_vin": (80.53, 56.27, 77.17, 62.53),
  "id_symvin": (99.63, 98.53, 87.60, 86.41),
  "id_conv_gppn": (97.28, 93.60, 92.60, 98.91),
}
"""The paper's Table 1 (% success, mean over seeds and K ∈ {30, 50, 80}), in the order of `TASKS`."""


@dataclasses.dataclass(frozen=True)
class Task:
  """A column of Table 1: the flags that make a run this column's, the defaults of its training
  (both scales; the user's ``--set`` overrides them), those that differ at the cpu scale, its Ks per scale."""

  flags: Mapping[str, Any]
  defaults: Mapping[str, Any]
  cpu_defaults: Mapping[str, Any]
  ks: Mapping[str, tuple[int, ...]]


_ALL_K = {"paper": (30, 50, 80), "cpu": (30, 50, 80)}
WORKSPACE_PRESET_FIELDS = ("pretrain_epochs", "epochs", "map_loss_weight", "rmsprop_bias_correction")
"""What the workspace column's training takes from the workspace preset: its phases' lengths and loss."""
TASKS: dict[str, Task] = {
  "manip18": Task({"task": "manip_cspace", "size": 18}, {}, {}, _ALL_K),
  "manip36": Task(
    {"task": "manip_cspace", "size": 36},
    {},
    {"num_train": 1000, "num_val": 250, "num_test": 250, "epochs": 10},
    {"paper": (30, 50, 80), "cpu": (30,)},
  ),
  "workspace": Task(
    {
      **{name: getattr(presets.workspace(), name) for name in ("task", "size", "mapper")},
      "mapper_from": f"{ROOT}/{MAPPER_RUN}/mapper",
    },
    {name: getattr(presets.workspace(), name) for name in WORKSPACE_PRESET_FIELDS},
    {"pretrain_epochs": 10, "epochs": 5, "mapper_learning_rate": 1e-3},
    _ALL_K,
  ),
  "visual": Task(
    {"task": "visual_nav", "size": 15, "mapper": "panorama_cnn", "phase": "end_to_end"},
    {"rmsprop_bias_correction": True},
    {"epochs": 10},
    {"paper": (30, 50, 80), "cpu": (30,)},
  ),
}
"""The cpu scale: 36×36 (on 1000/250/250 problems for 10 epochs) and visual navigation at K = 30
only, the workspace's phases 10 + 5 epochs (the preset: the paper's 15, then our 6 joint) with the mapper at 1e-3
(the recipe's 3e-3 spiked its loss on 2000 workspaces: the `mapper_rates` sweep), visual navigation 10 epochs (the
visual preset's); GPPN, the baseline outside the twins, at its tasks' first K only."""


def task_defaults(name: str, scale: Scale) -> dict[str, Any]:
  """The column's training defaults at ``scale`` (a run's `Run.defaults`: the user's ``--set`` overrides them)."""
  task = TASKS[name]
  return {**task.defaults, **(task.cpu_defaults if scale.name == "cpu" else {})}


def runs(scale: Scale) -> tuple[Run, ...]:
  """The shared workspace mapper first (one seed), then every task, planner and K."""
  workspace = TASKS["workspace"].flags
  mapper = Run(
    MAPPER_RUN,
    {**{k: v for k, v in workspace.items() if k != "mapper_from"}, "phase": "mapper", "seeds": 1},
    "the workspace U-Net alone, one seed, shared by the workspace runs",
    defaults=task_defaults("workspace", scale),
  )
  return (mapper,) + tuple(
    dataclasses.replace(
      figure.run(
        scale,
        planner,
        f"{name}_{planner}_k{k}",
        f"{name}, K = {k}",
        task_defaults(name, scale),
        **task.flags,
        **figure.budget(planner, k),
      ),
      after=(MAPPER_RUN,) if name == "workspace" else (),
    )
    for name, task in TASKS.items()
    for planner in PLANNERS
    for k in task.ks[scale.name][: 1 if planner == "gppn" and scale.name == "cpu" else None]
  )


def column(flags: Mapping[str, Any]) -> str:
  """The Table 1 column a run's flags belong to."""
  return next(name for name, task in TASKS.items() if all(flags.get(f) == task.flags[f] for f in ("task", "size")))


def draw(rows: Sequence[figure.Row], scale: Scale, path: str) -> None:
  """Per task, test %Success against K (figures 12–13)."""
  tagged = [
    {**row, "flags": {**row["flags"], "column": column(row["flags"])}} for row in rows if "planner" in row["flags"]
  ]
  figure.panels(
    tagged,
    scale,
    path,
    x="budget",
    xlabel="K (explicit: layers; implicit: forward iterations)",
    panel_flag="column",
    panel_values=tuple(TASKS),
    panel_title=lambda name: name,
    title="Table 1 per K (figures 12-13)",
  )


def averaged_table(rows: Sequence[figure.Row]) -> str:
  """Table 1's form: per planner and task, test %Success averaged over the Ks that finished (the
  diverged seeds left out of each K's mean, and counted in the cell), with the Ks averaged, and the
  paper's number."""
  cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
  for row in rows:
    if "planner" not in row["flags"]:
      continue
    line = figure.points([row], "budget")[row["flags"]["planner"]][0]
    if line["mean"] is not None:
      cells.setdefault((row["flags"]["planner"], column(row["flags"])), []).append(line)
  lines = ["| planner | " + " | ".join(f"{name} (the paper)" for name in TASKS) + " |", "|---|" + "---|" * len(TASKS)]
  for planner in PLANNERS:
    paper = PAPER.get(planner, ("–",) * len(TASKS))
    text = [_cell(cells.get((planner, name), [])) + f" ({theirs})" for name, theirs in zip(TASKS, paper)]
    lines.append(f"| {figure.NAMES[planner]} | " + " | ".join(text) + " |")
  return "\n".join(lines) + "\n"


def _cell(points: Sequence[Mapping[str, Any]]) -> str:
  """The mean over Ks of `figure.points`' means, the Ks, and how many seeds diverged if any did."""
  if not points:
    return "–"
  ks = ", ".join(str(p["x"]) for p in sorted(points, key=lambda p: p["x"]))
  diverged, seeds = sum(p["diverged_seeds"] for p in points), sum(p["seeds"] for p in points)
  note = f"; {diverged} of {seeds} seeds diverged" if diverged else ""
  return f"{np.mean([p['mean'] for p in points]):.1f} (K {ks}{note})"


FIGURE = figure.Figure(
  name="table1",
  claim="implicit planners match or beat their explicit twins on manipulation, workspace manipulation and "
  "visual navigation (paper: ID-SymVIN and ID-ConvGPPN the best of their families)",
  runs=runs,
  draw=draw,
  columns=("planner", "task", "size", "budget"),
  summary=averaged_table,
)
