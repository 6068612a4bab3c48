r"""Speed, memory and gradient accuracy of the planners (the paper's Figures 2, 4 and 6).

Suites (``--suite``), each printing a table and writing JSON and PNG under ``--out_dir``:

  * ``scaling`` (default): for each planner, map size and ``K`` (layers of an
    explicit planner, forward iterations of an implicit one; ``K_bwd`` fixed),
    batch 32: forward time (jitted ``apply``), backward time (jitted
    ``value_and_grad`` of a cross-entropy minus the forward time, both medians
    after a warm-up call) and XLA's compiled temporary memory of both
    (``memory_analysis().temp_size_in_bytes``). VIN and ID-VIN are measured
    with the ``contraction`` option off and on. Solves run their full budget
    (tolerances 0; VIN and SymVIN value kernels random, see `timing_params`,
    and the iterations actually run are reported). Configurations whose backward pass would need more than
    ``--max_temp_gib`` are compiled (memory reported) but not run.
  * ``step``: one training step exactly as in ``/work/shared/REFERENCE.md``
    (value_and_grad of the cross-entropy, ``clip_by_global_norm(40)`` +
    ``rmsprop(1e-3, eps=1e-6)``, batch 32, 15×15, ``K_bwd = 15`` Anderson) for
    ``K = 30`` and 80, beside the authors' PyTorch numbers (`REFERENCE_STEP_S`).
  * ``conv``: each `implicit_planning.grid_conv.conv2d` formulation (``xla``,
    ``im2col``, ``hybrid``, ``winograd``), forward and forward + backward per call inside a
    ``scan``, batch 32 of 15×15, at the planners' channel counts: the table
    in `grid_conv`'s docstring.
  * ``grad_accuracy``: each implicit planner's gradient with plain iteration
    and Anderson at ``K_bwd`` against a tightly converged float64 reference
    (`implicit_planning.grad_check.implicit_gradient_error`), on freshly
    initialised weights and after ``--train_steps`` training steps on mazes.

Times are reported as wall clock and as this process's CPU time; on a
shared machine the CPU time is the steadier of the two. SymVIN rows are
skipped, with a note, while ``make_planner("symvin")`` is not available.

  python -m experiments.benchmark --preset=quick --single_thread      # 4 min on one core
  python -m experiments.benchmark --preset=full --single_thread       # hours (ConvGPPN at 49×49)
  python -m experiments.benchmark --suite=step --single_thread        # 5 min
  python -m experiments.benchmark --suite=conv --single_thread          # ~3 min
  python -m experiments.benchmark --suite=grad_accuracy --single_thread  # ~8 min
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
from absl import app, flags

import implicit_planning as ip
from data_gen import make
from implicit_planning import grid_conv
from implicit_planning.grad_check import implicit_gradient_error
from experiments import huge_pages
from experiments.timing import measure

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

_SUITE = flags.DEFINE_enum("suite", "scaling", ["scaling", "step", "conv", "grad_accuracy"], "What to measure.")
_PRESET = flags.DEFINE_enum("preset", "quick", ["quick", "full"], "Grid of sizes, K and repeats (see PRESETS).")
_PLANNERS = flags.DEFINE_list("planners", [], "Planners to measure (default: every one the suite applies to).")
_SIZES = flags.DEFINE_list("sizes", [], "Map sides (overrides the preset).")
_KS = flags.DEFINE_list("ks", [], "K values (overrides the preset).")
_REPEATS = flags.DEFINE_integer("repeats", 0, "Timed runs per configuration (0: the preset's).")
_BATCH = flags.DEFINE_integer("batch", 32, "Maps per batch.")
_L_Q = flags.DEFINE_integer("l_q", 40, "Q channels (VIN) or regular Q fields (SymVIN) in the scaling suite.")
_L_H = flags.DEFINE_integer("l_h", 150, "Encoder hidden channels and ConvGRU state channels.")
_K_BWD = flags.DEFINE_integer("k_bwd", 15, "Backward iterations of the implicit planners.")
_CONTRACTION = flags.DEFINE_float("contraction", 0.9, "γ of the VIN rows measured with the contraction option.")
_CONV_IMPL = flags.DEFINE_enum("conv_impl", "auto", list(grid_conv.CONV_IMPLS), "Convolution formulation.")
_SINGLE_THREAD = flags.DEFINE_bool("single_thread", False, "One XLA thread, process pinned to --core.")
_CORE = flags.DEFINE_integer("core", 0, "CPU the process is pinned to with --single_thread.")
_MAX_TEMP_GIB = flags.DEFINE_float("max_temp_gib", 8.0, "Do not run configurations needing more temp memory.")
_TRAIN_STEPS = flags.DEFINE_integer("train_steps", 60, "grad_accuracy: training steps before the second check.")
_REFERENCE_K_BWD = flags.DEFINE_integer("reference_k_bwd", 500, "grad_accuracy: reference backward budget.")
_GRAD_BATCH = flags.DEFINE_integer("grad_batch", 8, "grad_accuracy: maps in the checked batch.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the mazes and the initial weights.")
_OUT_DIR = flags.DEFINE_string("out_dir", "results/benchmarks", "Where JSON and PNG files are written.")

SINGLE_THREAD_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


@dataclasses.dataclass(frozen=True)
class Preset:
  """Grid of one preset. ``quick``: minutes on one CPU core; ``full``: the paper's grid (hours on CPU)."""

  sizes: tuple[int, ...]
  ks: tuple[int, ...]
  repeats: int


PRESETS = {
    "quick": Preset(sizes=(15,), ks=(10, 30), repeats=3),
    "full": Preset(sizes=(15, 27, 49), ks=(10, 30, 50, 80, 200), repeats=5),
}

SCALING_PLANNERS = ("vin", "id_vin", "symvin", "id_symvin", "conv_gppn", "id_conv_gppn")

REFERENCE_SOURCE = (
    "/work/shared/REFERENCE.md: the authors' public PyTorch code (zhao0625/DiffPlan) on one core "
    "of the same Xeon, torch CPU, one thread; one training step (forward + backward + clip 40 + "
    "RMSprop), batch 32, 15x15, K_bwd = 15"
)
# (planner, size option, value) -> seconds per step at K = 30 and K = 80.
REFERENCE_STEP_S: dict[tuple[str, str, int], tuple[float, float]] = {
    ("id_vin", "l_q", 40): (0.054, 0.083),
    ("vin", "l_q", 40): (0.073, 0.235),
    ("id_vin", "l_q", 100): (0.102, 0.165),
    ("vin", "l_q", 100): (0.142, 0.407),
    ("id_symvin", "l_q", 40): (0.463, 1.288),
    ("symvin", "l_q", 40): (0.682, 1.929),
    ("id_conv_gppn", "l_h", 150): (3.720, 6.747),
    ("conv_gppn", "l_h", 150): (5.921, 15.616),
}
STEP_KS = (30, 80)


# ---------------------------------------------------------------------------
# Problems, losses and timers.


def mazes(size: int, batch: int, seed: int):
  """``(maps, goals, labels)``: GPPN-style mazes and one optimal action per cell (0 where none)."""

  split = make.make_split(
      np.random.default_rng(seed), "maze2d", size, batch, make.generator_options("maze2d"), set()
  )
  labels = np.argmax(split.opt_actions, axis=1).astype(np.int32)
  return jnp.asarray(split.maps), jnp.asarray(split.goals, jnp.int32), jnp.asarray(labels)


def cross_entropy(logits, labels):
  """Mean over every cell of ``−log p(label)`` (the authors' loss covers walls too)."""

  log_p = jax.nn.log_softmax(logits, axis=1)
  return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))


def temp_bytes(compiled) -> int:
  return int(compiled.memory_analysis().temp_size_in_bytes)


def unavailable(name: str) -> str | None:
  """Why ``make_planner(name)`` cannot be built and run yet (SymVIN while in progress), or ``None``."""
  try:
    planner = ip.make_planner(name, l_h=2, l_q=2, k=1, k_fwd=1, k_bwd=1)
    maps, goals = jnp.ones((1, 5, 5)), jnp.zeros((1, 2), jnp.int32)
    jax.eval_shape(planner.apply, jax.eval_shape(planner.init, jax.random.key(0), maps, goals), maps, goals)
  except Exception as error:  # pylint: disable=broad-except
    return f"{name} is not available yet ({type(error).__name__}: {error})"
  return None


def build(name: str, k: int, **options: Any):
  """``make_planner`` with ``K`` as the explicit depth or the implicit forward budget, run in full
  (tolerances 0), and this benchmark's ``K_bwd`` and convolution formulation."""
  return ip.make_planner(name, k=k, k_fwd=k, k_bwd=_K_BWD.value, forward_tol=0.0, backward_tol=0.0,
                         conv_impl=_CONV_IMPL.value, **options)


def timing_params(params: Any, seed: int) -> Any:
  """``params`` with a random, non-expansive value kernel in a VIN or SymVIN cell.

  The unconstrained cells start with a zero value kernel, with which the
  forward solve reaches its fixed point exactly at the second step; timed
  that way an implicit planner would look independent of ``K``. A random
  value kernel with ℓ1 norm 1 per output channel runs the solve to its budget
  without overflowing (the tables report the iterations actually run).
  """
  cell = dict(params["params"]["cell"])
  name, reward_channels = ("kernel", 1) if "kernel" in cell else ("value_kernel", 0)
  if name not in cell:
    return params
  kernel = cell[name]
  value = jax.random.normal(jax.random.key(seed), kernel[:, :, reward_channels:].shape, kernel.dtype)
  value = value / jnp.sum(jnp.abs(value), axis=(0, 1, 2), keepdims=True)
  cell[name] = jnp.concatenate([kernel[:, :, :reward_channels], value], axis=2)
  return {**params, "params": {**params["params"], "cell": cell}}


def iterations(planner, params, maps, goals, labels) -> tuple[float, float]:
  """Forward and backward solver iterations (max over the batch: what a batched solve runs)."""

  def loss(params, probe):
    logits, _, stats = planner.apply(params, maps, goals, probe)
    return cross_entropy(logits, labels), stats.forward.iterations

  (_, forward), backward = jax.jit(jax.value_and_grad(loss, argnums=1, has_aux=True))(
      params, ip.backward_probe(maps.shape[0]))
  return float(jnp.max(forward)), float(jnp.max(backward.iterations))


# ---------------------------------------------------------------------------
# Suite: scaling.


def scaling_row(planner, size: int, batch: int, repeats: int, seed: int) -> dict[str, Any]:
  """Forward/backward time and temp memory of one configured planner."""

  maps, goals, labels = mazes(size, batch, seed)
  params = timing_params(planner.init(jax.random.key(seed), maps, goals), seed + 1)
  forward = jax.jit(lambda p, m, g: planner.apply(p, m, g)[0])
  loss = lambda p, m, g: cross_entropy(planner.apply(p, m, g)[0], labels)
  both = jax.jit(jax.value_and_grad(loss))
  args = (params, maps, goals)
  forward_compiled, both_compiled = forward.lower(*args).compile(), both.lower(*args).compile()
  row = {"forward_temp_bytes": temp_bytes(forward_compiled), "train_temp_bytes": temp_bytes(both_compiled)}
  if isinstance(planner.mode, ip.Implicit):
    row["forward_iterations"], row["backward_iterations"] = iterations(planner, params, maps, goals, labels)
  if row["train_temp_bytes"] > _MAX_TEMP_GIB.value * 2**30:
    row["skipped"] = f"temp memory above --max_temp_gib={_MAX_TEMP_GIB.value}"
    return row
  fwd, total = measure(forward_compiled, args, repeats), measure(both_compiled, args, repeats)
  for clock in ("wall_ms", "cpu_ms"):
    row[f"forward_{clock}"] = fwd[clock]
    row[f"backward_{clock}"] = total[clock] - fwd[clock]
  return row


def available_planners(names: Sequence[str]) -> list[str]:
  """``names`` less those that cannot be built yet, each skipped with a printed note."""
  kept = []
  for name in names:
    reason = unavailable(name)
    if reason:
      print(f"skipped: {reason}")
    else:
      kept.append(name)
  return kept


def run_scaling(preset: Preset) -> list[dict[str, Any]]:
  rows = []
  for name in available_planners(_PLANNERS.value or SCALING_PLANNERS):
    for contraction in [None, _CONTRACTION.value] if name in ("vin", "id_vin") else [None]:
      for size in preset.sizes:
        for k in preset.ks:
          planner = build(name, k, l_q=_L_Q.value, l_h=_L_H.value, contraction=contraction)
          row = {"planner": name, "contraction": contraction, "size": size, "K": k, "batch": _BATCH.value}
          row.update(scaling_row(planner, size, _BATCH.value, preset.repeats, _SEED.value))
          rows.append(row)
          print(format_scaling_row(row), flush=True)
  return rows


SCALING_HEADER = (f"{'planner':<22} {'H':>3} {'K':>4} {'fwd ms':>8} {'bwd ms':>8} {'fwd cpu':>8} "
                  f"{'bwd cpu':>8} {'fwd MiB':>8} {'train MiB':>9} {'iters f/b':>9}")


def format_scaling_row(row: dict[str, Any]) -> str:
  label = row["planner"] + (f" (γ={row['contraction']})" if row["contraction"] else "")
  memory = f"{row['forward_temp_bytes'] / 2**20:>8.1f} {row['train_temp_bytes'] / 2**20:>9.1f}"
  if "forward_iterations" in row:
    memory += f" {row['forward_iterations']:>4.0f}/{row['backward_iterations']:<4.0f}"
  if "skipped" in row:
    return f"{label:<22} {row['size']:>3} {row['K']:>4} {row['skipped']:>35} {memory}"
  times = " ".join(f"{row[f'{part}_{clock}']:>8.1f}" for clock in ("wall_ms", "cpu_ms")
                   for part in ("forward", "backward"))
  return f"{label:<22} {row['size']:>3} {row['K']:>4} {times} {memory}"


def plot_scaling(rows: list[dict[str, Any]], path: str) -> None:
  """One row of panels per map size: forward ms, backward ms and training temp MiB against K."""
  sizes = sorted({r["size"] for r in rows})
  fig, axes = plt.subplots(len(sizes), 3, figsize=(15, 4 * len(sizes)), squeeze=False)
  panels = (("forward_wall_ms", "forward ms"), ("backward_wall_ms", "backward ms"),
            ("train_temp_bytes", "train temp MiB"))
  for ax_row, size in zip(axes, sizes):
    lines = sorted({(r["planner"], r["contraction"]) for r in rows if r["size"] == size}, key=str)
    for ax, (key, label) in zip(ax_row, panels):
      for name, contraction in lines:
        points = [(r["K"], r[key] / (2**20 if key.endswith("bytes") else 1)) for r in rows
                  if (r["planner"], r["contraction"], r["size"]) == (name, contraction, size) and key in r]
        if points:
          ax.plot(*zip(*points), marker="o", linestyle="--" if contraction else "-",
                  label=name + (f" γ={contraction}" if contraction else ""))
      ax.set(xlabel="K", ylabel=label, yscale="log", title=f"{size}×{size}: {label}")
    ax_row[0].legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


# ---------------------------------------------------------------------------
# Suite: step.


def make_train_step(planner, labels):
  """Jitted ``(params, opt_state, maps, goals) → (params, opt_state, loss)`` as in REFERENCE.md."""

  optimizer = optax.chain(optax.clip_by_global_norm(40.0), optax.rmsprop(1e-3, eps=1e-6))

  @jax.jit
  def step(params, opt_state, maps, goals):
    loss, grads = jax.value_and_grad(lambda p: cross_entropy(planner.apply(p, maps, goals)[0], labels))(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return step, optimizer


def run_step(preset: Preset) -> list[dict[str, Any]]:

  names = available_planners(_PLANNERS.value or SCALING_PLANNERS)
  maps, goals, labels = mazes(15, 32, _SEED.value)
  rows = []
  for (name, option, value), reference in REFERENCE_STEP_S.items():
    if name not in names:
      continue
    for k, reference_s in zip(STEP_KS, reference):
      planner = build(name, k, **{option: value})
      step, optimizer = make_train_step(planner, labels)
      params = timing_params(planner.init(jax.random.key(_SEED.value), maps, goals), _SEED.value + 1)
      timing = measure(step, (params, optimizer.init(params), maps, goals), preset.repeats)
      row = {"planner": name, option: value, "K": k, "reference_s": reference_s,
             "wall_s": timing["wall_ms"] / 1e3, "cpu_s": timing["cpu_ms"] / 1e3}
      if isinstance(planner.mode, ip.Implicit):
        row["forward_iterations"], row["backward_iterations"] = iterations(planner, params, maps, goals, labels)
      rows.append(row)
      print(format_step_row(row), flush=True)
  return rows


STEP_HEADER = (f"{'planner':<14} {'sizes':<10} {'K':>3} {'ours wall s':>11} {'ours cpu s':>10} {'reference s':>11} "
               f"{'speed-up':>8} {'iters f/b':>9}")


def format_step_row(row: dict[str, Any]) -> str:
  sizes = f"l_q {row['l_q']}" if "l_q" in row else f"l_h {row['l_h']}"
  iters = f" {row['forward_iterations']:>4.0f}/{row['backward_iterations']:<4.0f}" if "forward_iterations" in row else ""
  return (f"{row['planner']:<14} {sizes:<10} {row['K']:>3} {row['wall_s']:>11.3f} {row['cpu_s']:>10.3f} "
          f"{row['reference_s']:>11.3f} {row['reference_s'] / row['wall_s']:>7.1f}×{iters}")


# ---------------------------------------------------------------------------
# Suite: conv.

# VIN's first layer; the ConvGRU at hidden 32, 64 and 150 (candidate and gates).
CONV_CHANNELS = ((2, 40), (32, 32), (64, 64), (150, 150), (150, 300))
CONV_SCAN_STEPS = 2


def run_conv(preset: Preset) -> list[dict[str, Any]]:
  """Each `conv2d` formulation, forward and forward + backward (input and kernel), per call.

  A batch of 32 15×15 grids, ``CONV_SCAN_STEPS`` calls inside a ``lax.scan``
  with a shared kernel, as in the planners' loops (XLA:CPU compiles convolutions
  in loops differently); times are per call.
  """
  rows = []
  for c_in, c_out in CONV_CHANNELS:
    key_x, key_k, key_c = jax.random.split(jax.random.key(_SEED.value), 3)
    xs = jax.random.normal(key_x, (CONV_SCAN_STEPS, _BATCH.value, 15, 15, c_in))
    kernel = jax.random.normal(key_k, (3, 3, c_in, c_out)) / np.sqrt(9 * c_in)
    cotangent = jax.random.normal(key_c, (_BATCH.value, 15, 15, c_out))
    for impl in [impl for impl in grid_conv.CONV_IMPLS if impl != "auto"]:
      def total(xs, kernel, impl=impl):
        def body(acc, x):
          return acc + grid_conv.conv2d(x, kernel, wrap=False, impl=impl), None
        return jax.lax.scan(body, jnp.zeros_like(cotangent), xs)[0]

      forward = jax.jit(total)
      both = jax.jit(jax.value_and_grad(lambda xs, kernel: jnp.vdot(total(xs, kernel), cotangent), argnums=(0, 1)))
      row = {"impl": impl, "c_in": c_in, "c_out": c_out, "batch": _BATCH.value}
      for name, fn in (("forward", forward), ("forward_backward", both)):
        timing = measure(fn, (xs, kernel), preset.repeats)
        row.update({f"{name}_{clock}": value / CONV_SCAN_STEPS for clock, value in timing.items()})
      rows.append(row)
      print(format_conv_row(row), flush=True)
  return rows


CONV_HEADER = f"{'impl':<8} {'channels':>10} {'fwd ms':>8} {'fwd+bwd ms':>10} {'fwd cpu':>8} {'fwd+bwd cpu':>11}"


def format_conv_row(row: dict[str, Any]) -> str:
  channels = f"{row['c_in']}→{row['c_out']}"
  return (f"{row['impl']:<8} {channels:>10} {row['forward_wall_ms']:>8.2f} {row['forward_backward_wall_ms']:>10.2f} "
          f"{row['forward_cpu_ms']:>8.2f} {row['forward_backward_cpu_ms']:>11.2f}")


# ---------------------------------------------------------------------------
# Suite: grad_accuracy.


def run_grad_accuracy(preset: Preset) -> list[dict[str, Any]]:

  del preset
  names = available_planners([n for n in (_PLANNERS.value or SCALING_PLANNERS) if n.startswith("id_")])
  maps, goals, labels = mazes(15, _GRAD_BATCH.value, _SEED.value)
  loss_fn = lambda logits: cross_entropy(logits, labels)
  rows = []
  for name in names:
    option = {"l_h": _L_H.value} if "conv_gppn" in name else {"l_q": _L_Q.value}
    # As trained: K_fwd = 30 forward iterations and K_bwd Anderson, default tolerances.
    planner = ip.make_planner(name, k_fwd=30, k_bwd=_K_BWD.value, conv_impl=_CONV_IMPL.value, **option)
    params = planner.init(jax.random.key(_SEED.value), maps, goals)
    step, optimizer = make_train_step(planner, labels)
    opt_state = optimizer.init(params)
    for trained in (0, _TRAIN_STEPS.value):
      for _ in range(trained):
        params, opt_state, _ = step(params, opt_state, maps, goals)
      for solver in ("iteration", "anderson"):
        checked = ip.with_mode(planner, backward_solver=solver)
        result = implicit_gradient_error(checked, params, maps, goals, loss_fn,
                                         reference_k_bwd=_REFERENCE_K_BWD.value)
        row = {"planner": name, "train_steps": trained, **option, **result}
        rows.append(row)
        print(format_grad_row(row), flush=True)
  return rows


GRAD_HEADER = (f"{'planner':<14} {'steps':>5} {'solver':<17} {'K_bwd':>5} {'rel err':>8} {'cosine':>8} "
               f"{'max tensor':>10} {'ref res':>8} {'fwd res':>8}")


def format_grad_row(row: dict[str, Any]) -> str:
  return (f"{row['planner']:<14} {row['train_steps']:>5} {row['backward_solver']:<17} {row['k_bwd']:>5} "
          f"{row['relative_error']:>8.2e} {row['cosine']:>8.5f} {row['max_tensor_relative_error']:>10.2e} "
          f"{row['reference_residual']:>8.1e} {row['forward_residual']:>8.1e}")


def plot_bars(labels: list[str], values: list[float], ylabel: str, path: str, log: bool) -> None:
  fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(labels)), 4))
  ax.bar(range(len(values)), values)
  ax.set_xticks(range(len(values)), labels, rotation=60, ha="right", fontsize=8)
  ax.set(ylabel=ylabel, yscale="log" if log else "linear")
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


# ---------------------------------------------------------------------------


def environment() -> dict[str, Any]:

  return {"jax": jax.__version__, "backend": jax.default_backend(), "device": jax.devices()[0].device_kind,
          "machine": platform.processor() or platform.machine(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
          "affinity": sorted(os.sched_getaffinity(0)), "conv_impl": _CONV_IMPL.value,
          "glibc_tunables": os.environ.get("GLIBC_TUNABLES", "")}


def main(argv: Sequence[str]) -> None:
  del argv
  huge_pages.reexec_with_huge_pages()
  if _SINGLE_THREAD.value:
    # Before JAX starts its CPU backend (the first jax call below).
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + SINGLE_THREAD_XLA_FLAGS).strip()
    os.sched_setaffinity(0, {_CORE.value})
  preset = PRESETS[_PRESET.value]
  preset = Preset(sizes=tuple(map(int, _SIZES.value)) or preset.sizes, ks=tuple(map(int, _KS.value)) or preset.ks,
                  repeats=_REPEATS.value or preset.repeats)
  os.makedirs(_OUT_DIR.value, exist_ok=True)
  suite = _SUITE.value
  header = {"scaling": SCALING_HEADER, "step": STEP_HEADER, "conv": CONV_HEADER, "grad_accuracy": GRAD_HEADER}[suite]
  print(header)
  start = time.perf_counter()
  rows = {"scaling": run_scaling, "step": run_step, "conv": run_conv, "grad_accuracy": run_grad_accuracy}[suite](preset)
  record = {"suite": suite, "preset": dataclasses.asdict(preset), "environment": environment(),
            "seconds": time.perf_counter() - start, "rows": rows}
  if suite == "step":
    record["reference_source"] = REFERENCE_SOURCE
  base = os.path.join(_OUT_DIR.value, suite)
  with open(base + ".json", "w") as f:
    json.dump(record, f, indent=1)
  if rows and suite == "scaling":
    plot_scaling(rows, base + ".png")
  elif rows and suite == "step":
    plot_bars([f"{r['planner']} {r.get('l_q', r.get('l_h'))} K{r['K']}" for r in rows],
              [r["reference_s"] / r["wall_s"] for r in rows], "speed-up over reference (×)", base + ".png", log=True)
  elif rows and suite == "conv":
    plot_bars([f"{r['impl']} {r['c_in']}→{r['c_out']}" for r in rows],
              [r["forward_backward_wall_ms"] for r in rows], "forward + backward ms per call", base + ".png", log=True)
  elif rows:
    plot_bars([f"{r['planner']} {r['backward_solver']} {r['train_steps']} steps" for r in rows],
              [r["relative_error"] for r in rows], f"relative gradient error at K_bwd={_K_BWD.value}",
              base + ".png", log=True)
  print(f"wrote {base}.json ({record['seconds']:.0f} s)")


if __name__ == "__main__":
  app.run(main)
