"""What a planner family provides, and the options every planner accepts.

A family (VIN, SymVIN, ConvGPPN) is four module factories: the encoder (map
and goal → reward features), the iterated cell ``f(v, prepare(r))`` with its
``prepare`` and ``readout``, the policy head, and optionally a learned initial state for the
explicit mode. `implicit_planning.planner` composes them with a gradient mode.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from implicit_planning.grid_conv import CONV_IMPLS, ConvImpl

GROUPS = ("d4", "c4")


@dataclasses.dataclass(frozen=True)
class PlannerOptions:
  """Architecture options; a family ignores those that do not apply to it.

  Attributes:
    l_h: hidden channels of the encoder (and of the ConvGRU state).
    l_q: Q channels (VIN) or regular Q fields (SymVIN).
    kernel_size: odd size ``F`` of the cell's convolutions.
    group: ``"d4"`` or ``"c4"`` (SymVIN).
    wrap: circular padding in every convolution (torus tasks).
    contraction: ``γ < 1`` makes VIN/SymVIN cells provable contractions; ``None`` is the paper's cell.
    dtype: parameter and activation dtype.
    conv_impl: convolution formulation (see `grid_conv`).
  """

  l_h: int = 150
  l_q: int = 100
  kernel_size: int = 3
  group: str = "d4"
  wrap: bool = False
  contraction: float | None = None
  dtype: jnp.dtype = jnp.float32
  conv_impl: ConvImpl = "auto"

  def __post_init__(self):
    if self.l_h < 1 or self.l_q < 1:
      raise ValueError(f"l_h and l_q must be >= 1, got l_h={self.l_h}, l_q={self.l_q}.")
    if self.kernel_size < 1 or self.kernel_size % 2 != 1:
      raise ValueError(f"kernel_size must be a positive odd number, got {self.kernel_size}.")
    if self.group not in GROUPS:
      raise ValueError(f"Unknown group {self.group!r}; expected one of {GROUPS}.")
    if self.conv_impl not in CONV_IMPLS:
      raise ValueError(f"Unknown conv_impl {self.conv_impl!r}; expected one of {CONV_IMPLS}.")
    if self.contraction is not None and not 0.0 < self.contraction < 1.0:
      raise ValueError(f"contraction must be in (0, 1) or None, got {self.contraction}.")


ModuleFactory = Callable[..., nn.Module]


class RewardsAsContext:
  """Mixin for cells whose loop-invariant context is ``R`` itself: the VIN-family updates
  (`grid_conv.conv2d_max`) keep the reward term apart so XLA hoists it out of the loop."""

  def prepare(self, r: jax.Array) -> jax.Array:
    return r


@dataclasses.dataclass(frozen=True)
class CellFamily:
  """Factories ``(options, **module_kwargs) -> nn.Module`` of one planner family.

  Attributes:
    encoder: ``obs [B, H, W, 2] → r [B, H, W, C_r]``.
    cell: ``f(v [..., H, W, C_v], context) → v`` on a grid or a batch of them, with a
      ``prepare(r [..., H, W, C_r]) → context`` method (the loop-invariant part of ``f``,
      computed once per forward pass) and a
      ``readout(v, r) → (features [..., H, W, C_f], values [..., H, W] | None)`` method.
    head: ``features [B, H, W, C_f] → logits [B, H, W, 4]`` (north, west, south, east).
    value_channels: ``C_v`` of the iterated state.
    initial_state: ``r [B, H, W, C_r] → v0`` for the explicit mode, or ``None`` (zeros).
      The implicit mode always starts from zeros: its equilibrium must not
      depend on the start.
  """

  encoder: ModuleFactory
  cell: ModuleFactory
  head: ModuleFactory
  value_channels: Callable[[PlannerOptions], int]
  initial_state: ModuleFactory | None = None
