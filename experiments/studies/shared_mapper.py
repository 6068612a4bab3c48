"""Sweeps whose runs share one pretrained mapper: the mapper run first, each planner's phases after it."""

from __future__ import annotations

import dataclasses
from typing import Any

from experiments.training.sweeps import ROOT, Run

SHARED_MAPPER = {"mapper_from": f"{ROOT}/mapper/mapper"}
"""Every planner's joint phase starts from the sweep's ``mapper`` run (one seed, shared)."""


def source_label(path: str) -> str | None:
  """The sweep run whose folder ``path`` (a ``mapper_from`` / ``planner_from`` flag) lies in, if any."""
  prefix = f"{ROOT}/"
  return path[len(prefix) :].split("/")[0] if path.startswith(prefix) else None


def after_pretraining(*runs: Run) -> tuple[Run, ...]:
  """``runs``, each set to wait for the sweep runs that its ``mapper_from`` / ``planner_from`` name."""

  def waits_for(run: Run) -> tuple[str, ...]:
    sources = (source_label(run.flags.get(flag, "")) for flag in ("mapper_from", "planner_from"))
    return tuple(label for label in sources if label)

  return tuple(dataclasses.replace(run, after=waits_for(run)) if waits_for(run) else run for run in runs)


def joint_ablation(label: str, pretrained: str, note: str, **flags: Any) -> Run:
  """A joint phase alone, from the shared mapper and run ``pretrained``'s planner, with ``flags``."""
  return Run(label, {**flags, **SHARED_MAPPER, "planner_from": f"{ROOT}/{pretrained}/planner"}, note)
