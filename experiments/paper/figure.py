"""A figure of the paper as a sweep: its runs at a scale, and how their results are drawn and tabled.

Every figure shares one reading of a run's result (`points`): the test %Success of each seed,
seeds below 20 % counted as diverged as the paper does, and the run's status (finished,
diverged, out of memory) kept, so that a figure marks what failed instead of dropping it.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np

import implicit_planning as ip
from experiments.paper.scales import Scale
from experiments.training.sweeps import Run, Sweep

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

DIVERGED_BELOW = 20.0
"""A seed whose test %Success is below this counts as diverged (the paper's convention)."""
EXPLICIT = ("vin", "symvin", "conv_gppn")
IMPLICIT = ("id_vin", "id_symvin", "id_conv_gppn")
NAMES = {
  "vin": "VIN",
  "symvin": "SymVIN",
  "conv_gppn": "ConvGPPN",
  "gppn": "GPPN",
  "id_vin": "ID-VIN",
  "id_symvin": "ID-SymVIN",
  "id_conv_gppn": "ID-ConvGPPN",
}

Row = Mapping[str, Any]
"""A run's summary row (`experiments.training.sweeps.summarize`), and what a figure adds to it."""


@dataclasses.dataclass(frozen=True)
class Figure:
  """One of the paper's figures (or its table) as a sweep.

  Attributes:
    name: the sweep's name (``fig2``).
    claim: what the paper says the figure shows; the summary states it beside the result.
    runs: the runs at a scale (each run's flags name everything the figure varies).
    draw: draws the figure from the summary rows into a PNG path.
    columns: the flags the figure's table shows per run (`flag` names).
    evaluate: optional, what else a finished run is measured on (figure 9: larger maps); it adds
      to the run's row and caches its evaluations in the run's directory.
  """

  name: str
  claim: str
  runs: Callable[[Scale], tuple[Run, ...]]
  draw: Callable[[Sequence[Row], Scale, str], None]
  columns: tuple[str, ...]
  evaluate: Callable[[dict[str, Any], Scale], None] | None = None
  summary: Callable[[Sequence[Row]], str] | None = None
  """Optional, a second table from the rows (Table 1's averages over K, figure 7's steadiness)."""

  def tables(self, rows: Sequence[Row]) -> str:
    """The figure's tables as Markdown."""
    tables = markdown_table(rows, self.columns)
    return tables + ("\n" + self.summary(rows) if self.summary else "")

  def sweep(self, scale: Scale) -> Sweep:
    """The figure's runs at ``scale`` under the stable recipe (what the study issue settled)."""
    return Sweep(preset=scale.preset, runs=self.runs(scale), description=self.claim, recipe="stable")


def budget(planner: str, k: int) -> dict[str, int]:
  """The flag that sets ``k`` cell applications: ``k_fwd`` of an implicit planner, ``k`` of an explicit one."""
  return {"k_fwd": k} if ip.planner_spec(planner).implicit else {"k": k}


def run(
  scale: Scale, planner: str, label: str, note: str, defaults: Mapping[str, Any] | None = None, **flags: Any
) -> Run:
  """A run of ``planner`` at its family's widths for ``scale`` with ``flags``, over the scale's
  ``defaults`` for its map (`Run.defaults`)."""
  return Run(label, {**scale.planner_flags(planner), **flags}, note, defaults=dict(defaults or {}))


def flag(flags: Mapping[str, Any], name: str) -> Any:
  """A run's flag; ``budget`` is its cell applications (``k_fwd`` or ``k``, whichever it sets)."""
  if name == "budget":
    return flags.get("k_fwd", flags.get("k"))
  return flags.get(name)


def seed_scores(row: Row) -> list[float]:
  """Test %Success per seed of a finished run (empty otherwise)."""
  return list(row["test"]["success"]["per_seed"]) if row.get("test") else []


def points(rows: Sequence[Row], x: str, *, where: Mapping[str, Any] | None = None) -> dict[str, list[dict[str, Any]]]:
  """Per planner, its runs matching ``where`` (flag values) sorted by the flag ``x``: the x value,
  mean and std %Success over the seeds that did not diverge, the count of those that did, and the status."""
  lines: dict[str, list[dict[str, Any]]] = {}
  for row in rows:
    flags = row["flags"]
    if any(flag(flags, name) != value for name, value in (where or {}).items()):
      continue
    scores = np.asarray(seed_scores(row))
    kept = scores[scores >= DIVERGED_BELOW]
    lines.setdefault(flags["planner"], []).append(
      {
        "x": flag(flags, x),
        "label": row["label"],
        "status": row["status"],
        "mean": float(kept.mean()) if kept.size else None,
        "std": float(kept.std()) if kept.size else None,
        "seeds": int(scores.size),
        "diverged_seeds": int((scores < DIVERGED_BELOW).sum()),
      }
    )
  return {planner: sorted(line, key=lambda p: p["x"]) for planner, line in lines.items()}


def planner_color(planner: str) -> str:
  """The planner's colour, the same in every panel whichever other planners it shares it with."""
  return f"C{list(NAMES).index(planner) % 10}" if planner in NAMES else "black"


def plot_success(ax: plt.Axes, lines: Mapping[str, Sequence[Mapping[str, Any]]], xlabel: str, title: str) -> None:
  """%Success against ``x``, one line per planner with the seeds' std as error bars; a run that
  diverged (every seed) or ran out of memory is a marker on the axis, a partly diverged one is ringed."""
  for planner, line in sorted(lines.items()):
    color = planner_color(planner)
    scored = [p for p in line if p["mean"] is not None]
    if scored:
      ax.errorbar(
        [p["x"] for p in scored],
        [p["mean"] for p in scored],
        yerr=[p["std"] for p in scored],
        marker="o",
        capsize=3,
        color=color,
        label=NAMES.get(planner, planner),
      )
    for p in line:
      if p["status"] == "out of memory":
        ax.plot(p["x"], 0, marker="s", color=color, markersize=9, markerfacecolor="none")
      elif p["mean"] is None and p["status"] != "unfinished":
        ax.plot(p["x"], 0, marker="x", color=color, markersize=9)
      elif p["diverged_seeds"]:
        ax.plot(p["x"], p["mean"], marker="o", color=color, markersize=13, markerfacecolor="none")
  ax.set(xlabel=xlabel, ylabel="test %Success", title=title, ylim=(-3, 103))
  ax.grid(alpha=0.3)


def caption(scale: Scale) -> str:
  return (
    f"scale {scale.name}: {scale.note}. × at 0: diverged; □ at 0: out of memory; ringed: some seeds "
    f"below {DIVERGED_BELOW:.0f} % (left out of the mean)"
  )


def panels(
  rows: Sequence[Row],
  scale: Scale,
  path: str,
  *,
  x: str,
  xlabel: str,
  panel_flag: str,
  panel_values: Sequence[Any],
  panel_title: Callable[[Any], str],
  title: str,
  xscale: Mapping[str, Any] | None = None,
  xlim: tuple[float, float] | None = None,
) -> None:
  """One `plot_success` panel per value of ``panel_flag`` (``xscale``: `Axes.set_xscale`'s
  arguments; ``xlim``: the x range), saved as ``path``."""
  fig, axes = plt.subplots(1, len(panel_values), figsize=(5.5 * len(panel_values), 4.5), squeeze=False)
  for ax, value in zip(axes[0], panel_values):
    plot_success(ax, points(rows, x, where={panel_flag: value}), xlabel, panel_title(value))
    if xscale:
      ax.set_xscale(**xscale)
    if xlim:
      ax.set_xlim(*xlim)
  for ax in axes[0]:
    if ax.get_legend_handles_labels()[0]:
      ax.legend(fontsize=8)
  save(fig, title, scale, path)


_CHARS_PER_INCH = 13
"""Characters of the 9-point caption per inch of figure width."""


def save(fig: plt.Figure, title: str, scale: Scale, path: str) -> None:
  """Titles ``fig`` with ``title`` and the scale's caption (wrapped to the figure's width), and writes it as ``path``."""
  text = textwrap.fill(caption(scale), width=int(fig.get_figwidth() * _CHARS_PER_INCH))
  fig.suptitle(f"{title}\n{text}", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def markdown_table(rows: Sequence[Row], columns: Sequence[str]) -> str:
  """The figure's runs as Markdown: the flags in ``columns``, test %Success (mean ± std over the
  seeds that did not diverge), per seed, diverged seeds, status and wall time."""
  head = "| " + " | ".join(["run", *columns, "test %Succ", "per seed", "diverged seeds", "status", "wall (min)"]) + " |"
  lines = [head, "|" + "---|" * (len(columns) + 6)]
  for row in rows:
    scores = seed_scores(row)
    kept = [s for s in scores if s >= DIVERGED_BELOW]
    mean = f"{np.mean(kept):.1f} ± {np.std(kept):.1f}" if kept else "–"
    cells = [
      row["label"],
      *(str(flag(row["flags"], c)) for c in columns),
      mean,
      ", ".join(f"{s:.1f}" for s in scores) or "–",
      str(sum(s < DIVERGED_BELOW for s in scores)),
      row["status"],
      f"{row['wall_time_s'] / 60:.0f}" if "wall_time_s" in row else "–",
    ]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"
