"""Figure 10 (appendix E.2): backward iterations against backward time (15×15, K_fwd = 30), for
forward iteration and Anderson in the backward solve; measured, no training."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import matplotlib.pyplot as plt

import implicit_planning as ip
from experiments.benchmarks import scaling
from experiments.benchmarks.problems import Settings, build, size_options
from experiments.paper import figure, measured
from experiments.paper.scales import Scale

NAME = "fig10"
CLAIM = "backward time grows with the backward iterations, and the backward solve has converged by about 10"
K_BWD = (5, 10, 15, 20, 30, 50)
SOLVERS = ("iteration", "anderson")


def measure(scale: Scale, out_dir: str, settings: Settings | None = None) -> list[dict[str, Any]]:
  """Each implicit planner, backward solver and K_bwd; writes ``fig10.json`` and ``fig10.png`` (``settings``: the
  benchmark's, default `Settings()`), each row as it is measured to ``fig10_rows.jsonl``, from which a rerun resumes."""
  del scale  # the figure is 15×15 at both scales
  settings = settings or Settings()
  configs = [
    {"planner": name, "backward_solver": solver, "k_bwd": k_bwd}
    for name in figure.IMPLICIT
    for solver in SOLVERS
    for k_bwd in K_BWD
  ]
  rows = measured.resumable(
    os.path.join(out_dir, f"{NAME}_rows.jsonl"),
    {"settings": dataclasses.asdict(settings)},
    configs,
    lambda config: _measure_one(config, settings),
  )
  with open(os.path.join(out_dir, f"{NAME}.json"), "w") as f:
    json.dump({"claim": CLAIM, "rows": rows}, f, indent=1)
  plot(rows, os.path.join(out_dir, f"{NAME}.png"))
  return rows


def _measure_one(config: dict[str, Any], settings: Settings) -> dict[str, Any]:
  at_k_bwd = dataclasses.replace(settings, k_bwd=config["k_bwd"])
  options = size_options(ip.planner_spec(config["planner"]), at_k_bwd)
  planner = build(config["planner"], 30, at_k_bwd, backward_solver=config["backward_solver"], **options)
  row = scaling.measure_planner(planner, 15, at_k_bwd, max_temp_gib=8.0)
  print({**config, **row}, flush=True)
  return row


def plot(rows: list[dict[str, Any]], path: str) -> None:
  """Backward ms against K_bwd, a line per planner and solver."""
  fig, ax = plt.subplots(figsize=(6.5, 4.5))
  for i, name in enumerate(figure.IMPLICIT):
    for solver, style in zip(SOLVERS, ("--", "-")):
      points = [
        (r["k_bwd"], r["backward_wall_ms"]) for r in rows if (r["planner"], r["backward_solver"]) == (name, solver)
      ]
      if points:
        ax.plot(*zip(*points), style, marker="o", color=f"C{i}", label=f"{figure.NAMES[name]}, {solver}")
  positive = all(r["backward_wall_ms"] > 0 for r in rows)  # a tiny backward can measure ≤ 0 (total − forward)
  ax.set(xlabel="backward iterations K_bwd", ylabel="backward ms (batch 32)", title="15×15, K_fwd = 30")
  ax.set_yscale("log" if positive else "linear")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
