"""The rows of a measured figure (6, 10), kept as they are measured: an interrupted measurement
resumes where it stopped, and a rerun of a finished one measures nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from experiments.training import logs

Row = dict[str, Any]


def resumable(
  path: str, context: Mapping[str, Any], configs: Sequence[Row], measure: Callable[[Row], Row]
) -> list[Row]:
  """Each of ``configs`` with its measurement (``measure(config)``'s keys added): read from ``path``
  (JSON lines: ``context``, then one row per line) when measured before, else measured and appended.

  Raises:
    ValueError: ``path`` was measured in another ``context`` (other settings or scale).
  """
  done = _read(path, context)
  rows = []
  for config in configs:
    row = next((r for r in done if {name: r.get(name) for name in config} == config), None)
    if row is None:
      row = {**config, **measure(config)}
      _append(path, context, row)
    rows.append(row)
  return rows


def _read(path: str, context: Mapping[str, Any]) -> list[Row]:
  lines = logs.read_jsonl(path)
  if lines and lines[0] != {"context": dict(context)}:
    raise ValueError(
      f"{path} was measured with {lines[0].get('context')}, not {dict(context)}: remove it or use another root"
    )
  return lines[1:]


def _append(path: str, context: Mapping[str, Any], row: Row) -> None:
  new = not os.path.exists(path) or os.path.getsize(path) == 0
  with open(path, "a") as f:
    if new:
      f.write(json.dumps({"context": dict(context)}) + "\n")
    f.write(json.dumps(row) + "\n")
