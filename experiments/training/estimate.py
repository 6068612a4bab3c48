"""Rough wall times of runs, for a sweep's dry run: measured step times scaled to each run's config.

The basis is a ``step`` benchmark record (`experiments.benchmarks.step`: one training step, batch 32,
15×15, K = 30 and 80, per planner; by default one core of the 2-core development machine). A run's
step is that planner's time, linear in K between the two measured points, scaled by the map's cells,
the batch, and the width against the benchmark's (linear in VIN's and SymVIN's Q channels,
to the power 1.5 in the ConvGRU/ConvLSTM hidden channels: matched to a measured ConvGPPN run); seeds
count in full (on a CPU they train one after another). ``OVERHEAD`` covers evaluation, diagnostics
and compilation. Against the 2-core machine's recorded runs (``records/``, 2026-11-30 and 12-01; two
runs at a time): VIN and ID-VIN mostly within 30 %, ConvGPPN and ID-ConvGPPN within a factor 1.8
either way, SymVIN and ID-SymVIN 1.3–2× under. A mapper's cost is not modelled: such runs are marked.
With another record (a GPU's: ``--step_times``) the overhead is still the CPU's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import implicit_planning as ip
from experiments.training.config import Config

STEP_TIMES = "records/cpu-1core_2026-11-26/step.json"
OVERHEAD = 3.2
"""Wall time of a run over its steps' time: 3.4 (ID-VIN) and 3.1 (VIN) on the quick preset, 5 seeds."""
_REFERENCE_WIDTH = {"vin": ("l_q", 1.0), "symvin": ("l_q", 1.0), "conv_gppn": ("l_h", 1.5), "gppn": ("l_h", 1.5)}
"""Per family, the width option the benchmark fixed and how the step's time grows with it."""


def load_step_times(path: str = STEP_TIMES) -> dict[str, dict[str, Any]]:
  """Per planner, the benchmark's width and seconds per step at each K: ``{"id_vin": {"width": 100, "k": {30: s, 80: s}}}``
  (the widest configuration measured; GPPN takes ConvGPPN's, which the record lacks)."""
  with open(path) as f:
    rows = json.load(f)["rows"]
  times: dict[str, dict[str, Any]] = {}
  for row in rows:
    option, _ = _REFERENCE_WIDTH[ip.planner_spec(row["planner"]).family_name]
    entry = times.setdefault(row["planner"], {"width": row[option], "k": {}})
    if row[option] > entry["width"]:
      entry.update(width=row[option], k={})
    if row[option] == entry["width"]:
      entry["k"][row["K"]] = row["wall_s"]
  times.setdefault("gppn", times["conv_gppn"])
  return times


def step_seconds(config: Config, times: Mapping[str, Mapping[str, Any]]) -> float:
  """One training step of ``config``'s planner (one seed), from ``times``."""
  spec = ip.planner_spec(config.planner)
  measured = times[config.planner]
  (k_lo, t_lo), (k_hi, t_hi) = sorted(measured["k"].items())[0], sorted(measured["k"].items())[-1]
  k = config.k_fwd if spec.implicit else config.k
  at_k = t_lo + (t_hi - t_lo) * (k - k_lo) / (k_hi - k_lo) if k_hi != k_lo else t_lo
  option, power = _REFERENCE_WIDTH[spec.family_name]
  width = (getattr(config, option) / measured["width"]) ** power
  return max(at_k, 0.0) * width * (config.size / 15) ** 2 * config.batch_size / 32


def run_seconds(config: Config, times: Mapping[str, Mapping[str, Any]]) -> float:
  """The whole run: its epochs (and pretraining epochs of a run with a mapper) of steps, every seed,
  times `OVERHEAD`; 0 for a mapper's pretraining alone (not modelled)."""
  if config.phase == "mapper":
    return 0.0
  steps = config.num_train // config.batch_size
  epochs = config.epochs + (config.pretrain_epochs if config.mapper and config.phase == "all" else 0)
  return OVERHEAD * step_seconds(config, times) * steps * epochs * config.seeds


def describe(configs: Sequence[Config], times: Mapping[str, Mapping[str, Any]]) -> list[str]:
  """One line per run: its estimated minutes (``+ mapper`` where a mapper's cost is left out)."""
  return [f"~{run_seconds(c, times) / 60:.0f} min" + (" + mapper (not modelled)" if c.mapper else "") for c in configs]
