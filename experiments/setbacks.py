r"""Finds a run's setbacks in its per-step trace: `python -m experiments.setbacks --workdir=<run>[,<run>...]`.

The run must have been trained with `--trace_steps` (`steps.jsonl`). For each run it writes
`setbacks.json` (validation collapses, step setbacks, jolt quantiles: `training.setbacks`) and
`setbacks.png` into the run directory, and prints one line per run so that twins compare at a glance;
`--compare=<png>` also draws the runs side by side. With each epoch's share of updates at the update
clip's bound (`setbacks.clip_activity`): the run's own `--update_clip`, or for a run without one
the bound `--clip` would have set.
"""

from __future__ import annotations

import json
import os

from absl import app, flags

from experiments.training import logs, recipes, setbacks

_WORKDIRS = flags.DEFINE_list("workdir", None, "Run directories trained with --trace_steps.", required=True)
_FALL = flags.DEFINE_float("fall", setbacks.FALL, "Points of %Success lost that make a setback or a collapse.")
_WINDOW = flags.DEFINE_integer("window", setbacks.WINDOW, "Steps of each setback's reference median.")
_CLIP = flags.DEFINE_float(
  "clip",
  recipes.SPIKE_CLIP["update_clip"],
  "For a run trained without --update_clip: the clip factor whose bound its updates are set against.",
)
_COMPARE = flags.DEFINE_string("compare", "", "PNG path: the runs side by side (setbacks per epoch, falls by jolt).")


def label(workdir: str, workdirs: list[str]) -> str:
  """The run's folder name, with its parent's where another run has the same (two sweeps' twins)."""
  name = lambda path: os.path.basename(os.path.normpath(path))
  if [name(w) for w in workdirs].count(name(workdir)) == 1:
    return name(workdir)
  return os.path.join(name(os.path.dirname(os.path.normpath(workdir))), name(workdir))


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  summaries = {}
  for workdir in _WORKDIRS.value:
    steps_path = os.path.join(workdir, "steps.jsonl")
    if not os.path.exists(steps_path):
      raise app.UsageError(f"{steps_path} does not exist: train the run with --trace_steps")
    metrics = logs.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    view = setbacks.windowed(setbacks.read_trace(logs.read_jsonl(steps_path)), _WINDOW.value)
    summary = setbacks.summarize(metrics, view, _FALL.value)
    with open(os.path.join(workdir, "config.json")) as f:
      trained_clip = json.load(f).get("update_clip", 0.0)
    factor = trained_clip or _CLIP.value
    summary["clip"] = {
      "factor": factor,
      "trained_with_it": bool(trained_clip),
      "per_epoch": setbacks.clip_activity(view.trace, factor),
    }
    with open(os.path.join(workdir, "setbacks.json"), "w") as f:
      json.dump(summary, f, indent=1)
    setbacks.figure(summary, view, metrics, os.path.join(workdir, "setbacks.png"), os.path.basename(workdir))
    summaries[label(workdir, _WORKDIRS.value)] = summary
    late = [s for s in summary["setbacks"] if s["epoch"] > 2]
    print(
      f"{workdir}: {summary['steps']} steps; validation collapses {len(summary['validation_collapses'])}; "
      f"step setbacks per seed {summary['setbacks_per_seed']} ({len(late)} after epoch 2); "
      f"jolt before a setback (median) {summary['jolt_quantiles_before_setbacks'].get('0.5', float('nan')):.2f}, "
      f"updates with jolt > 3: {100 * summary['share_of_updates_with_jolt_over_3']:.2f} %; "
      f"% of updates at the {factor:g}× clip's bound per epoch "
      + " ".join(
        f"{100 * sum(r['share_at_bound_per_seed']) / len(r['share_at_bound_per_seed']):.0f}"
        for r in summary["clip"]["per_epoch"]
      )
    )
  if _COMPARE.value:
    setbacks.comparison_figure(summaries, _COMPARE.value)
    print(_COMPARE.value)


if __name__ == "__main__":
  app.run(main)
