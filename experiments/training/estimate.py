"""Rough wall times of runs, for a sweep's dry run: measured step times scaled to each run's config.

The basis is a ``step`` benchmark record (`experiments.benchmarks.step`: one training step, batch 32,
15×15, K = 30 and 80, per planner; by default one core of the 2-core development machine). A run's
step is that planner's time, linear in K between the two measured points, scaled by the map's cells,
the batch, and the width against the benchmark's (linear in VIN's and SymVIN's Q channels,
to the power 1.5 in the ConvGRU/ConvLSTM hidden channels: matched to a measured ConvGPPN run); seeds
count in full (on a CPU they train one after another). ``OVERHEAD`` covers evaluation, diagnostics
and compilation. Against the 2-core machine's recorded runs (``records/``, 2026-11-30 and 12-01; two
runs at a time): VIN and ID-VIN mostly within 30 %, ConvGPPN and ID-ConvGPPN within a factor 1.8
either way, SymVIN and ID-SymVIN 1.3–2× under on mazes but 2–2.5× over on manipulation
(2026-12-03). A mapper's step is its ``mapper`` benchmark record's (`MAPPER_STEP_TIMES`), added to the planner's in the phases that train it, without the overhead:
against the recorded three-phase workspace and visual runs, the mappers and the VIN and SymVIN
twins within 1.4×, the ConvGRU/ConvLSTM families 1.5–2.3× over.
With another record (a GPU's: ``--step_times``) the overhead is still the CPU's.

A run whose cost (`cost_key`: planner, sizes, solvers, mapper, map, batch) matches runs recorded on
a CPU (``records/``) is estimated from their measured seconds per step and per evaluated map instead
(`measured_seconds`; a run with a mapper phase by phase, when every phase it trains was recorded):
the scaling above was 0.35× to 2.5× off by family. A run recorded only at other K (K_fwd) is scaled
from the nearest recorded K by the benchmark's growth in K alone (`_measured_cost`).
"""

from __future__ import annotations

import functools
import json
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import implicit_planning as ip
from experiments.training import checkpoints, phases
from experiments.training.config import Config, ConfigError

STEP_TIMES = "records/cpu-1core_2026-11-26/step.json"
OVERHEAD = 3.2
"""Wall time of a run over its steps' time: 3.4 (ID-VIN) and 3.1 (VIN) on the quick preset, 5 seeds."""
_REFERENCE_WIDTH = {"vin": ("l_q", 1.0), "symvin": ("l_q", 1.0), "conv_gppn": ("l_h", 1.5), "gppn": ("l_h", 1.5)}
"""Per family, the width option the benchmark fixed and how the step's time grows with it."""


def load_step_times(path: str = STEP_TIMES) -> dict[str, dict[str, Any]]:
  """Per planner, the benchmark's width and seconds per step at each K: ``{"id_vin": {"width": 100, "k": {30: s, 80: s}}}``
  (the widest configuration measured; GPPN takes ConvGPPN's, which the record lacks)."""
  times: dict[str, dict[str, Any]] = {}
  for row in _record_rows(path):
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


MAPPER_STEP_TIMES = {
  "workspace_unet": ("records/cpu-2core_2026-11-30/workspace_twins/benchmark_mapper.json", "workspace_unet (width 8)"),
  "panorama_cnn": ("records/cpu-2core_2026-12-01/benchmarks/mapper_visual.json", "panorama_cnn (width 8)"),
}
"""Per mapper, the ``mapper`` benchmark record and row of its training step (batch 32, width 8, one core;
the visual one renders the views too)."""


def mapper_step_seconds(config: Config) -> float | None:
  """One training step of ``config``'s mapper (one seed), scaled by the batch; None when not measured
  (another mapper or width)."""
  if config.mapper not in MAPPER_STEP_TIMES or config.mapper_width != 8:
    return None
  path, model = MAPPER_STEP_TIMES[config.mapper]
  return next(row["wall_s"] for row in _record_rows(path) if row["model"] == model) * config.batch_size / 32


@functools.cache
def _record_rows(path: str) -> tuple[dict[str, Any], ...]:
  """A benchmark record's rows, read once per process."""
  with open(path) as f:
    return tuple(json.load(f)["rows"])


MEASURED_RUNS = "records"
"""Where `measured_seconds` finds recorded runs: each folder with ``config.json``, ``metrics.jsonl``
and ``results.json`` (its ``hardware`` a CPU's)."""
COST_FIELDS = ("task", "size", "batch_size", "dtype", "diagnose_every", "phase")
"""What sets the time of one training step and of one evaluated map in every run or phase."""
PLANNER_COST_FIELDS = (
  "planner",
  "l_h",
  "reward_channels",
  "reward_encoder",
  "l_q",
  "kernel_size",
  "group",
  "supervised_iterates",
  "warm_start",
  "head_reads_start",
  "jacobian_reg",
)
"""The same for the planner, in the runs and phases that train it, besides the planning budget."""
MAPPER_COST_FIELDS = ("mapper", "mapper_width")
"""The same for the mapper, in the phases that train it."""


def cost_key(config: Config) -> tuple[tuple[str, Any], ...]:
  """The fields of ``config`` that set how long a step and an evaluated map of one run or phase take
  (not how many there are): `COST_FIELDS`, the planner's unless it is the mapper's pretraining (with K
  for an explicit planner or the solvers for an implicit one), and the mapper's unless it is the
  planner's."""
  names = list(COST_FIELDS)
  if config.phase != "mapper":
    implicit = ip.planner_spec(config.planner).implicit
    budget = ("k_fwd", "k_bwd", "forward_solver", "backward_solver", "forward_tol") if implicit else ("k",)
    names += [*PLANNER_COST_FIELDS, *budget]
  if config.mapper and config.phase != "planner":
    names += MAPPER_COST_FIELDS
  return tuple((name, getattr(config, name)) for name in names)


@functools.cache
def load_measured_runs(root: str = MEASURED_RUNS) -> dict[tuple[tuple[str, Any], ...], tuple[float, float]]:
  """Per `cost_key` of the CPU runs and phases recorded under ``root``, the seconds per training step
  and per evaluated map, each for one seed (the seeds of a run train one after another on a CPU): the
  medians over the epochs of the fastest such run. The code has only become faster (SymVIN's step
  took 0.76 s a seed on 2026-11-30, 0.27 on 2026-12-05) and a busy machine only slows a run (one
  ConvGPPN planner phase's step took 0.58 s on 2026-12-03, another's 0.77–1.83 as the load changed
  on 2026-12-04). Records of configs this version cannot read are skipped."""
  measured: dict[tuple[tuple[str, Any], ...], list[tuple[float, float]]] = {}
  for folder, _, files in os.walk(root):
    if not {"config.json", "metrics.jsonl", "results.json"} <= set(files):
      continue
    with open(os.path.join(folder, "results.json")) as f:
      if not str(json.load(f).get("hardware", "")).startswith("cpu"):
        continue
    try:
      config = checkpoints.read_config(folder)
    except (TypeError, ConfigError):  # a field since removed or renamed beyond `RENAMED_FIELDS`
      continue
    with open(os.path.join(folder, "metrics.jsonl")) as f:
      epochs = [json.loads(line) for line in f if line.strip()]
    if not epochs:
      continue
    step = statistics.median(e["step_time_s"] for e in epochs) / config.seeds
    per_map = statistics.median(e["val_time_s"] for e in epochs) / (config.num_val * config.seeds)
    measured.setdefault(cost_key(config), []).append((step, per_map))
  return {key: min(runs) for key, runs in measured.items()}


def measured_seconds(
  config: Config,
  measured: Mapping[tuple[tuple[str, Any], ...], tuple[float, float]],
  times: Mapping[str, Mapping[str, Any]] | None = None,
) -> float | None:
  """The whole run, every seed, from the measured step and map of recorded runs of its `cost_key`
  (with a mapper, the sum over its phases, `phases.phases`). With the step benchmark's ``times``, a
  run or phase recorded only at other budgets is scaled from the nearest (`_measured_cost`). None
  when a run or phase of its cost was not recorded."""
  runs = [phases.phase_config(config, phase) for phase in phases.phases(config)] if config.mapper else [config]
  seconds = [_recorded_run_seconds(run, measured, times) for run in runs]
  return None if None in seconds else sum(seconds)


def _recorded_run_seconds(
  config: Config,
  measured: Mapping[tuple[tuple[str, Any], ...], tuple[float, float]],
  times: Mapping[str, Mapping[str, Any]] | None,
) -> float | None:
  """One run or phase, every seed: each epoch's training steps and validation maps, then the test maps."""
  cost = _measured_cost(config, measured, times)
  if cost is None:
    return None
  step, per_map = cost
  steps = config.num_train // config.batch_size
  return config.seeds * (config.epochs * (steps * step + config.num_val * per_map) + config.num_test * per_map)


BUDGET_FIELDS = ("k", "k_fwd")
"""The planning budget in `cost_key`: K for an explicit planner, K_fwd for an implicit one."""


def _measured_cost(
  config: Config,
  measured: Mapping[tuple[tuple[str, Any], ...], tuple[float, float]],
  times: Mapping[str, Mapping[str, Any]] | None,
) -> tuple[float, float] | None:
  """The measured step and map of ``config``'s cost; with ``times``, failing that, those of the
  recorded budget nearest to its own (by ratio) of an otherwise equal cost, scaled by how the step
  benchmark's time grows between the two (`step_seconds`). Against the 250 ordered pairs of CPU
  records that differ only in K (2026-12-05), the scaled step was within 1.5× of the measured one
  for 80 % of them (median 1.21× off, at worst 3×) where the benchmark's own scaling is within 1.5×
  for 52 % of the runs (median 1.48× off)."""
  key = cost_key(config)
  if key in measured or times is None:
    return measured.get(key)
  budget = next((name for name, _ in key if name in BUDGET_FIELDS), None)
  if budget is None:  # the mapper's pretraining has no planning budget
    return None
  others = {
    dict(other)[budget]: cost for other, cost in measured.items() if _without(other, budget) == _without(key, budget)
  }
  if not others:
    return None
  target = getattr(config, budget)
  nearest = min(others, key=lambda k: (abs(math.log(k / target)), k))
  scale = step_seconds(config, times) / step_seconds(config.replace(**{budget: nearest}), times)
  step, per_map = others[nearest]
  return step * scale, per_map * scale


def _without(key: tuple[tuple[str, Any], ...], name: str) -> tuple[tuple[str, Any], ...]:
  """``key`` without the field ``name``."""
  return tuple(item for item in key if item[0] != name)


def run_seconds(config: Config, times: Mapping[str, Mapping[str, Any]]) -> float | None:
  """The whole run, every seed: its epochs of planner steps times `OVERHEAD`, and with a mapper its
  phases (`phases`: the mapper's and the planner's pretraining, then joint steps of both; the
  pretrainings left out that ``mapper_from`` / ``planner_from`` give), the mapper's steps at their
  measured time (evaluation and the host's work are small beside them). None for a mapper whose
  step was not measured."""
  steps = config.num_train // config.batch_size
  planner = step_seconds(config, times)
  if not config.mapper:
    return OVERHEAD * planner * steps * config.epochs * config.seeds
  mapper = mapper_step_seconds(config)
  if mapper is None:
    return None
  mapper_pretraining = 0 if config.mapper_from or config.phase not in ("all", "mapper") else config.pretrain_epochs
  planner_pretraining = 0 if config.planner_from or config.phase not in ("all", "planner") else config.pretrain_epochs
  joint = config.epochs if config.phase in ("all", "joint", "end_to_end") else 0
  planner_seconds = OVERHEAD * planner * (planner_pretraining + joint)
  return (planner_seconds + mapper * (mapper_pretraining + joint)) * steps * config.seeds


def estimate_seconds(
  config: Config,
  times: Mapping[str, Mapping[str, Any]],
  measured: Mapping[tuple[tuple[str, Any], ...], tuple[float, float]],
) -> tuple[float | None, str]:
  """The run's seconds (None: not known) and where they come from: ``"as recorded runs"`` of its
  cost, ``"scaled from recorded runs at another K"``, or ``""`` for the scaled benchmark (`run_seconds`)."""
  seconds = measured_seconds(config, measured)
  if seconds is not None:
    return seconds, "as recorded runs"
  seconds = measured_seconds(config, measured, times)
  if seconds is not None:
    return seconds, "scaled from recorded runs at another K"
  return run_seconds(config, times), ""


def describe(
  configs: Sequence[Config],
  times: Mapping[str, Mapping[str, Any]],
  measured: Mapping[tuple[tuple[str, Any], ...], tuple[float, float]],
) -> list[str]:
  """One line per run: its estimated minutes and where they come from (`estimate_seconds`), or that
  its mapper's cost is not known."""
  lines = []
  for config in configs:
    seconds, source = estimate_seconds(config, times, measured)
    if seconds is None:
      lines.append("no estimate (mapper not measured)")
    else:
      lines.append(f"~{seconds / 60:.0f} min{f', {source}' if source else ''}")
  return lines
