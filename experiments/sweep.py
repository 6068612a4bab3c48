r"""Runs a sweep (a named list of flag sets, `experiments/training/sweeps.py`) and tables it.

Each run trains with ``experiments.train`` in ``<root>/<label>``: a rerun resumes unfinished runs
and skips finished ones. With ``--jobs=N`` up to N runs train side by side, each on one XLA
thread pinned to its own core by ``taskset`` (on a small CPU machine this is faster than one run
on all cores); with ``--accelerator`` they share one GPU instead. After the runs, and with ``--summarize``, it writes ``summary.json``,
``summary.md`` (the table) and ``curves.png`` (validation %Success, forward residual, spectral
radius and gradient error per epoch) in the root.

  python -m experiments.sweep --sweep=implicit_levers --jobs=2 --set=seeds=3,diagnose_every=5
  python -m experiments.sweep --sweep=implicit_levers --only=vin,contraction_0.9 --dry_run
  python -m experiments.sweep --sweep=implicit_levers --summarize --test_time=1,2,4 \
    --test_data=data/maze2d_15x15_perfect_seed7.npz
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Sequence
from typing import Any

import matplotlib
from absl import app, flags

from experiments import cpu
from experiments.training import ConfigError, presets, sweeps
from experiments.training import config as config_lib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

_SWEEP = flags.DEFINE_enum("sweep", None, list(sweeps.SWEEPS), "Sweep to run.", required=True)
_PRESET = flags.DEFINE_string("preset", None, "Preset of every run (default: the sweep's).")
_ROOT = flags.DEFINE_string("root", None, "Directory of the runs; default runs/sweeps/<sweep>[_<preset>].")
_ONLY = flags.DEFINE_list("only", [], "Labels of the runs to do (default: all).")
_SET = flags.DEFINE_list("set", [], "Training flags for every run, name=value (e.g. seeds=3,epochs=30).")
_JOBS = flags.DEFINE_integer("jobs", 1, "Runs side by side, each on one thread and core (1: XLA's default threads).")
_CORES = flags.DEFINE_list("cores", [], "CPUs of the --jobs runs (default: the first --jobs CPUs); sets --jobs.")
_ACCELERATOR = flags.DEFINE_bool(
  "accelerator",
  False,
  "The --jobs runs share one accelerator: not pinned to cores, and each takes device memory as it needs it "
  "(XLA_PYTHON_CLIENT_PREALLOCATE=false) instead of most of it.",
)
_TEST_TIME = flags.DEFINE_list(
  "test_time", [], "Also evaluate each trained run at these multiples of its training budget (e.g. 1,2,4)."
)
_TEST_DATA = flags.DEFINE_list("test_data", [], "Dataset files the --test_time evaluation also uses (test split).")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the commands, run nothing.")
_SUMMARIZE = flags.DEFINE_bool("summarize", False, "Only write the summary of the runs so far.")


_FIELD_TYPES = {field.name: field.type for field in config_lib.FLAG_FIELDS}
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _typed(name: str, text: str) -> Any:
  """``text`` as the type of the training flag ``name``."""
  kind = _FIELD_TYPES.get(name)
  if kind is None:
    raise ConfigError(f"--set: unknown training flag {name!r}")
  try:
    if kind == "bool":
      return _BOOLEANS[text.lower()]
    return {"int": int, "float": float, "str": str}[kind](text)
  except (KeyError, ValueError) as error:
    raise ConfigError(f"--set {name}={text}: expected {kind}") from error


def parse_settings(items: Sequence[str]) -> dict[str, Any]:
  """``["seeds=3", ...]`` as typed training flags; `ConfigError` for a bad item, name or value."""
  bad = [item for item in items if "=" not in item]
  if bad:
    raise ConfigError(f"--set takes name=value items; got {', '.join(bad)}")
  return {name: _typed(name, text) for name, text in (item.split("=", 1) for item in items)}


def is_finished(workdir: str) -> bool:
  return os.path.exists(os.path.join(workdir, "results.json"))


def run_all(commands: list[tuple[str, list[str]]], root: str, jobs: int = 1, cores: Sequence[int] = ()) -> None:
  """Runs the commands, logging to ``<root>/<label>.log``: with ``cores`` one per core at a time,
  each on one thread; otherwise ``jobs`` at a time on XLA's default threads, sharing the device's
  memory when ``jobs > 1``."""
  pending, active, done, start = list(commands), {}, 0, time.time()
  free_slots: list[int | None] = list(cores) or [None] * jobs
  shared_env = dict(os.environ, **({"XLA_PYTHON_CLIENT_PREALLOCATE": "false"} if jobs > 1 else {}))
  while pending or active:
    while pending and free_slots:
      label, command = pending.pop(0)
      core = free_slots.pop(0)
      env = cpu.single_thread_environment(os.environ) if core is not None else shared_env
      pinned = ["taskset", "--cpu-list", str(core), *command] if core is not None else command
      log = open(os.path.join(root, f"{label}.log"), "w")  # pylint: disable=consider-using-with
      active[label] = (subprocess.Popen(pinned, stdout=log, stderr=subprocess.STDOUT, env=env), core, log)
      print(f"started {label}" + (f" on core {core}" if core is not None else ""), flush=True)
    time.sleep(2)
    for label, (process, core, log) in list(active.items()):
      if process.poll() is None:
        continue
      log.close()
      del active[label]
      free_slots.append(core)
      done += 1
      elapsed = time.time() - start
      eta = elapsed / done * (len(pending) + len(active))
      status = "done" if process.returncode == 0 else f"FAILED (exit {process.returncode}, see {label}.log)"
      print(f"[{done}/{len(commands)}] {label} {status}; {elapsed / 60:.1f} min, ETA {eta / 60:.1f} min", flush=True)


def plot_curves(rows: list[dict], path: str) -> None:
  """Validation %Success, forward residual, spectral radius and gradient error against epoch, one
  line per run (the last two on the epochs with diagnostics)."""
  panels = [
    ("val_success_curve", "val %Success", "linear"),
    ("fwd_residual_curve", "forward residual (mean)", "log"),
    ("jacobian_radius_curve", "spectral radius of ∂f/∂v", "linear"),
    ("grad_error_curve", "implicit gradient error (vs converged)", "log"),
  ]
  fig, axes = plt.subplots(1, 4, figsize=(21, 4.5))
  for ax, (key, title, scale) in zip(axes, panels):
    for i, row in enumerate(rows):
      points = [(e + 1, y) for e, y in enumerate(row[key]) if y is not None]
      if points:  # one colour per run in every panel, whichever panels it has points in
        ax.plot(*zip(*points), marker=".", label=row["label"], color=f"C{i % 10}")
    ax.set(xlabel="epoch", title=title, yscale=scale)
  axes[0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def write_summary(
  root: str, runs: Sequence[sweeps.Run], multiples: Sequence[int] = (), datasets: Sequence[str] = ()
) -> None:
  """The summary files; with ``multiples``, each run that has a checkpoint is also evaluated with
  more planning steps (`sweeps.test_time_compute`) and a second table added."""
  rows = sweeps.summarize(root, runs)
  if multiples:
    for row in rows:
      if row["status"] != "unfinished":
        row["test_time"] = sweeps.test_time_compute(row["workdir"], multiples, datasets)
  tables = sweeps.markdown_table(rows)
  evaluated = [row for row in rows if "test_time" in row]
  if evaluated:
    tables += "\nTest %Success with more planning steps than in training (K: the training budget)\n\n"
    tables += sweeps.test_time_table(evaluated)
  mapped = sweeps.phase_rows(root, runs)
  if mapped:
    tables += "\nRuns with a mapper, by phase (test split; the mapper's scores are per cell)\n\n"
    tables += sweeps.phase_table(mapped)
  with open(os.path.join(root, "summary.json"), "w") as f:
    json.dump(rows + mapped, f, indent=1)
  with open(os.path.join(root, "summary.md"), "w") as f:
    f.write(tables)
  if rows:
    plot_curves(rows, os.path.join(root, "curves.png"))
  print(tables)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    sweep = sweeps.get_sweep(_SWEEP.value)
    runs = sweeps.select(sweep, _ONLY.value)
    common = parse_settings(_SET.value)
    preset = _PRESET.value or sweep.preset
    presets.get_config(preset).replace(**common)  # a bad preset, flag name or value: refused before any run
  except ConfigError as error:
    raise SystemExit(f"ConfigError: {error}") from error
  default_root = _SWEEP.value + ("" if preset == sweep.preset else f"_{preset}")
  root = _ROOT.value or os.path.join("runs", "sweeps", default_root)
  if not _SUMMARIZE.value:
    commands = [
      (run.label, sweeps.train_command(preset, run, os.path.join(root, run.label), common, sweep.recipe))
      for run in runs
      if not is_finished(os.path.join(root, run.label))
    ]
    if _DRY_RUN.value:
      for _, command in commands:
        print(" ".join(["python", *command[1:]]))
      return
    os.makedirs(root, exist_ok=True)
    pinned = _JOBS.value > 1 and not _ACCELERATOR.value
    cores = [int(core) for core in _CORES.value] or (list(range(_JOBS.value)) if pinned else [])
    run_all(commands, root, _JOBS.value, cores)
  write_summary(root, runs, [int(m) for m in _TEST_TIME.value], _TEST_DATA.value)


if __name__ == "__main__":
  app.run(main)
