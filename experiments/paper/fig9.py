"""Figure 9 (appendix E.1): planners trained on 15×15 mazes, tested on larger ones with their
training budget (explicit K = 50, implicit K_fwd = 80)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from data_gen.make import default_dataset_path, make_dataset
from experiments.paper import figure
from experiments.paper.scales import Scale
from experiments.training import evaluation
from experiments.training.sweeps import Run

BUDGET = {False: 50, True: 80}
"""Cell applications by implicitness: explicit K = 50 (the paper: for stability), implicit K_fwd = 80."""
DATA_DIR = "data"
TEST_SEED = 9
"""Seed of the larger test mazes (the training data's is 0)."""


def runs(scale: Scale) -> tuple[Run, ...]:
  return tuple(
    figure.run(scale, planner, planner, f"15×15, K = {k}", size=15, **figure.budget(planner, k))
    for planner in (*figure.EXPLICIT, *figure.IMPLICIT)
    for k in [BUDGET[planner in figure.IMPLICIT]]
  )


def test_data(size: int, maps: int) -> str:
  """Path of ``maps`` test mazes of side ``size`` (generated on first use)."""
  path = default_dataset_path(DATA_DIR, "maze2d", size, 0, 0, maps, TEST_SEED)
  return path if os.path.exists(path) else make_dataset("maze2d", size, 0, 0, maps, TEST_SEED, path, progress=True)


def evaluate(row: dict[str, Any], scale: Scale) -> None:
  """Adds ``by_size``: test %Success per seed on each of the scale's test sizes (each evaluation
  cached as JSON in the run's directory)."""
  row["by_size"] = {}
  for size in scale.test_sizes:
    data_path = test_data(size, scale.test_maps)
    out = os.path.join(row["workdir"], evaluation.eval_filename("test", data_path))
    if os.path.exists(out):
      with open(out) as f:
        summary = json.load(f)
    else:
      summary = evaluation.evaluate_run(row["workdir"], "test", data_path, out=out)
    row["by_size"][size] = summary["success"]["per_seed"]


def draw(rows: Sequence[figure.Row], scale: Scale, path: str) -> None:
  """Test %Success against the tested maze's side, one line per planner (mean ± std over seeds)."""
  fig, ax = plt.subplots(figsize=(6.5, 4.5))
  for i, row in enumerate(r for r in rows if "by_size" in r):
    planner = row["flags"]["planner"]
    sizes = sorted(row["by_size"])
    ax.errorbar(
      sizes,
      [np.mean(row["by_size"][s]) for s in sizes],
      yerr=[np.std(row["by_size"][s]) for s in sizes],
      marker="o",
      capsize=3,
      linestyle="--" if planner in figure.IMPLICIT else "-",
      color=f"C{i % 10}",
      label=figure.NAMES[planner],
    )
  ax.set(xlabel="maze side (trained on 15)", ylabel="test %Success", ylim=(-3, 103))
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  figure.save(fig, "Generalisation to larger mazes (figure 9)", scale, path)


def by_size_table(rows: Sequence[figure.Row]) -> str:
  """Test %Success (mean over seeds) per planner and tested size."""
  evaluated = [r for r in rows if "by_size" in r]
  if not evaluated:
    return ""
  sizes = sorted({s for r in evaluated for s in r["by_size"]})
  lines = ["| planner | " + " | ".join(f"{s}×{s}" for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
  for row in evaluated:
    by_size = row["by_size"]
    cells = [f"{np.mean(by_size[s]):.1f}" if s in by_size else "–" for s in sizes]
    lines.append(f"| {figure.NAMES[row['flags']['planner']]} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


FIGURE = figure.Figure(
  name="fig9",
  claim="implicit and explicit planners generalise to larger mazes about equally (the forward pass is "
  "the bottleneck); ID-SymVIN beats ID-VIN and SymVIN; ID-ConvGPPN generalises but below ConvGPPN",
  runs=runs,
  draw=draw,
  columns=("planner", "budget"),
  evaluate=evaluate,
  summary=by_size_table,
)
