r"""Draws what a trained planner does on one map: `python -m experiments.visualize --workdir=<run>`.

The PNG (default `<workdir>/policy_<split>_<index>.png`) has four panels: the map with the goal
and the greedy paths from a few start cells; the learned reward map; the value map; the policy
arrows, green where the greedy path is optimal, orange where it succeeds with a detour, red
where it fails. The first seed's best checkpoint is drawn unless `--checkpoint=latest`.
"""

from __future__ import annotations

import os

from absl import app, flags

from experiments.training import figures

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory.", required=True)
_INDEX = flags.DEFINE_integer("index", 0, "Map index in the split.")
_SPLIT = flags.DEFINE_enum("split", "test", ["train", "val", "test"], "Split.")
_OUT = flags.DEFINE_string("out", "", "PNG path; default <workdir>/policy_<split>_<index>.png.")
_CHECKPOINT = flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "Which checkpoint.")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  out = _OUT.value or os.path.join(_WORKDIR.value, f"policy_{_SPLIT.value}_{_INDEX.value}.png")
  figures.policy_figure(_WORKDIR.value, out, index=_INDEX.value, split=_SPLIT.value, which=_CHECKPOINT.value)
  print(out)


if __name__ == "__main__":
  app.run(main)
