"""SymVIN: the VIN Bellman cell with D4- or C4-equivariant convolutions (Zhao et al., 2022).

The computation is VIN's, ``Q = Conv([R, V])`` and ``V = max over Q``, with
fields of the symmetry group ``G`` (`groups`) instead of plain channels:

  * encoder: map and goal (trivial fields) → ``l_h`` trivial hidden fields
    (3×3 ``G``-invariant kernels, with bias) → reward ``R``, one trivial field
    (1×1): the paper's "150 trivial representations". Regular hidden fields
    buy nothing here: the encoder is linear (as VIN's), and a lifting layer
    followed by the only equivariant 1×1 map from regular fields to the
    trivial ``R`` (average over the group, then mix) composes to
    ``invariant_kernel(W₁)·W₂`` again: the same functions, the same
    parameters. Formed explicitly, the ``l_h = 150`` regular hidden map made a
    training step much slower (docs/performance.md); `SymRewardEncoder` applies
    the composed 3×3 kernel, so ``l_h`` costs nothing at all.
  * cell: ``Q`` is ``l_q`` regular fields, a lifting convolution of ``R`` plus
    a group convolution of ``V``; ``V`` is one regular field (``|G|``
    channels), the max over the ``l_q`` fields taken per group element, so
    every step is equivariant. The kernels are expanded inside the step;
    they depend on loop-invariant parameters only, and XLA's loop-invariant
    code motion computes them (and the reward term) once per solve, not once
    per iteration (checked in the compiled HLO of both modes). Only an
    unrolled backward pass folds each layer's kernel cotangent back through
    the expansion: ~50 µs per layer at l_q = 40, under 1 % of a step.
  * head: an equivariant linear map from ``Q`` to the four action logits:
    a 1×1 group convolution to one regular field, summed over the cosets of
    the stabiliser of north (element ``k`` votes for the action ``k`` maps
    north to, `groups.element_actions`). For C4 this is a bijection; for D4
    an element and its mirrored twin share an action. Rotating or mirroring
    the map thus permutes the logits exactly as it permutes the actions.

The value map returned is the max of ``V`` over the group (an invariant field).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from implicit_planning.ops import ConvImpl, conv2d, conv2d_max, expand_kernel, get_group, invariant_kernel
from implicit_planning.ops.groups import element_actions
from implicit_planning.planners.encoder import hidden_layer_init, reward_layer_init
from implicit_planning.planners.family import CellFamily, RewardsAsContext
from implicit_planning.planners.options import PlannerOptions
from implicit_planning.planners.vin import (
  cell_reward_init,
  channel_discounts,
  contract_kernel,
  discount_logit_init,
  neighbour_reads,
  value_kernel_init,
)


class SymRewardEncoder(nn.Module):
  """Observation (trivial fields) → reward ``R`` ``[..., H, W, 1]``, invariant under ``group``.

  A 3×3 convolution to ``hidden`` trivial fields (``G``-invariant kernel
  ``W₁``, bias ``b₁``), then a 1×1 one to ``R`` (``W₂``). Linear, as VIN's
  encoder, so it is applied as one 3×3 convolution with kernel ``W₁·W₂`` and
  bias ``b₁·W₂``: the ``hidden``-channel map is never formed.

  Attributes:
    hidden: trivial hidden fields ``l_h``.
    group: ``"d4"`` or ``"c4"``.
    wrap: circular padding.
    impl: convolution formulation.
  """

  hidden: int
  group: str = "d4"
  wrap: bool = False
  impl: ConvImpl = "auto"
  reward_init: str = "default"

  @nn.compact
  def __call__(self, obs: jax.Array) -> jax.Array:
    kernel_init, bias_init = hidden_layer_init(self.reward_init)  # a centre tap is already invariant
    hidden_kernel = self.param("hidden_kernel", kernel_init, (3, 3, obs.shape[-1], self.hidden), obs.dtype)
    hidden_bias = self.param("hidden_bias", bias_init, (self.hidden,), obs.dtype)
    reward_weights = self.param("reward_weights", reward_layer_init(self.reward_init), (self.hidden, 1), obs.dtype)
    kernel = invariant_kernel(hidden_kernel, get_group(self.group)) @ reward_weights
    return conv2d(obs, kernel, wrap=self.wrap, impl=self.impl) + hidden_bias @ reward_weights


class SymVINCell(RewardsAsContext, nn.Module):
  """One equivariant value-iteration step on a grid ``[H, W, ·]`` or a batch ``[..., H, W, ·]``.

  Attributes:
    l_q: regular ``Q`` fields.
    kernel_size: odd size ``F`` of the transition kernels.
    group: ``"d4"`` or ``"c4"``.
    wrap: circular padding (torus tasks).
    contraction: ``γ < 1`` bounds the ℓ1 norm of each ``Q`` field's value kernel
      by ``γ`` (`vin.contract_kernel`); its transformed copies are permutations of
      it and keep the norm, so the step is a ``γ``-contraction in the sup
      norm. 0 keeps the paper's unconstrained cell.
    contraction_form: how the contraction bounds the value kernel (`options.CONTRACTION_FORMS`).
    dtype: parameter dtype.
    impl: convolution formulation.
    value_init: how the value kernel starts (`vin.value_kernel_init`).
    reward_init: ``"goal"``: every ``Q`` field reads the reward at its own cell (`vin.cell_reward_init`).
  """

  l_q: int = 100
  kernel_size: int = 3
  group: str = "d4"
  wrap: bool = False
  contraction: float = 0.0
  dtype: jnp.dtype = jnp.float32
  impl: ConvImpl = "auto"
  learned_discount: bool = False
  contraction_form: str = "normalize"
  value_init: str = "default"
  reward_init: str = "default"

  def setup(self):
    order = get_group(self.group).order
    k = self.kernel_size
    self.reward_kernel = self.param(
      "reward_kernel", cell_reward_init(self.reward_init), (k, k, 1, self.l_q), self.dtype
    )
    self.value_kernel = self.param(
      "value_kernel",
      value_kernel_init(self.contraction, self.contraction_form, self.value_init),
      (k, k, order, self.l_q),
      self.dtype,
    )
    self.discount_logit = None
    if self.learned_discount and self.contraction:  # one discount per Q field: invariant
      init = discount_logit_init(self.contraction)
      self.discount_logit = self.param("discount_logit", init, (self.l_q,), self.dtype)

  def kernels(self) -> tuple[jax.Array, jax.Array]:
    """The expanded reward and value kernels ``[F, F, 1 | |G|, l_q·|G|]`` (value part contracted if asked)."""
    group = get_group(self.group)
    value_kernel = self.value_kernel
    if self.contraction:
      discounts = channel_discounts(self.contraction, self.discount_logit)
      value_kernel = contract_kernel(value_kernel, discounts, self.contraction_form)
    return expand_kernel(self.reward_kernel, group, "trivial"), expand_kernel(value_kernel, group, "regular")

  def zero_state(self, r: jax.Array) -> jax.Array:
    """``V = 0``, one regular field: ``[..., H, W, |G|]`` for ``r: [..., H, W, 1]``."""
    return jnp.zeros(r.shape[:-1] + (get_group(self.group).order,), self.dtype)

  def __call__(self, v: jax.Array, r: jax.Array) -> jax.Array:
    """The Bellman update ``V[h] ← max_o Q[o, h]``: ``[H, W, |G|]``, ``[H, W, 1]`` → ``[H, W, |G|]``.

    `ops.conv2d_max` with the reward and value terms as two
    convolutions: the reward term is loop-invariant, and its backward pass
    touches only the winning field of each pixel and group element.
    """
    reward_kernel, value_kernel = self.kernels()
    order = get_group(self.group).order
    return conv2d_max((r, v), (reward_kernel, value_kernel), wrap=self.wrap, groups=order, impl=self.impl)

  def readout(self, v: jax.Array, r: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Features for the policy head, ``Q = lift(R) + gconv(V)`` ``[H, W, l_q·|G|]``, and the
    invariant value map ``max_h V[h]`` ``[H, W]``."""
    reward_kernel, value_kernel = self.kernels()
    conv = dict(wrap=self.wrap, impl=self.impl)
    q = conv2d(r, reward_kernel, **conv) + conv2d(v, value_kernel, **conv)
    return q, jnp.max(v, axis=-1)


def equivariant_head_init(
  scheme: str, kernel_size: int, group, value_init: str = "shift"
) -> nn.initializers.Initializer:
  """Initialiser of `EquivariantPolicyHead`'s base kernel ``[1, 1, l_q·|G|, 1]``: LeCun-normal
  (``"default"``) or ``"greedy"``.

  Greedy pairs with the shift start (``value_init``), whose field ``o`` reads the neighbour at
  `vin.shift_offsets` ``[o]``, and its copy for element ``g`` the neighbour ``g``
  moves that offset to. The base kernel averages the identity copies of the fields that read
  the northern neighbour, so element ``g``'s channel is ``R + δ V(x + g·north)`` and each move's
  logit (the mean over the elements that map north to it) is value iteration's, as VIN's greedy
  head makes it.
  """
  if scheme == "default":
    return nn.initializers.lecun_normal()

  def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    del key  # deterministic, like the shift it reads
    fields = shape[2] // group.order
    north = neighbour_reads(fields, kernel_size, 1, value_init)[:, 0]  # [l_q]
    weights = np.zeros((fields, group.order))
    weights[:, 0] = north / max(north.sum(), 1.0) / (group.order // 4)  # identity copies; |G|/4 elements a move
    return jnp.asarray(weights.reshape(shape), dtype)

  return init


class EquivariantPolicyHead(nn.Module):
  """``Q`` (regular fields) → logits ``[..., H, W, 4]`` that permute with the actions.

  A 1×1 group convolution to one regular field, then each element's channel
  added to the action it maps north to; both linear, so they are one 1×1
  convolution (``[l_q·|G|, 4]``). No bias, as VIN's head.

  Attributes:
    group: ``"d4"`` or ``"c4"``.
    wrap: circular padding (irrelevant for 1×1, kept for uniformity).
    impl: convolution formulation.
    kernel_init: the base kernel's initialiser (`equivariant_head_init`).
  """

  group: str = "d4"
  wrap: bool = False
  impl: ConvImpl = "auto"
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, features: jax.Array) -> jax.Array:
    group = get_group(self.group)
    shape = (1, 1, features.shape[-1], 1)
    kernel = self.param("kernel", self.kernel_init, shape, features.dtype)
    to_actions = np.eye(4, dtype=features.dtype)[element_actions(group)]  # [|G|, 4]
    head_kernel = expand_kernel(kernel, group, "regular") @ to_actions
    return conv2d(features, head_kernel, wrap=self.wrap, impl=self.impl)


def _encoder(options: PlannerOptions, **kwargs) -> nn.Module:
  return SymRewardEncoder(options.l_h, options.group, options.wrap, options.conv_impl, options.reward_init, **kwargs)


def _cell(options: PlannerOptions, **kwargs) -> nn.Module:
  return SymVINCell(
    options.l_q,
    options.kernel_size,
    options.group,
    options.wrap,
    options.contraction,
    options.jax_dtype,
    options.conv_impl,
    options.learned_discount,
    options.contraction_form,
    options.value_init,
    options.reward_init,
    **kwargs,
  )


def _head(options: PlannerOptions, **kwargs) -> nn.Module:
  init = equivariant_head_init(options.head_init, options.kernel_size, get_group(options.group), options.value_init)
  return EquivariantPolicyHead(options.group, options.wrap, options.conv_impl, init, **kwargs)


SYMVIN = CellFamily(
  encoder=_encoder,
  cell=_cell,
  head=_head,
  options=(
    "l_h",
    "l_q",
    "kernel_size",
    "group",
    "contraction",
    "contraction_form",
    "learned_discount",
    "value_init",
    "reward_init",
    "head_init",
  ),
)
