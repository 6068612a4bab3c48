"""Pretrained planners by name: ``load_pretrained("id_vin", task="maze2d", size=15)``.

A pretrained planner is a folder ``<root>/<task>_<size>/<planner>/`` holding ``params.msgpack``
(the parameters, `flax.serialization`) and ``info.json``: the `PlannerOptions` it was built with,
and what made it (the training config and command, the commit, the seed and its scores). A
planner trained behind a mapper (``load_pretrained("id_symvin", task="manip_workspace", size=18)``)
is stored with it: ``info["mapper"]`` names the mapper, its width and the observation it reads,
and the model is `with_mapper` of the two, parameters ``{"mapper", "planner"}``. The repository's
own are in ``pretrained/`` beside this package (`PRETRAINED_ROOT`); ``experiments.export_pretrained``
writes them from a finished run.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp

from implicit_planning.mappers import make_mapper, with_mapper
from implicit_planning.planners import Batch, Planner, PlannerOptions, make_planner

PRETRAINED_ROOT = pathlib.Path(__file__).resolve().parent.parent / "pretrained"
"""The repository's pretrained planners."""


@dataclasses.dataclass(frozen=True)
class Pretrained:
  """A planner (with its mapper, if it was trained behind one), its trained parameters, and the
  record of how they were made (``info.json``)."""

  planner: Planner
  params: Any
  info: dict[str, Any]


def pretrained_dir(
  name: str, task: str = "maze2d", size: int = 15, root: str | pathlib.Path | None = None
) -> pathlib.Path:
  """The folder of planner ``name`` trained on ``task`` maps of ``size``."""
  return pathlib.Path(root or PRETRAINED_ROOT) / f"{task}_{size}" / name


def available(root: str | pathlib.Path | None = None) -> list[tuple[str, str, int]]:
  """``(planner, task, size)`` of every pretrained planner under ``root``."""
  found = []
  for info in sorted(pathlib.Path(root or PRETRAINED_ROOT).glob("*/*/info.json")):
    record = json.loads(info.read_text())
    found.append((record["planner"], record["task"], record["size"]))
  return found


def save_pretrained(directory: str | pathlib.Path, params: Any, info: dict[str, Any]) -> None:
  """Writes ``params`` and ``info`` (with ``planner``, ``task``, ``size``, ``planner_options``) to ``directory``.

  Raises:
    FileExistsError: ``directory`` already holds a pretrained planner (nothing is overwritten).
    ValueError: ``info`` lacks a required entry.
  """
  missing = {"planner", "task", "size", "planner_options"} - set(info)
  if missing:
    raise ValueError(f"info lacks {sorted(missing)}")
  directory = pathlib.Path(directory)
  if (directory / "info.json").exists():
    raise FileExistsError(f"{directory} already holds a pretrained planner; remove it first to replace it")
  directory.mkdir(parents=True, exist_ok=True)
  (directory / "params.msgpack").write_bytes(flax.serialization.to_bytes(params))
  (directory / "info.json").write_text(json.dumps(info, indent=2) + "\n")


def model(info: dict[str, Any]) -> Planner:
  """The model ``info`` describes: its planner, fed by its mapper when it has one."""
  planner = make_planner(info["planner"], PlannerOptions(**info["planner_options"]))
  if "mapper" not in info:
    return planner
  mapper = info["mapper"]
  observation, module = make_mapper(mapper["name"], info["size"], mapper["width"])
  return with_mapper(planner, module, observation)


def example_batch(info: dict[str, Any]) -> Batch:
  """A batch of one problem of the shapes the model of ``info`` reads (zeros; all maps free)."""
  size = info["size"]
  batch = {"goals": jnp.zeros((1, 2), jnp.int32)}
  if "mapper" in info:
    mapper = info["mapper"]
    batch[mapper["observation"]] = jnp.zeros((1, *mapper["observation_shape"]), mapper["observation_dtype"])
  else:
    batch["maps"] = jnp.ones((1, size, size), jnp.uint8)
  return batch


def load_pretrained(
  name: str, task: str = "maze2d", size: int = 15, root: str | pathlib.Path | None = None
) -> Pretrained:
  """The pretrained planner ``name`` for ``task`` maps of ``size``: ``planner.apply(params, batch)``
  (a planner behind a mapper reads the mapper's observation, ``planner.inputs``).

  Raises:
    FileNotFoundError: there is none; the message lists the ones there are.
  """
  directory = pretrained_dir(name, task, size, root)
  if not (directory / "info.json").exists():
    there = ", ".join(f"{p} ({t}, {s})" for p, t, s in available(root)) or "none"
    raise FileNotFoundError(
      f"no pretrained {name} for {task} {size}x{size} in {directory.parent.parent}; there are: {there}"
    )
  info = json.loads((directory / "info.json").read_text())
  planner = model(info)
  template = jax.eval_shape(planner.init, jax.random.key(0), example_batch(info))
  template = jax.tree.map(lambda leaf: jnp.zeros(leaf.shape, leaf.dtype), template)
  params = flax.serialization.from_bytes(template, (directory / "params.msgpack").read_bytes())
  return Pretrained(planner, params, info)
