"""What a planner family provides: module factories for the encoder, the iterated cell and the head.

A family (VIN, SymVIN, ConvGPPN, GPPN) is a `CellFamily`; `network.PlannerNet`
composes it with a gradient mode (`Implicit` or `Unrolled`), and
`registry.register_family` makes it available by name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax

from implicit_planning.planners.options import PlannerOptions

ModuleFactory = Callable[..., nn.Module]
"""``factory(options: PlannerOptions, **module_kwargs) -> nn.Module``."""

State = Any
"""A cell's iterated state: any pytree of ``[..., H, W, C]`` arrays (VIN: ``V``; ConvLSTM: ``(h, c)``)."""


class RewardsAsContext:
  """Mixin for cells whose loop-invariant context is ``R`` itself: the VIN-family updates
  (`ops.conv2d_max`) keep the reward term apart so XLA hoists it out of the loop."""

  def prepare(self, r: jax.Array) -> jax.Array:
    return r


@dataclasses.dataclass(frozen=True)
class CellFamily:
  """Factories ``(options, **module_kwargs) -> nn.Module`` of one planner family.

  Attributes:
    encoder: ``obs [B, H, W, 2] → r [B, H, W, C_r]`` (map and goal one-hot → reward features).
    cell: the iterated map, a module with, on a batch of grids:
      ``zero_state(r) → state`` (zeros shaped like the state; no parameters used),
      ``prepare(r) → context`` (the loop-invariant part of ``f``, computed once per forward pass),
      ``__call__(state, context) → state`` (one application of ``f``), and
      ``readout(state, r) → (features [B, H, W, C_f], values [B, H, W] | None)``.
    head: ``features → logits [B, H, W, 4]`` (north, west, south, east).
    options: the architecture fields of `PlannerOptions` the family reads (``l_h``, ...).
    initial_state: ``r → state`` for the explicit mode, or ``None`` (zeros). The implicit mode
      starts from zeros unless ``warm_start``: its equilibrium must not depend on the start.
      With ``head_reads_start`` the head also reads this state (either mode), which trains it.
  """

  encoder: ModuleFactory
  cell: ModuleFactory
  head: ModuleFactory
  options: tuple[str, ...]
  initial_state: ModuleFactory | None = None

  def __post_init__(self):
    unknown = set(self.options) - {field.name for field in dataclasses.fields(PlannerOptions)}
    if unknown:
      raise ValueError(f"CellFamily reads unknown options {sorted(unknown)}.")
