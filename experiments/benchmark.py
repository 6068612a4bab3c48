r"""Speed, memory and gradient accuracy of the planners: `python -m experiments.benchmark --suite=...`.

Suites (``--suite``, each a module of `experiments.benchmarks` with a ``run`` function), each
printing a table and writing JSON and PNG under ``--out_dir``:

  * ``scaling`` (default): forward/backward time and memory against K and map size.
  * ``step``: one training step beside the authors' PyTorch numbers.
  * ``conv``: the convolution formulations.
  * ``grad_accuracy``: implicit gradients against a converged float64 backward solve.
  * ``seeds``: the training step with 1, 3 and 5 seeds in one program, beside N × one seed.
  * ``mapper``: a task's mapper's step (``--mapper_task``: workspace, or visual with the rendering
    of the views), and each planner's step with and without the mapper in front.

Times are reported as wall clock and as this process's CPU time; on a shared machine the CPU time
is the steadier of the two. Wall times on the 2-core development machine:

  python -m experiments.benchmark --preset=quick --single_thread        # minutes on one core
  python -m experiments.benchmark --preset=full --single_thread         # hours (ConvGPPN at 49×49)
  python -m experiments.benchmark --suite=step --single_thread          # 10-20 min
  python -m experiments.benchmark --suite=conv --single_thread          # ~3 min
  python -m experiments.benchmark --suite=grad_accuracy --single_thread # ~10 min
  python -m experiments.benchmark --suite=seeds --single_thread         # ~1 h (ConvGPPN, 5 seeds)
  python -m experiments.benchmark --suite=mapper --single_thread        # ~10 min
  python -m experiments.benchmark --suite=mapper --mapper_task=visual --single_thread
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from collections.abc import Sequence
from typing import Any

import jax
import matplotlib
from absl import app, flags

from experiments import cpu, huge_pages
from experiments.benchmarks import conv, grad_accuracy, mapper, scaling, seeds, step
from experiments.benchmarks.problems import Settings
from implicit_planning import ops

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

SUITES = {
  "scaling": scaling,
  "step": step,
  "conv": conv,
  "grad_accuracy": grad_accuracy,
  "seeds": seeds,
  "mapper": mapper,
}

_SUITE = flags.DEFINE_enum("suite", "scaling", list(SUITES), "What to measure.")
_PRESET = flags.DEFINE_enum("preset", "quick", ["quick", "full"], "scaling: grid of sizes, K and repeats.")
_PLANNERS = flags.DEFINE_list("planners", [], "Planners to measure (default: every one the suite applies to).")
_SIZES = flags.DEFINE_list("sizes", [], "scaling: map sides (overrides the preset).")
_KS = flags.DEFINE_list("ks", [], "scaling and step: K values (overrides the default).")
_REPEATS = flags.DEFINE_integer("repeats", 0, "Timed runs per configuration (0: the preset's).")
_BATCH = flags.DEFINE_integer("batch", 32, "Maps per batch.")
_L_Q = flags.DEFINE_integer("l_q", 40, "Q channels (VIN) or regular Q fields (SymVIN) in the scaling suite.")
_L_H = flags.DEFINE_integer("l_h", 150, "Encoder hidden channels and ConvGRU/ConvLSTM state channels.")
_K_BWD = flags.DEFINE_integer("k_bwd", 15, "Backward iterations of the implicit planners.")
_CONTRACTION = flags.DEFINE_float("contraction", 0.9, "scaling: γ of the VIN rows measured with a contraction.")
_CONV_IMPL = flags.DEFINE_enum("conv_impl", "auto", list(ops.CONV_IMPLS), "Convolution formulation.")
_SINGLE_THREAD = flags.DEFINE_bool("single_thread", False, "One XLA thread, process pinned to --core.")
_CORE = flags.DEFINE_integer("core", 0, "CPU the process is pinned to with --single_thread.")
_MAX_TEMP_GIB = flags.DEFINE_float("max_temp_gib", 8.0, "scaling: do not run configurations needing more temp memory.")
_TRAIN_STEPS = flags.DEFINE_integer("train_steps", 60, "grad_accuracy: training steps before the second check.")
_REFERENCE_K_BWD = flags.DEFINE_integer("reference_k_bwd", 500, "grad_accuracy: reference backward budget.")
_GRAD_BATCH = flags.DEFINE_integer("grad_batch", 8, "grad_accuracy: maps in the checked batch.")
_SEED_COUNTS = flags.DEFINE_list("seed_counts", ["1", "3", "5"], "seeds: seed counts (the first should be 1).")
_SEED_BATCHES = flags.DEFINE_list("seed_batches", ["0", "1"], "seeds: seed_batch values (0: all vectorised).")
_MAPPER_WIDTH = flags.DEFINE_integer("mapper_width", 8, "mapper: the mapper's size (as the training flag).")
_MAPPER_TASK = flags.DEFINE_enum("mapper_task", "workspace", list(mapper.TASKS), "mapper: the task and its mapper.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the mazes and the initial weights.")
_OUT_DIR = flags.DEFINE_string("out_dir", "results/benchmarks", "Where JSON and PNG files are written.")


@dataclasses.dataclass(frozen=True)
class ScalingPreset:
  """Grid of the scaling suite. ``quick``: minutes on one CPU core; ``full``: the paper's grid."""

  sizes: tuple[int, ...]
  ks: tuple[int, ...]
  repeats: int


PRESETS = {
  "quick": ScalingPreset(sizes=(15,), ks=(10, 30), repeats=3),
  "full": ScalingPreset(sizes=(15, 27, 49), ks=(10, 30, 50, 80, 200), repeats=5),
}


def run_suite(suite: str, settings: Settings, preset: ScalingPreset) -> list[dict[str, Any]]:
  """Calls the suite's ``run`` with the flags that apply to it."""
  planners = _PLANNERS.value or None
  ks = tuple(map(int, _KS.value))
  if suite == "scaling":
    return scaling.run(
      settings, planners or scaling.PLANNERS, preset.sizes, preset.ks, _CONTRACTION.value, _MAX_TEMP_GIB.value
    )
  if suite == "step":
    return step.run(settings, planners, ks or step.KS)
  if suite == "conv":
    return conv.run(settings)
  if suite == "mapper":
    return mapper.run(settings, planners, (ks or (30,))[0], _MAPPER_WIDTH.value, _MAPPER_TASK.value)
  if suite == "seeds":
    counts, batches = tuple(map(int, _SEED_COUNTS.value)), tuple(map(int, _SEED_BATCHES.value))
    return seeds.run(settings, planners or seeds.PLANNERS, counts, batches, (ks or (30,))[0])
  return grad_accuracy.run(settings, planners, _TRAIN_STEPS.value, _REFERENCE_K_BWD.value, _GRAD_BATCH.value)


def plot_bars(labels: list[str], values: list[float], ylabel: str, path: str, log: bool) -> None:
  fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(labels)), 4))
  ax.bar(range(len(values)), values)
  ax.set_xticks(range(len(values)), labels, rotation=60, ha="right", fontsize=8)
  ax.set(ylabel=ylabel, yscale="log" if log else "linear")
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def plot(suite: str, rows: list[dict[str, Any]], base: str) -> None:
  """The suite's PNG next to its JSON."""
  if suite == "scaling":
    scaling.plot(rows, base + ".png")
  elif suite == "step":
    rows = [r for r in rows if r["reference_s"] is not None]
    plot_bars(
      [f"{r['planner']} {r.get('l_q', r.get('l_h'))} K{r['K']}" for r in rows],
      [r["reference_s"] / r["wall_s"] for r in rows],
      "speed-up over reference (×)",
      base + ".png",
      log=True,
    )
  elif suite == "seeds":
    rows = [r for r in rows if "ratio" in r]
    plot_bars(
      [f"{r['planner']} ×{r['seeds']}" for r in rows],
      [r["ratio"] for r in rows],
      "N-seed step / (N × one-seed step)",
      base + ".png",
      log=False,
    )
  elif suite == "mapper":
    plot_bars([r["model"] for r in rows], [r["wall_s"] for r in rows], "training step, s", base + ".png", log=True)
  elif suite == "conv":
    plot_bars(
      [f"{r['impl']} {r['c_in']}→{r['c_out']}" for r in rows],
      [r["forward_backward_wall_ms"] for r in rows],
      "forward + backward ms per call",
      base + ".png",
      log=True,
    )
  else:
    plot_bars(
      [f"{r['planner']} {r['backward_solver']} {r['train_steps']} steps" for r in rows],
      [r["relative_error"] for r in rows],
      f"relative gradient error at K_bwd={_K_BWD.value}",
      base + ".png",
      log=True,
    )


def environment() -> dict[str, Any]:
  """Where and how a record was measured."""
  return {
    "jax": jax.__version__,
    "backend": jax.default_backend(),
    "device": jax.devices()[0].device_kind,
    "machine": platform.processor() or platform.machine(),
    "xla_flags": os.environ.get("XLA_FLAGS", ""),
    "affinity": sorted(os.sched_getaffinity(0)),
    "conv_impl": _CONV_IMPL.value,
    "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
  }


def main(argv: Sequence[str]) -> None:
  del argv
  huge_pages.reexec_with_huge_pages()
  if _SINGLE_THREAD.value:
    cpu.pin_to_core(_CORE.value)  # before JAX starts its CPU backend (the first jax call below)
  preset = PRESETS[_PRESET.value]
  preset = ScalingPreset(
    sizes=tuple(map(int, _SIZES.value)) or preset.sizes,
    ks=tuple(map(int, _KS.value)) or preset.ks,
    repeats=_REPEATS.value or preset.repeats,
  )
  settings = Settings(
    batch=_BATCH.value,
    k_bwd=_K_BWD.value,
    l_q=_L_Q.value,
    l_h=_L_H.value,
    conv_impl=_CONV_IMPL.value,
    repeats=preset.repeats,
    seed=_SEED.value,
  )
  os.makedirs(_OUT_DIR.value, exist_ok=True)
  suite = _SUITE.value
  print(SUITES[suite].HEADER)
  start = time.perf_counter()
  rows = run_suite(suite, settings, preset)
  record = {
    "suite": suite,
    "settings": dataclasses.asdict(settings),
    "preset": dataclasses.asdict(preset),
    "environment": environment(),
    "seconds": time.perf_counter() - start,
    "rows": rows,
  }
  if suite == "step":
    record["reference_source"] = step.REFERENCE_SOURCE
  name = f"mapper_{_MAPPER_TASK.value}" if suite == "mapper" and _MAPPER_TASK.value != "workspace" else suite
  base = os.path.join(_OUT_DIR.value, name)
  with open(base + ".json", "w") as f:
    json.dump(record, f, indent=1)
  if rows:
    plot(suite, rows, base)
  print(f"wrote {base}.json ({record['seconds']:.0f} s)")


if __name__ == "__main__":
  app.run(main)
