"""Figure 6: forward and backward time and memory against K and map size, measured (no training)
by the benchmark's scaling suite (`experiments.benchmarks.scaling`)."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from experiments.benchmarks import scaling
from experiments.benchmarks.problems import Settings
from experiments.paper import measured
from experiments.paper.scales import Scale

NAME = "fig6"
CLAIM = (
  "an implicit planner's backward time and memory stay flat as K grows, an explicit one's grow with K "
  "and the map until it runs out of memory"
)
KS = (10, 30, 50, 80)


def measure(scale: Scale, out_dir: str, settings: Settings | None = None) -> list[dict[str, Any]]:
  """Every planner at the scale's sizes and `KS`; writes ``fig6.json`` and ``fig6.png`` in ``out_dir`` (``settings``: the
  benchmark's, default `Settings()`), each row as it is measured to ``fig6_rows.jsonl``, from which a rerun resumes."""
  settings = settings or Settings()
  rows = measured.resumable(
    os.path.join(out_dir, f"{NAME}_rows.jsonl"),
    {"scale": scale.name, "settings": dataclasses.asdict(settings)},
    scaling.configurations(scaling.PLANNERS, scale.sizes, KS),
    lambda config: scaling.measure_configuration(config, settings),
  )
  with open(os.path.join(out_dir, f"{NAME}.json"), "w") as f:
    json.dump({"scale": scale.name, "claim": CLAIM, "rows": rows}, f, indent=1)
  scaling.plot(rows, os.path.join(out_dir, f"{NAME}.png"))
  return rows
