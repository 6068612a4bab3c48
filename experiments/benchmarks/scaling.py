"""Forward/backward time and memory against K and map size (the paper's Figures 2, 4 and 6).

For each planner, map size and ``K`` (layers of an explicit planner, forward iterations of an
implicit one; ``K_bwd`` fixed): forward time (jitted ``apply``), backward time (jitted
``value_and_grad`` of a cross-entropy minus the forward time, both medians after a warm-up call)
and XLA's compiled temporary memory of both. VIN and ID-VIN are also measured with a
contraction. Solves run their full budget (tolerances 0, random non-expansive VIN/SymVIN value
kernels: `problems.timing_params`; the iterations actually run are reported). Configurations whose
training step needs more than ``max_temp_gib`` are compiled (memory reported), not run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import matplotlib

import implicit_planning as ip
from experiments.benchmarks.problems import (
  Settings,
  build,
  cross_entropy,
  iterations,
  mazes,
  size_options,
  temp_bytes,
  timing_params,
)
from experiments.benchmarks.timing import measure

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

PLANNERS = ("vin", "id_vin", "symvin", "id_symvin", "conv_gppn", "id_conv_gppn", "gppn", "id_gppn")


def measure_planner(planner: ip.Planner, size: int, settings: Settings, max_temp_gib: float) -> dict[str, Any]:
  """Forward/backward time and temp memory of one configured planner."""
  batch, labels = mazes(size, settings.batch, settings.seed)
  params = timing_params(planner.init(jax.random.key(settings.seed), batch), settings.seed + 1)
  forward = jax.jit(lambda p, b: planner.apply(p, b).logits)
  both = jax.jit(jax.value_and_grad(lambda p, b: cross_entropy(planner.apply(p, b).logits, labels)))
  args = (params, batch)
  forward_compiled, both_compiled = forward.lower(*args).compile(), both.lower(*args).compile()
  row = {"forward_temp_bytes": temp_bytes(forward_compiled), "train_temp_bytes": temp_bytes(both_compiled)}
  if planner.spec.implicit:
    row["forward_iterations"], row["backward_iterations"] = iterations(planner, params, batch, labels)
  if row["train_temp_bytes"] > max_temp_gib * 2**30:
    row["skipped"] = f"temp memory above {max_temp_gib} GiB"
    return row
  fwd, total = measure(forward_compiled, args, settings.repeats), measure(both_compiled, args, settings.repeats)
  for clock in ("wall_ms", "cpu_ms"):
    row[f"forward_{clock}"] = fwd[clock]
    row[f"backward_{clock}"] = total[clock] - fwd[clock]
  return row


def configurations(
  planners: Sequence[str], sizes: Sequence[int], ks: Sequence[int], contraction: float = 0.9
) -> list[dict[str, Any]]:
  """One per planner, contraction setting (VIN family: 0 and ``contraction``), size and K."""
  return [
    {"planner": name, "contraction": gamma, "size": size, "K": k}
    for name in planners
    for gamma in ((0.0, contraction) if ip.planner_spec(name).family_name == "vin" else (0.0,))
    for size in sizes
    for k in ks
  ]


def measure_configuration(config: dict[str, Any], settings: Settings, max_temp_gib: float = 8.0) -> dict[str, Any]:
  """The measurement of one of `configurations` (its batch, times and memory); prints its row."""
  spec = ip.planner_spec(config["planner"])
  planner = build(
    config["planner"], config["K"], settings, contraction=config["contraction"], **size_options(spec, settings)
  )
  measured = {"batch": settings.batch, **measure_planner(planner, config["size"], settings, max_temp_gib)}
  print(format_row({**config, **measured}), flush=True)
  return measured


def run(
  settings: Settings,
  planners: Sequence[str] = PLANNERS,
  sizes: Sequence[int] = (15,),
  ks: Sequence[int] = (10, 30),
  contraction: float = 0.9,
  max_temp_gib: float = 8.0,
) -> list[dict[str, Any]]:
  """One row per configuration (`configurations`)."""
  return [
    {**config, **measure_configuration(config, settings, max_temp_gib)}
    for config in configurations(planners, sizes, ks, contraction)
  ]


HEADER = (
  f"{'planner':<22} {'H':>3} {'K':>4} {'fwd ms':>8} {'bwd ms':>8} {'fwd cpu':>8} "
  f"{'bwd cpu':>8} {'fwd MiB':>8} {'train MiB':>9} {'iters f/b':>9}"
)


def format_row(row: dict[str, Any]) -> str:
  label = row["planner"] + (f" (γ={row['contraction']})" if row["contraction"] else "")
  memory = f"{row['forward_temp_bytes'] / 2**20:>8.1f} {row['train_temp_bytes'] / 2**20:>9.1f}"
  if "forward_iterations" in row:
    memory += f" {row['forward_iterations']:>4.0f}/{row['backward_iterations']:<4.0f}"
  if "skipped" in row:
    return f"{label:<22} {row['size']:>3} {row['K']:>4} {row['skipped']:>35} {memory}"
  times = " ".join(
    f"{row[f'{part}_{clock}']:>8.1f}" for clock in ("wall_ms", "cpu_ms") for part in ("forward", "backward")
  )
  return f"{label:<22} {row['size']:>3} {row['K']:>4} {times} {memory}"


def plot(rows: list[dict[str, Any]], path: str) -> None:
  """One row of panels per map size: forward ms, backward ms and training temp MiB against K."""
  sizes = sorted({r["size"] for r in rows})
  fig, axes = plt.subplots(len(sizes), 3, figsize=(15, 4 * len(sizes)), squeeze=False)
  panels = (
    ("forward_wall_ms", "forward ms"),
    ("backward_wall_ms", "backward ms"),
    ("train_temp_bytes", "train temp MiB"),
  )
  for ax_row, size in zip(axes, sizes):
    lines = sorted({(r["planner"], r["contraction"]) for r in rows if r["size"] == size}, key=str)
    for ax, (key, label) in zip(ax_row, panels):
      for name, contraction in lines:
        points = [
          (r["K"], r[key] / (2**20 if key.endswith("bytes") else 1))
          for r in rows
          if (r["planner"], r["contraction"], r["size"]) == (name, contraction, size) and key in r
        ]
        if points:
          ax.plot(
            *zip(*points),
            marker="o",
            linestyle="--" if contraction else "-",
            label=name + (f" γ={contraction}" if contraction else ""),
          )
      ax.set(xlabel="K", ylabel=label, yscale="log", title=f"{size}×{size}: {label}")
    ax_row[0].legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
