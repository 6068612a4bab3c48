r"""Draws what a trained planner does on one map: `python -m experiments.visualize --workdir=<run>`.

The PNG (default `<workdir>/policy_<split>_<index>.png`) has four panels: the map with the goal
and the greedy paths from a few start cells; the learned reward map; the value map; the policy
arrows, green where the greedy path is optimal, orange where it succeeds with a detour, red
where it fails (a planner on a mapper's map: what the mapper sees, its map against the true one,
the values, the policy). The first seed's best checkpoint is drawn unless `--checkpoint=latest`.

`--views_of=<visual_nav dataset>` instead draws maze `--index` beside the four views from a few of
its cells (default `views_<split>_<index>.png`); `--pretrained=<name>` draws a pretrained planner
(`pretrained/`) on its own dataset (default `policy_<name>_<split>_<index>.png`).
"""

from __future__ import annotations

import os

from absl import app, flags

from experiments.training import figures

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory.")
_VIEWS_OF = flags.DEFINE_string("views_of", None, "A visual_nav dataset: draw a maze and its views instead of a run.")
_PRETRAINED = flags.DEFINE_string("pretrained", None, "A pretrained planner's name (pretrained/), instead of a run.")
_TASK = flags.DEFINE_string("task", "maze2d", "The pretrained planner's task.")
_SIZE = flags.DEFINE_integer("size", 15, "The pretrained planner's map size.")
_INDEX = flags.DEFINE_integer("index", 0, "Map index in the split.")
_SPLIT = flags.DEFINE_enum("split", "test", ["train", "val", "test"], "Split.")
_OUT = flags.DEFINE_string("out", "", "PNG path; default <workdir>/policy_<split>_<index>.png.")
_CHECKPOINT = flags.DEFINE_enum("checkpoint", "best", ["best", "latest"], "Which checkpoint.")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if sum(value is not None for value in (_WORKDIR.value, _VIEWS_OF.value, _PRETRAINED.value)) != 1:
    raise app.UsageError(
      "give one of --workdir (a run's policy), --pretrained (a pretrained planner's) and --views_of (a "
      "visual_nav dataset's views)"
    )
  if _PRETRAINED.value:
    out = _OUT.value or f"policy_{_PRETRAINED.value}_{_SPLIT.value}_{_INDEX.value}.png"
    figures.pretrained_policy_figure(_PRETRAINED.value, _TASK.value, _SIZE.value, out, _INDEX.value, _SPLIT.value)
    print(out)
    return
  if _VIEWS_OF.value:
    out = _OUT.value or f"views_{_SPLIT.value}_{_INDEX.value}.png"
    figures.views_figure(_VIEWS_OF.value, out, index=_INDEX.value, split=_SPLIT.value)
    print(out)
    return
  out = _OUT.value or os.path.join(_WORKDIR.value, f"policy_{_SPLIT.value}_{_INDEX.value}.png")
  figures.policy_figure(_WORKDIR.value, out, index=_INDEX.value, split=_SPLIT.value, which=_CHECKPOINT.value)
  print(out)


if __name__ == "__main__":
  app.run(main)
