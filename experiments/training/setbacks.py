"""Setbacks in training, from a run's per-step trace (`steps.jsonl`, `Config.trace_steps`).

A *validation collapse* is an epoch at which a seed's validation %Success falls by `fall` points
or more from the epoch before. Validation sees the parameters of the epoch's last step only; the
per-step trace sees every step: a *step setback* is a step whose batch %Success (measured with the
parameters the previous update made) is `fall` points or more below the seed's median over the
`window` steps before it. Each setback is set beside the update that made it: its *jolt*, the
update's norm over the median update norm of the same window (1: a typical step).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from experiments.training import spikes

FALL = 20.0
"""Points of %Success a seed must lose to count as a setback or a collapse."""

WINDOW = 50
"""Steps of each setback's reference (the median before it)."""

RECOVERED = 5.0
"""A setback has ended once the batch %Success is back within this many points of its reference."""

AT_BOUND_RTOL = 1e-3
"""A recorded update norm this close below the clip's bound counts as clipped (the optimiser's
running mean is float32; the replay's float64)."""


def validation_collapses(metrics: list[dict[str, Any]], fall: float = FALL) -> list[dict[str, Any]]:
  """Each (seed, epoch) whose validation %Success fell by `fall` or more from the epoch before,
  with the scores before, at and after (None after the last epoch)."""
  scores = np.array([r["val_success_per_seed"] for r in metrics])  # [epochs, S]
  epochs = [r["epoch"] for r in metrics]
  found = []
  for i, s in zip(*np.nonzero(scores[1:] <= scores[:-1] - fall)):
    at = i + 1
    found.append(
      {
        "seed": int(s),
        "epoch": epochs[at],
        "before": float(scores[at - 1, s]),
        "at": float(scores[at, s]),
        "after": float(scores[at + 1, s]) if at + 1 < len(scores) else None,
      }
    )
  return found


class Trace(NamedTuple):
  """A run's per-step trace, steps of all epochs in order.

  Attributes:
    epoch: [T] 1-based epoch of each step.
    step: [T] 0-based step within its epoch.
    fields: name -> [T, S] per-seed values (``alive`` among them, as bools).
  """

  epoch: np.ndarray
  step: np.ndarray
  fields: dict[str, np.ndarray]


def read_trace(lines: list[dict[str, Any]]) -> Trace:
  """The `Trace` of the lines of a `steps.jsonl` (one per epoch, in order)."""
  if not lines:
    raise ValueError("the step trace is empty: was the run made with --trace_steps?")
  names = [name for name in lines[0] if name != "epoch"]
  fields = {name: np.concatenate([np.asarray(line[name]) for line in lines]) for name in names}
  fields["alive"] = fields["alive"].astype(bool)
  epoch = np.concatenate([np.full(len(line["alive"]), line["epoch"]) for line in lines])
  step = np.concatenate([np.arange(len(line["alive"])) for line in lines])
  return Trace(epoch, step, fields)


def trailing_medians(values: np.ndarray, window: int) -> np.ndarray:
  """[T - window, S] for each step ``t >= window`` of ``values`` [T, S], the median of the
  `window` values before it."""
  windows = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)  # [T - window + 1, S, window]
  return np.median(windows[:-1], axis=-1)


class Windowed(NamedTuple):
  """A trace set against its trailing windows, computed once for every reader.

  Row ``i`` of each array is step ``window + i`` of the trace, measured against the `window` steps
  before it.

  Attributes:
    trace: the `Trace`.
    window: steps of each reference.
    reference: [T - window, S] the median batch %Success of the window.
    jolt: [T - window, S] the update's norm over the window's median update norm.
    grad_ratio: [T - window, S] the gradient's norm over the window's median gradient norm.
  """

  trace: Trace
  window: int
  reference: np.ndarray
  jolt: np.ndarray
  grad_ratio: np.ndarray

  @property
  def falls(self) -> np.ndarray:
    """[T - window, S] each step's reference minus its own batch %Success."""
    return self.reference - self.trace.fields["train_success"][self.window :]


def windowed(trace: Trace, window: int = WINDOW) -> Windowed:
  """The `Windowed` view of `trace`.

  Raises:
    ValueError: the trace has no step after its first `window`.
  """
  if len(trace.epoch) <= window:
    raise ValueError(f"the step trace has {len(trace.epoch)} steps, none after the first window of {window}")

  def over_median(values: np.ndarray) -> np.ndarray:
    return values[window:] / trailing_medians(values, window)

  fields = trace.fields
  return Windowed(
    trace,
    window,
    trailing_medians(fields["train_success"], window),
    over_median(fields["update_norm"]),
    over_median(fields["grad_norm"]),
  )


def step_setbacks(view: Windowed, fall: float = FALL) -> list[dict[str, Any]]:
  """Every step setback of every seed after the first `window` + 1 steps (consecutive setback
  steps are one setback).

  Each has the seed, its first step (global index, epoch, step in epoch), the batch %Success and
  its reference, how many steps it took to recover (None: not within the trace), and the jolt and
  gradient ratio of the update that preceded it.
  """
  trace, window = view.trace, view.window
  success, alive = trace.fields["train_success"], trace.fields["alive"]
  found = []
  for s in range(success.shape[1]):
    t = window + 1
    while t < len(success):
      ref = float(view.reference[t - window, s])
      if not alive[t, s] or success[t, s] > ref - fall:
        t += 1
        continue
      end = t
      while end < len(success) and success[end, s] < ref - RECOVERED:
        end += 1
      found.append(
        {
          "seed": s,
          "global_step": int(t),
          "epoch": int(trace.epoch[t]),
          "step": int(trace.step[t]),
          "success": float(success[t, s]),
          "reference": ref,
          "recovery_steps": int(end - t) if end < len(success) else None,
          "jolt": float(view.jolt[t - 1 - window, s]),
          "grad_ratio": float(view.grad_ratio[t - 1 - window, s]),
        }
      )
      t = end + 1
  return found


JOLT_EDGES = (0.0, 1.0, 1.5, 2.0, 3.0, np.inf)
"""Bins of `fall_after_jolt`."""


def fall_after_jolt(view: Windowed, fall: float = FALL) -> list[dict[str, Any]]:
  """Per bin of jolt (`JOLT_EDGES`): how many updates, and the share of them after which the next
  batch's %Success was `fall` points or more below its reference (seeds alive on both steps)."""
  alive, window = view.trace.fields["alive"], view.window
  jolt, after = view.jolt[:-1], view.falls[1:]
  kept = alive[window:-1] & alive[window + 1 :]
  jolt, after = jolt[kept], after[kept]
  rows = []
  for low, high in zip(JOLT_EDGES[:-1], JOLT_EDGES[1:]):
    inside = (jolt >= low) & (jolt < high)
    share = float(np.mean(after[inside] >= fall)) if inside.any() else None
    rows.append({"jolt_from": low, "jolt_to": high, "updates": int(inside.sum()), "share_followed_by_fall": share})
  return rows


def clip_bounds(update_norms: np.ndarray, factor: float, decay: float = spikes.DECAY) -> np.ndarray:
  """[T, S] the bound `spikes.clip_update_spikes` set on each step's update, replayed from the
  trace's update norms [T, S] (inf at the first step).

  A run trained with the clip recorded the clipped norms, which are what the clip's running mean
  took, so its bounds replay exactly. For a run without it the replayed mean takes each norm capped
  at its bound: the bounds a clip would have set had the run taken the same path. Replays one
  optimiser from the trace's first step: not the phases of a run that restarts its optimiser.
  """
  mean, bounds = np.zeros(update_norms.shape[1]), np.empty(update_norms.shape)
  for t, norms in enumerate(update_norms):
    bounds[t] = factor * mean / (1 - decay**t) if t else np.inf
    mean = decay * mean + (1 - decay) * np.minimum(norms, bounds[t])
  return bounds


def clip_activity(trace: Trace, factor: float, decay: float = spikes.DECAY) -> list[dict[str, Any]]:
  """Per epoch, how much the update clip of `factor` acts (`clip_bounds`): each seed's share of
  updates at or over the bound, and the mean norm over the bound of those (1 where the run was
  trained with the clip; above 1, how large the spikes a clip would have cut were)."""
  ratio = trace.fields["update_norm"] / clip_bounds(trace.fields["update_norm"], factor, decay)
  at_bound = ratio >= 1 - AT_BOUND_RTOL
  rows = []
  for epoch in np.unique(trace.epoch):
    inside = trace.epoch == epoch
    over = ratio[inside][at_bound[inside]]
    rows.append(
      {
        "epoch": int(epoch),
        "share_at_bound_per_seed": at_bound[inside].mean(axis=0).tolist(),
        "norm_over_bound": float(over.mean()) if over.size else None,
      }
    )
  return rows


def summarize(metrics: list[dict[str, Any]], view: Windowed, fall: float = FALL) -> dict[str, Any]:
  """Collapses, setbacks, and how the setbacks' jolts compare with every update's."""
  setbacks = step_setbacks(view, fall)
  every = view.jolt.ravel()
  before = np.array([s["jolt"] for s in setbacks])
  quantiles = (0.5, 0.9, 0.99, 0.999)
  seeds = view.jolt.shape[1]
  return {
    "fall": fall,
    "window": view.window,
    "steps": int(len(view.trace.epoch)),
    "epochs": int(view.trace.epoch.max()),
    "validation_collapses": validation_collapses(metrics, fall),
    "setbacks": setbacks,
    "setbacks_per_seed": [sum(s["seed"] == seed for s in setbacks) for seed in range(seeds)],
    "jolt_quantiles_all_updates": {str(q): float(np.quantile(every, q)) for q in quantiles},
    "jolt_quantiles_before_setbacks": {str(q): float(np.quantile(before, q)) for q in quantiles} if len(before) else {},
    "share_of_updates_with_jolt_over_3": float(np.mean(every > 3)),
    "share_of_setbacks_after_jolt_over_3": float(np.mean(before > 3)) if len(before) else None,
    "fall_after_jolt": fall_after_jolt(view, fall),
  }


def figure(summary: dict[str, Any], view: Windowed, metrics: list[dict[str, Any]], out_path: str, title: str) -> None:
  """Saves a PNG: for each validation collapse (at most three), the collapsed seed's batch %Success
  and jolts over the epochs around it; then every seed's setbacks per epoch, and the jolts of
  every update beside those of the updates that preceded a setback."""
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  collapses = summary["validation_collapses"][:3]
  fig, axes = plt.subplots(len(collapses) + 1, 2, figsize=(12, 3.2 * (len(collapses) + 1)), squeeze=False)
  trace, every_jolt = view.trace, view.jolt
  for (success_ax, jolt_ax), collapse in zip(axes, collapses):
    seed, epoch = collapse["seed"], collapse["epoch"]
    steps = np.flatnonzero((trace.epoch >= epoch - 1) & (trace.epoch <= epoch + 1))
    steps = steps[steps >= view.window]
    success_ax.plot(steps, trace.fields["train_success"][steps, seed], lw=0.8, label=f"seed {seed}, batch")
    ends = [int(np.flatnonzero(trace.epoch == e)[-1]) for e in (epoch - 1, epoch, epoch + 1) if e in trace.epoch]
    scores = {r["epoch"]: r["val_success_per_seed"][seed] for r in metrics}
    success_ax.plot(ends, [scores[trace.epoch[t]] for t in ends], "ro", label="validation, epoch end")
    success_ax.set(ylabel="%Success", ylim=(0, 100), title=f"{title}: seed {seed}'s collapse at epoch {epoch}")
    success_ax.legend(loc="lower left", fontsize=8)
    jolt_ax.plot(steps, every_jolt[steps - view.window, seed], lw=0.8)
    jolt_ax.axhline(1.0, color="gray", lw=0.5)
    jolt_ax.set(ylabel="update norm / median of last 50", yscale="log", title="jolt of each update")
    for ax in (success_ax, jolt_ax):
      for t in ends:
        ax.axvline(t + 0.5, color="gray", ls=":", lw=0.8)
      ax.set_xlabel("global step")
  per_epoch_ax, hist_ax = axes[-1]
  epochs = np.unique(trace.epoch)
  for seed, _ in enumerate(summary["setbacks_per_seed"]):
    counts = [sum(s["seed"] == seed and s["epoch"] == e for s in summary["setbacks"]) for e in epochs]
    per_epoch_ax.plot(epochs, counts, marker=".", label=f"seed {seed}")
  per_epoch_ax.set(xlabel="epoch", ylabel="setbacks", title=f"step setbacks (≥ {summary['fall']:.0f} points) per epoch")
  per_epoch_ax.legend(fontsize=8)
  bins = np.logspace(-1, 1, 41)
  hist_ax.hist(np.clip(every_jolt.ravel(), 0.1, 10), bins, density=True, alpha=0.6, label="every update")
  before = [s["jolt"] for s in summary["setbacks"]]
  if before:
    hist_ax.hist(np.clip(before, 0.1, 10), bins, density=True, alpha=0.6, label="the update before a setback")
  hist_ax.set(xscale="log", xlabel="jolt", ylabel="density", title="jolts")
  hist_ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(out_path, dpi=100)
  plt.close(fig)


def comparison_figure(summaries: dict[str, dict[str, Any]], out_path: str) -> None:
  """Saves a PNG that sets runs side by side: their step setbacks per epoch (all seeds); per bin of
  jolt the updates' share and the share of them followed by a fall (no point for a bin without
  updates); and, for summaries with a ``"clip"`` entry, the share of updates at the clip's bound
  per epoch (dashed: a run trained without the clip, against the bound it would have set)."""
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  fig, (per_epoch_ax, updates_ax, falls_ax, clip_ax) = plt.subplots(1, 4, figsize=(21, 4))
  for label, summary in summaries.items():
    epochs = range(1, summary["epochs"] + 1)
    per_epoch_ax.plot(
      epochs, [sum(s["epoch"] == e for s in summary["setbacks"]) for e in epochs], marker=".", label=label
    )
    rows = summary["fall_after_jolt"]
    names = [f"{r['jolt_from']:g}–{r['jolt_to']:g}" for r in rows]
    total = sum(r["updates"] for r in rows)
    updates_ax.plot(names, [100 * r["updates"] / total for r in rows], marker="o", label=label)
    shares = [r["share_followed_by_fall"] for r in rows]
    falls_ax.plot(names, [np.nan if share is None else 100 * share for share in shares], marker="o", label=label)
    if "clip" in summary:
      clip = summary["clip"]
      clip_ax.plot(
        [r["epoch"] for r in clip["per_epoch"]],
        [100 * np.mean(r["share_at_bound_per_seed"]) for r in clip["per_epoch"]],
        marker=".",
        ls="-" if clip["trained_with_it"] else "--",
        label=f"{label} ({clip['factor']:g}×)",
      )
  per_epoch_ax.set(xlabel="epoch", ylabel="setbacks, all seeds", title="step setbacks per epoch")
  per_epoch_ax.set_yscale("symlog", linthresh=1)  # linear up to one setback, logarithmic beyond
  per_epoch_ax.set_ylim(bottom=0)
  per_epoch_ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
  updates_ax.set(xlabel="jolt", ylabel="% of updates", yscale="log", title="updates by jolt")
  falls_ax.set(
    xlabel="jolt",
    ylabel="% followed by a fall",
    title=f"a fall of {next(iter(summaries.values()))['fall']:.0f} points after the update",
  )
  clip_ax.set(xlabel="epoch", ylabel="% of updates, all seeds", title="updates at the clip's bound")
  for ax in (per_epoch_ax, updates_ax, falls_ax, clip_ax):
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(out_path, dpi=100)
  plt.close(fig)
