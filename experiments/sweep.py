r"""Runs a sweep (a named list of flag sets) and tables it: a study's (`experiments/studies/`)
or one of the paper's figures at a scale (`experiments/paper`: ``--sweep=fig2 --scale=cpu``).

Each run trains with ``experiments.train`` in ``<root>/<label>``: a rerun resumes unfinished runs
and skips finished ones, and those that diverged or ran out of memory (recorded as such, not retried).
A run whose checkpoint cannot be read is named, its directory moved aside and the run started again.
A run that needs another (a shared mapper) starts once that one has finished. With ``--jobs=N`` up to N runs train side by side, each on one XLA
thread pinned to its own core by ``taskset`` (on a small CPU machine this is faster than one run
on all cores); with ``--accelerator`` they share one GPU instead. After the runs, and with ``--summarize``, it writes ``summary.json``,
``summary.md`` (the table) and ``curves.png`` (validation %Success, forward residual, spectral
radius and gradient error per epoch) in the root; a figure's sweep also draws ``<figure>.png`` and adds
its tables. ``--dry_run`` prints the commands and a rough time for each (`estimate`). ``--reuse``
names other sweep roots: a run already trained there with the same settings (a figure's run that
another figure or study trained) is copied in, with ``reused_from.txt`` naming its source.
``--set`` and ``--seeds`` override the scale's flags, a larger map's fewer maps and epochs included,
but not what a run is (its planner, K, a study's lever): a notice names each run that keeps its own.

  python -m experiments.sweep --sweep=fig2 --scale=cpu --cores=0,1
  python -m experiments.sweep --sweep=table1 --scale=paper --seeds=5 --dry_run
  python -m experiments.sweep --sweep=fig10 --scale=cpu --cores=1    # measured, one thread on core 1
  python -m experiments.sweep --sweep=implicit_levers --jobs=2 --set=seeds=3,diagnose_every=5
  python -m experiments.sweep --sweep=implicit_levers --only=vin,contraction_0.9 --dry_run
  python -m experiments.sweep --sweep=implicit_levers --summarize --test_time=1,2,4 \
    --test_data=data/maze2d_15x15_perfect_seed7.npz
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
from absl import app, flags

from experiments import cpu, paper, studies
from experiments.training import ConfigError, estimate, presets, recipes, sweeps
from experiments.training import config as config_lib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

_SWEEP = flags.DEFINE_enum(
  "sweep",
  None,
  [*studies.SWEEPS, *paper.FIGURES, *paper.MEASUREMENTS],
  "Sweep to run: a study's, or a figure of the paper's.",
  required=True,
)
_SCALE = flags.DEFINE_enum("scale", None, list(paper.SCALES), "A figure's scale (default cpu); studies have presets.")
_SEEDS = flags.DEFINE_integer("seeds", None, "Seeds of every run (default: the scale's or the preset's).")
_PRESET = flags.DEFINE_string("preset", None, "Preset of every run (default: the sweep's or the scale's).")
_RECIPE = flags.DEFINE_enum(
  "recipe", None, list(recipes.RECIPES), "Recipe of every run (default: the sweep's); each run's flags still win."
)
_ROOT = flags.DEFINE_string(
  "root",
  None,
  "Directory of the runs; default runs/sweeps/<sweep>[_<preset>][_<recipe>] (a figure: <figure>_<scale>).",
)
_STEP_TIMES = flags.DEFINE_string(
  "step_times", estimate.STEP_TIMES, "--dry_run: the step benchmark record (JSON) the estimates scale."
)
_MEASURED_RUNS = flags.DEFINE_string(
  "measured_runs",
  estimate.MEASURED_RUNS,
  "--dry_run: recorded CPU runs whose measured times estimate runs of the same cost ('' for none: a GPU's --step_times).",
)
_ONLY = flags.DEFINE_list("only", [], "Labels of the runs to do (default: all).")
_SET = flags.DEFINE_list(
  "set",
  [],
  "Training flags for every run, name=value (e.g. seeds=3,epochs=30): over the scale's (a larger map's fewer "
  "epochs too), under what a run sets itself (a notice names each run that keeps its own).",
)
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
_REUSE = flags.DEFINE_list(
  "reuse",
  [],
  "Sweep roots to take finished runs from: a run whose settings a finished run there already has "
  "(every field that changes what is learned) is copied into this root instead of trained again.",
)
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


CORRUPT = "CorruptCheckpointError"


def corrupt_checkpoint(root: str, label: str) -> str | None:
  """The checkpoint a failed run's log names as unreadable, when it is the run's own (not a shared
  mapper's: that run is the one to redo)."""
  with open(os.path.join(root, f"{label}.log"), errors="replace") as f:
    found = re.search(rf"{CORRUPT}: (\S+) cannot be restored", f.read())
  workdir = os.path.abspath(os.path.join(root, label))
  return found.group(1) if found and os.path.abspath(found.group(1)).startswith(workdir + os.sep) else None


def set_aside(workdir: str) -> str:
  """Moves ``workdir`` to the first free ``<workdir>.corrupt<N>`` (kept for a look, never overwritten)."""
  n = 0
  while os.path.exists(f"{workdir}.corrupt{n}"):
    n += 1
  os.rename(workdir, f"{workdir}.corrupt{n}")
  return f"{workdir}.corrupt{n}"


def run_all(
  commands: list[tuple[str, list[str]]],
  root: str,
  jobs: int = 1,
  cores: Sequence[int] = (),
  after: Mapping[str, Sequence[str]] | None = None,
) -> None:
  """Runs the commands, logging to ``<root>/<label>.log``: with ``cores`` one per core at a time,
  each on one thread; otherwise ``jobs`` at a time on XLA's default threads, sharing the device's
  memory when ``jobs > 1``. A run starts once the runs ``after`` names for it have finished; one
  whose needed run failed is not started. A run that failed on its own unreadable checkpoint is set
  aside (`set_aside`) and started again, once."""
  by_label, after = dict(commands), after or {}
  pending, active, restarted, done, start = [label for label, _ in commands], {}, set(), 0, time.time()
  free_slots: list[int | None] = list(cores) or [None] * jobs
  shared_env = dict(os.environ, **({"XLA_PYTHON_CLIENT_PREALLOCATE": "false"} if jobs > 1 else {}))

  def report(label: str, status: str) -> None:
    nonlocal done
    done += 1
    elapsed = time.time() - start
    eta = elapsed / done * (len(pending) + len(active))
    print(
      f"[{done}/{len(commands)}] {label} {status}; {elapsed / 60:.1f} min elapsed, ETA {eta / 60:.1f} min", flush=True
    )

  while pending or active:
    for label in list(pending):  # a run whose needed run stopped unfinished waits for nothing
      needs = after.get(label, ())
      if any(n not in pending and n not in active and sweeps.run_status(root, n) != "finished" for n in needs):
        pending.remove(label)
        report(label, f"not started: {', '.join(needs)} did not finish")
    ready = [label for label in pending if all(sweeps.run_status(root, n) == "finished" for n in after.get(label, ()))]
    while ready and free_slots:
      label = ready.pop(0)
      pending.remove(label)
      core = free_slots.pop(0)
      command = by_label[label]
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
      corrupt = corrupt_checkpoint(root, label) if process.returncode != 0 and label not in restarted else None
      if corrupt:
        restarted.add(label)
        moved = set_aside(os.path.join(root, label))
        print(f"{label}: checkpoint {corrupt} cannot be read; the run moved to {moved}, starting it again", flush=True)
        pending.insert(0, label)
        continue
      report(label, "done" if process.returncode == 0 else f"FAILED (exit {process.returncode}, see {label}.log)")


PLANNER_PANELS = (
  ("val_success_curve", "val %Success", "linear"),
  ("fwd_residual_curve", "forward residual (mean)", "log"),
  ("jacobian_radius_curve", "spectral radius of ∂f/∂v", "linear"),
  ("grad_error_curve", "implicit gradient error (vs converged)", "log"),
)
"""`plot_curves`' panels for planners: the last two on the epochs with diagnostics."""
MAPPER_PANELS = (
  ("val_map_accuracy_curve", "mapper alone: val map %accuracy", "linear"),
  ("loss_curve", "mapper alone: training loss (epoch mean)", "log"),
)


def plot_curves(rows: list[dict], path: str, panels: Sequence[tuple[str, str, str]] = PLANNER_PANELS) -> None:
  """Each panel's curve (key, title, y scale) against epoch, one line per run, in the same colour in
  every panel; a panel no run has a point for (diagnostics that were not logged) is left out."""

  def points(row: dict, key: str) -> list[tuple[int, float]]:
    return [(epoch + 1, y) for epoch, y in enumerate(row.get(key, [])) if y is not None]

  panels = [panel for panel in panels if any(points(row, panel[0]) for row in rows)] or list(panels[:1])
  colours = plt.get_cmap("tab10" if len(rows) <= 10 else "tab20")
  fig, axes = plt.subplots(1, len(panels), figsize=(5.25 * len(panels), 4.5), squeeze=False)
  for ax, (key, title, scale) in zip(axes[0], panels):
    for i, row in enumerate(rows):
      if curve := points(row, key):
        ax.plot(*zip(*curve), marker=".", label=row["label"], color=colours(i % colours.N))
    ax.set(xlabel="epoch", title=title, yscale=scale)
  axes[0, 0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def write_summary(
  root: str,
  runs: Sequence[sweeps.Run],
  multiples: Sequence[int] = (),
  datasets: Sequence[str] = (),
  figure: tuple[paper.Figure, paper.Scale] | None = None,
) -> None:
  """The summary files; with ``multiples``, each run that has a checkpoint is also evaluated with
  more planning steps (`sweeps.test_time_compute`) and a second table added; with ``figure`` (a
  figure and its scale), its evaluations, its tables first and its PNG."""
  rows = sweeps.summarize(root, runs)
  if multiples:
    for row in rows:
      if row["status"] != "unfinished" and "val_success_curve" in row:  # a run with checkpoints
        row["test_time"] = sweeps.test_time_compute(row["workdir"], multiples, datasets)
  tables = sweeps.markdown_table(rows) if rows else ""
  if figure:
    fig, scale = figure
    if fig.evaluate:
      for row in rows:
        if row["status"] == "finished":
          fig.evaluate(row, scale)
    tables = f"{fig.name}, scale {scale.name} ({scale.note}). The paper: {fig.claim}.\n\n{fig.tables(rows)}\nAll runs\n\n{tables}"
    fig.draw(rows, scale, os.path.join(root, f"{fig.name}.png"))
  evaluated = [row for row in rows if "test_time" in row]
  if evaluated:
    tables += "\nTest %Success with more planning steps than in training (K: the training budget)\n\n"
    tables += sweeps.test_time_table(evaluated)
  mapped = sweeps.phase_rows(root, runs)
  if mapped:
    tables += "\nRuns with a mapper, by phase (test split; the mapper's scores are per cell)\n\n"
    tables += sweeps.phase_table(mapped)
    mappers = [{"label": row["label"], **row["phases"]["mapper"]} for row in mapped if "mapper" in row["phases"]]
    if mappers:
      plot_curves(mappers, os.path.join(root, "mapper_curves.png"), MAPPER_PANELS)
  with open(os.path.join(root, "summary.json"), "w") as f:
    json.dump(rows + mapped, f, indent=1)
  with open(os.path.join(root, "summary.md"), "w") as f:
    f.write(tables)
  if any("val_success_curve" in row for row in rows):
    plot_curves([row for row in rows if "val_success_curve" in row], os.path.join(root, "curves.png"))
  print(tables)


def resolve(
  name: str, scale_name: str | None, preset_flag: str | None, recipe_flag: str | None = None
) -> tuple[sweeps.Sweep, str, str, tuple[paper.Figure, paper.Scale] | None]:
  """The sweep (under ``recipe_flag`` when given), its preset, the default root's name and, for a
  figure, the figure and its scale.

  Raises:
    ConfigError: a scale given to a study's sweep.
  """
  figure = None
  if name in paper.FIGURES:
    scale = paper.get_scale(scale_name or "cpu")
    figure = (paper.FIGURES[name], scale)
    sweep, root = figure[0].sweep(scale), f"{name}_{scale.name}"
  elif scale_name:
    raise ConfigError(
      f"--scale is for the paper's figures ({', '.join(paper.FIGURES)}); {name} has a preset (--preset)"
    )
  else:
    sweep, root = studies.get_sweep(name), name
  preset = preset_flag or sweep.preset
  root += "" if preset == sweep.preset else f"_{preset}"
  if recipe_flag and recipe_flag != sweep.recipe:
    sweep, root = dataclasses.replace(sweep, recipe=recipe_flag), f"{root}_{recipe_flag}"
  return sweep, preset, root, figure


def measure(
  name: str, scale_name: str | None, root: str | None, cores: Sequence[int] = (), dry_run: bool = False
) -> None:
  """A measured figure (`paper.MEASUREMENTS`): its JSON and PNG in the root; with one of ``cores``, measured
  on one XLA thread pinned to that core (as the benchmark's ``--single_thread``)."""
  module, scale = paper.MEASUREMENTS[name], paper.get_scale(scale_name or "cpu")
  root = root or os.path.join("runs", "sweeps", f"{name}_{scale.name}")
  if len(cores) > 1:
    raise app.UsageError(f"--sweep={name} is measured in one process: give at most one core, not --cores={cores}")
  if dry_run:
    print(f"{name} at scale {scale.name}, into {root}: " + " ".join(module.__doc__.split("\n\n")[0].split()))
    return
  if cores:
    cpu.pin_to_core(cores[0])  # before JAX starts its CPU backend (the measurement's first jax call)
  os.makedirs(root, exist_ok=True)
  module.measure(scale, root)
  print(f"{name} ({module.CLAIM}): {root}/{name}.json, {root}/{name}.png")


def common_flags(sweep: sweeps.Sweep, figure: tuple[paper.Figure, paper.Scale] | None) -> dict[str, Any]:
  """The flags under every run's: the sweep's fixed ones, then the figure's scale's (``figure``: as
  `resolve` returns it)."""
  return {**sweep.flags, **(figure[1].common if figure else {})}


def user_settings(items: Sequence[str], seeds: int | None = None) -> dict[str, Any]:
  """The user's ``--set`` items, then ``--seeds``: over the common flags and a run's defaults,
  under the run's own flags (`sweeps.run_flags`)."""
  settings = parse_settings(items)
  return settings if seeds is None else {**settings, "seeds": seeds}


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _SWEEP.value in paper.MEASUREMENTS:
    return measure(_SWEEP.value, _SCALE.value, _ROOT.value, [int(core) for core in _CORES.value], _DRY_RUN.value)
  try:
    sweep, preset, default_root, figure = resolve(_SWEEP.value, _SCALE.value, _PRESET.value, _RECIPE.value)
    runs = sweeps.select(sweep, _ONLY.value)
    common = common_flags(sweep, figure)
    settings = user_settings(_SET.value, _SEEDS.value)
    base = presets.get_config(preset)
    root = _ROOT.value or os.path.join("runs", "sweeps", default_root)
    # Every run's config, built as experiments.train will: a bad preset, flag name or value is refused before any run.
    configs = {
      run.label: recipes.configure(base, sweep.recipe, sweeps.run_flags(run, common, root, settings)) for run in runs
    }
    # A finished run is skipped, so its settings are checked here; a resumed one is checked by train.
    stale = {
      label: sweeps.stale_settings(config, os.path.join(root, label))
      for label, config in configs.items()
      if sweeps.run_status(root, label) != "unfinished"
    }
    if any(stale.values()):
      raise ConfigError(
        "finished runs in the root were trained with other settings than the sweep's now; move them aside or use another "
        "--root: " + "; ".join(f"{label} ({', '.join(found)})" for label, found in stale.items() if found)
      )
  except ConfigError as error:
    raise SystemExit(f"ConfigError: {error}") from error
  if not _SUMMARIZE.value:
    todo = [run for run in runs if sweeps.run_status(root, run.label) == "unfinished"]
    not_started = [run for run in todo if not os.path.exists(os.path.join(root, run.label))]
    found = {run.label: sweeps.find_trained(configs[run.label], _REUSE.value) for run in not_started}
    reusable = {label: source for label, source in found.items() if source}
    for label, source in reusable.items():
      print(f"[reuse {source}] {label}" if _DRY_RUN.value else f"reusing {source} as {label}", flush=True)
      if not _DRY_RUN.value:
        os.makedirs(root, exist_ok=True)
        sweeps.adopt(source, os.path.join(root, label))
    todo = [run for run in todo if run.label not in reusable]
    commands = [
      (run.label, sweeps.train_command(preset, run, os.path.join(root, run.label), common, sweep.recipe, settings))
      for run in todo
    ]
    for run in todo:
      if overruled := sweeps.overruled_settings(run, settings):
        kept = ", ".join(f"{name}={value}" for name, value in overruled.items())
        print(f"{run.label} keeps its own {kept} over --set/--seeds (what the run is)", flush=True)
    if _DRY_RUN.value:
      times = estimate.load_step_times(_STEP_TIMES.value)
      measured = estimate.load_measured_runs(_MEASURED_RUNS.value) if _MEASURED_RUNS.value else {}
      lines = estimate.describe([configs[run.label] for run in todo], times, measured)
      for (_, command), line in zip(commands, lines):
        print(f"[{line}] " + " ".join(["python", *command[1:]]))
      seconds = [estimate.estimate_seconds(configs[run.label], times, measured)[0] for run in todo]
      unknown = seconds.count(None)
      print(
        f"{len(todo)} runs to do ({len(runs) - len(todo)} done, stopped or reused), "
        f"~{sum(s for s in seconds if s is not None) / 3600:.1f} h{f' for all but {unknown} of them' if unknown else ''} "
        f"on one core of the machine of {_STEP_TIMES.value} or of the recorded runs (a rough estimate: "
        "`experiments.training.estimate`)"
      )
      return
    os.makedirs(root, exist_ok=True)
    pinned = _JOBS.value > 1 and not _ACCELERATOR.value
    cores = [int(core) for core in _CORES.value] or (list(range(_JOBS.value)) if pinned else [])
    run_all(commands, root, _JOBS.value, cores, after={run.label: run.after for run in todo if run.after})
  write_summary(root, runs, [int(m) for m in _TEST_TIME.value], _TEST_DATA.value, figure)


if __name__ == "__main__":
  app.run(main)
