"""Sweeps: named lists of flag sets for ``experiments.sweep``, and the table their runs make.

A sweep is data: a preset and a list of `Run` (a label and the training flags that differ from
the preset); the studies' sweeps are declared in `experiments.studies`, the paper's figures' in
`experiments.paper`. `experiments.sweep` trains each run in its own directory ``<root>/<label>`` (so a
rerun resumes, and a finished run is skipped) and `summarize` reads back what the runs wrote:
test scores over seeds from ``results.json`` and the last epoch's diagnostics from
``metrics.jsonl``. `test_time_compute` evaluates each trained run with more planning steps than
it was trained with, on its own test split and on other datasets.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import implicit_planning as ip
from experiments.training import checkpoints, data, evaluation, logs, phases
from experiments.training.config import SAME_RESULT_FIELDS, Config, ConfigError

ROOT = "{root}"
"""Stands for the sweep's root folder in a run's string flags (a run that starts from another's
checkpoint: ``mapper_from``)."""


@dataclasses.dataclass(frozen=True)
class Run:
  """One training run of a sweep: ``label`` names its directory, ``flags`` override the preset."""

  label: str
  flags: Mapping[str, Any]
  note: str = ""
  after: tuple[str, ...] = ()
  """Runs of the sweep that must finish before this one starts (a shared mapper)."""
  defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  """Flags of the run's scale (fewer maps or epochs on a larger map) that the user's ``--set``
  overrides; ``flags`` are what the run is, and beat it."""


@dataclasses.dataclass(frozen=True)
class Sweep:
  """A preset and the runs that vary it."""

  preset: str
  runs: tuple[Run, ...]
  description: str
  recipe: str = "paper"
  """The recipe (`recipes`) under the runs' flags: each run names what differs from it."""
  flags: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  """Flags under every run's and the user's ``--set``: what the study holds fixed where the preset has moved on."""


def select(sweep: Sweep, labels: Sequence[str]) -> tuple[Run, ...]:
  """The runs named in ``labels``, in that order (all, in the sweep's order, when empty);
  `ConfigError` for a label the sweep lacks."""
  by_label = {run.label: run for run in sweep.runs}
  unknown = [label for label in labels if label not in by_label]
  if unknown:
    raise ConfigError(f"sweep has no run {', '.join(unknown)}; its runs: {', '.join(by_label)}")
  return tuple(by_label[label] for label in labels) if labels else sweep.runs


def run_flags(
  run: Run, common: Mapping[str, Any], root: str, settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
  """``common`` flags, the run's `Run.defaults`, the user's ``settings``, then the run's own
  flags, with `ROOT` replaced by ``root``."""
  return {
    name: value.replace(ROOT, root) if isinstance(value, str) else value
    for name, value in {**common, **run.defaults, **(settings or {}), **run.flags}.items()
  }


def overruled_settings(run: Run, settings: Mapping[str, Any]) -> dict[str, Any]:
  """The user's ``settings`` that ``run`` sets otherwise itself (its own flags win): name to the
  run's value."""
  return {name: run.flags[name] for name, value in settings.items() if name in run.flags and run.flags[name] != value}


def train_command(
  preset: str,
  run: Run,
  workdir: str,
  common: Mapping[str, Any],
  recipe: str = "paper",
  settings: Mapping[str, Any] | None = None,
) -> list[str]:
  """The ``experiments.train`` command line of one run in ``workdir`` (``<root>/<label>``):
  ``recipe``, then `run_flags`."""
  flags = run_flags(run, common, os.path.dirname(workdir), settings)
  return [
    sys.executable,
    "-m",
    "experiments.train",
    f"--preset={preset}",
    f"--recipe={recipe}",
    f"--workdir={workdir}",
  ] + [f"--{name}={value}" for name, value in flags.items()]


STOPPED = {"TrainingDiverged": "diverged", "RESOURCE_EXHAUSTED": "out of memory"}
"""What a run's log says when it stopped for good, and the status a sweep records (a rerun skips it)."""


def run_status(root: str, label: str) -> str:
  """``finished`` (test scores written), a `STOPPED` status from its log, or ``unfinished`` (not
  started, interrupted or failed otherwise: a rerun of the sweep resumes or retries it)."""
  workdir = run_dir(os.path.join(root, label))
  if os.path.exists(os.path.join(workdir, "results.json")):
    return "finished"
  log_path = os.path.join(root, f"{label}.log")
  if os.path.exists(log_path):
    with open(log_path, errors="replace") as f:
      log = f.read()
    for message, status in STOPPED.items():
      if message in log:
        return status
  return "unfinished"


def stale_settings(config: Config, workdir: str) -> list[str]:
  """How the run stored in ``workdir`` (each phase's, for a run with a mapper) differs from
  ``config`` in what it learns: empty when it is this run (or has not started)."""
  stored = [(phase, os.path.join(workdir, phase)) for phase in (*phases.ORDER, "end_to_end")] if config.mapper else []
  differences = []
  for phase, directory in stored or [("", workdir)]:
    if os.path.exists(checkpoints.config_path(directory)):
      wanted = phases.phase_config(config, phase) if phase else config
      found = checkpoints.config_differences(
        _resolved(checkpoints.read_config(directory)), _resolved(wanted), SAME_RESULT_FIELDS
      )
      differences += [f"{phase} {difference}" if phase else difference for difference in found]
  return differences


def _resolved(settings: Config) -> Config:
  """``settings`` with the dataset file as training resolves it."""
  return settings.replace(data=data.dataset_path(settings))


REUSED_FROM = "reused_from.txt"
"""The file in an adopted run's directory that names the run it was copied from (`adopt`)."""


def find_trained(config: Config, roots: Sequence[str]) -> str | None:
  """A finished run of ``config`` in one of the sweep ``roots`` (``<root>/<label>``): every run it
  makes (each phase's, with a mapper) stored with the same settings in every field outside
  `SAME_RESULT_FIELDS`, so the same data, seeds and training."""

  for root in roots:
    labels = sorted(os.listdir(root)) if os.path.isdir(root) else []
    for label in labels:
      workdir = os.path.join(root, label)
      made = [os.path.join(workdir, phase) for phase in phases.phases(config)] if config.mapper else [workdir]
      stored = all(os.path.exists(checkpoints.config_path(directory)) for directory in made)
      if stored and run_status(root, label) == "finished" and not stale_settings(config, workdir):
        return workdir
  return None


def adopt(source: str, workdir: str) -> None:
  """Copies the finished run ``source`` to ``workdir`` (and its sweep log beside it), noting where from."""
  shutil.copytree(source, workdir, symlinks=True)
  log = f"{source.rstrip(os.sep)}.log"
  if os.path.exists(log):
    shutil.copyfile(log, f"{workdir.rstrip(os.sep)}.log")
  with open(os.path.join(workdir, REUSED_FROM), "w") as f:
    f.write(f"{source}\n")


def _last(values: Sequence[float | None]) -> float | None:
  """The last logged value (diagnostics are logged on some epochs only)."""
  return next((v for v in reversed(values) if v is not None), None)


def run_dir(workdir: str) -> str:
  """The run a sweep reports for ``workdir``: for a run with a mapper its last phase that plans
  (end to end or joint, else planner; a mapper's pretraining alone has no policy), else the run itself."""
  for phase in ("end_to_end", "joint", "planner"):
    if os.path.exists(os.path.join(workdir, phase, "metrics.jsonl")):
      return os.path.join(workdir, phase)
  return workdir


def summarize(root: str, runs: Sequence[Run]) -> list[dict[str, Any]]:
  """One row per run that has started and plans (`run_dir`), or stopped before its first epoch: its
  status (`run_status`), test scores (mean, std, per seed), best and last epoch, validation %Success
  and the latest diagnostics."""
  rows = []
  for run in runs:
    workdir = run_dir(os.path.join(root, run.label))
    records = logs.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    status = run_status(root, run.label)
    row: dict[str, Any] = {"label": run.label, "workdir": workdir, "note": run.note, "flags": dict(run.flags)}
    if records:
      last = records[-1]
      row.update(
        epochs=last["epoch"],
        last_val_success=last["val_success"],
        best_val_success=max(r["val_success"] for r in records),
        val_success_curve=[r["val_success"] for r in records],
        val_success_per_seed_curve=[r.get("val_success_per_seed") for r in records],
        fwd_residual_curve=[r["fwd_residual_mean"] for r in records],
        jacobian_radius_curve=[r.get("diag_jacobian_radius_mean") for r in records],
        grad_error_curve=[r.get("grad_relative_error") for r in records],
        wall_time_s=last["elapsed_s"],
      )
    elif status in ("unfinished", "finished"):
      continue
    row["status"] = status
    reused = os.path.join(root, run.label, REUSED_FROM)
    if os.path.exists(reused):
      with open(reused) as f:
        row["reused_from"] = f.read().strip()
    if status == "finished":
      with open(os.path.join(workdir, "results.json")) as f:
        results = json.load(f)
      diverged = {s: where for s, where in enumerate(results.get("diverged", [])) if where is not None}
      row.update(best_epoch=results["best_epoch"], test=results["test"], diverged_seeds=diverged)
    rows.append(row)
  return rows


def _score(test: Mapping[str, Any] | None, name: str, digits: int = 1) -> str:
  if test is None:
    return "–"
  score = test[name]
  mean, std = f"{score['mean']:.{digits}f}", f"{score['std']:.{digits}f}"
  return f"{mean} ± {std}" if len(score["per_seed"]) > 1 else mean


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
  """The summary as a Markdown table (test %Opt / %Succ of the best-validation checkpoint)."""
  lines = [
    "| run | what | test %Opt | test %Succ | best val %Succ | last val %Succ | epochs | "
    "fwd residual (last) | spectral radius (latest) | gradient error (latest) |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ]
  for row in rows:
    if "val_success_curve" not in row:  # stopped before its first epoch
      lines.append(f"| {row['label']} | {row['note']} | – | – | – | – | 0 ({row['status']}) | – | – | – |")
      continue
    radius, error = _last(row["jacobian_radius_curve"]), _last(row["grad_error_curve"])
    epochs = f"{row['epochs']}" + ("" if row["status"] == "finished" else f" ({row['status']})")
    epochs += "".join(
      f" (seed {s} diverged at epoch {where['epoch']})" for s, where in row.get("diverged_seeds", {}).items()
    )
    epochs += f" (trained as {row['reused_from']})" if "reused_from" in row else ""
    lines.append(
      f"| {row['label']} | {row['note']} | {_score(row.get('test'), 'optimal')} | {_score(row.get('test'), 'success')} | "
      f"{row['best_val_success']:.1f} | {row['last_val_success']:.1f} | {epochs} | "
      f"{row['fwd_residual_curve'][-1]:.1e} | {'–' if radius is None else f'{radius:.3f}'} | "
      f"{'–' if error is None else f'{error:.2g}'} |"
    )
  return "\n".join(lines) + "\n"


def phase_rows(root: str, runs: Sequence[Run]) -> list[dict[str, Any]]:
  """One row per run with a mapper that has finished a phase: each finished phase's test scores,
  training time (its epochs' wall time summed over every invocation), training loss and validation
  map accuracy per epoch."""
  rows = []
  for run in runs:
    finished = {}
    for phase in (*phases.ORDER, "end_to_end"):
      path = os.path.join(root, run.label, phase, "results.json")
      if os.path.exists(path):
        with open(path) as f:
          results = json.load(f)
        epochs = logs.read_jsonl(os.path.join(root, run.label, phase, "metrics.jsonl"))
        finished[phase] = {
          "test": results["test"],
          "wall_time_s": sum(e["epoch_time_s"] for e in epochs),
          "loss_curve": [e["loss"] for e in epochs],
          "val_map_accuracy_curve": [e.get("val_map_accuracy") for e in epochs],
        }
    if finished:
      rows.append({"label": run.label, "note": run.note, "phases": finished})
  return rows


def phase_table(rows: Sequence[Mapping[str, Any]]) -> str:
  """Runs with a mapper as Markdown: the pretrained mapper's map (and its obstacle field at the fine
  raster, where scored), the planner pretrained on the true map, and the joint model on the mapper's
  map (and its planner given the true map); an end-to-end run's model is in the joint columns. Maps
  to two decimals: mappers differ by less than a tenth of a point."""
  lines = [
    "| run | what | mapper: map acc. / IoU | mapper's field: % points right / near edges | "
    "planner on the true map: %Opt / %Succ | joint: %Opt / %Succ | joint: map acc. / IoU | "
    "joint's planner on the true map: %Succ | wall (min) |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  for row in rows:
    mapper, planner, joint = (row["phases"].get(phase, {}).get("test") for phase in phases.ORDER)
    joint = joint or row["phases"].get("end_to_end", {}).get("test")
    pair = lambda test, a, b, digits=1: (
      "–" if test is None else f"{_score(test, a, digits)} / {_score(test, b, digits)}"
    )
    field = (
      "–"
      if mapper is None or "field_accuracy" not in mapper
      else pair(mapper, "field_accuracy", "field_edge_accuracy", 2)
    )
    true_map = "–" if joint is None else _score(joint["true_map"], "success")
    minutes = sum(phase["wall_time_s"] for phase in row["phases"].values()) / 60
    lines.append(
      f"| {row['label']} | {row['note']} | {pair(mapper, 'map_accuracy', 'obstacle_iou', 2)} | {field} | "
      f"{pair(planner, 'optimal', 'success')} | {pair(joint, 'optimal', 'success')} | "
      f"{pair(joint, 'map_accuracy', 'obstacle_iou', 2)} | {true_map} | {minutes:.0f} |"
    )
  return "\n".join(lines) + "\n"


def training_budget(config) -> int:
  """Cell applications a run was trained with: ``k_fwd`` (implicit) or ``k`` (explicit)."""
  return config.k_fwd if ip.planner_spec(config.planner).implicit else config.k


def test_time_compute(workdir: str, multiples: Sequence[int], datasets: Sequence[str] = ()) -> list[dict[str, Any]]:
  """Test %Success / %Optimal of a run's best checkpoint with ``m ×`` its training budget, for
  each ``m`` in ``multiples``, on its own test split and on each dataset file in ``datasets``.

  Each evaluation is written as ``eval_test_k<K>[_<dataset>].json`` in ``workdir`` and read back
  from there when it exists, so a sweep evaluates each setting once.
  """
  base = training_budget(checkpoints.read_config(workdir))
  rows = []
  for data_path in ("", *datasets):
    for multiple in multiples:
      k = multiple * base
      path = os.path.join(workdir, evaluation.eval_filename("test", data_path, k))
      if os.path.exists(path):
        with open(path) as f:
          summary = json.load(f)
      else:
        summary = evaluation.evaluate_run(workdir, "test", data_path, k)
      rows.append(
        {
          "data": os.path.splitext(os.path.basename(data_path))[0] if data_path else "own",
          "multiple": multiple,
          "k": k,
          "success": summary["success"]["mean"],
          "optimal": summary["optimal"]["mean"],
        }
      )
  return rows


def test_time_table(rows: Sequence[Mapping[str, Any]]) -> str:
  """%Success per run (rows) against dataset and budget (columns), as Markdown."""
  columns = [(e["data"], e["multiple"]) for e in rows[0]["test_time"]] if rows else []
  header = " | ".join(f"{data} {multiple}×K" for data, multiple in columns)
  lines = [f"| run | {header} |", "|---|" + "---|" * len(columns)]
  for row in rows:
    scores = {(e["data"], e["multiple"]): e["success"] for e in row["test_time"]}
    lines.append(f"| {row['label']} | " + " | ".join(f"{scores.get(c, float('nan')):.1f}" for c in columns) + " |")
  return "\n".join(lines) + "\n"
