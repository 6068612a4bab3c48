"""The VIN Bellman cell: ``Q = Conv([R, V])``, ``V = max_a Q_a``.

The update runs through `ops.conv2d_max` (reward and value terms as two
convolutions, a sparse hand-written backward pass); the parameters are one
``[F, F, C_r + 1, l_q]`` kernel as in the original VIN.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from implicit_planning.ops import ACTION_DELTAS, ConvImpl, conv2d, conv2d_max
from implicit_planning.planners.encoder import RewardEncoder
from implicit_planning.planners.family import CellFamily, RewardsAsContext
from implicit_planning.planners.layers import GridConv
from implicit_planning.planners.options import CONTRACTION_FORMS, HEAD_INITS, VALUE_INITS


def contract_kernel(kernel: jax.Array, gamma: float | jax.Array, form: str = "normalize") -> jax.Array:
  """Bounds the ℓ1 norm of each output channel of ``[k, k, C_in, C_out]`` below ``gamma``.

  Then ``v ↦ max_a (c_a + W_a ⋆ v)`` is a ``gamma``-contraction in the sup norm
  (``|max_a x_a − max_a y_a| ≤ max_a ‖W_a‖₁ ‖v − v'‖∞``), whatever the weights:
  the planner's equilibrium exists, is unique, and plain iteration reaches it.

  ``form="normalize"`` rescales every channel to norm exactly ``gamma``. ``form="squash"``
  maps a norm ``n`` to ``gamma · tanh(n / gamma)``: small kernels pass almost unchanged (the
  paper's cell, zeros included, wherever it already contracts), large ones approach ``gamma``
  smoothly, and the norm keeps a gradient both ways.
  """
  l1 = jnp.sum(jnp.abs(kernel), axis=(0, 1, 2), keepdims=True)
  if form == "squash":
    positive = l1 > 0
    safe_l1 = jnp.where(positive, l1, 1.0)
    return kernel * jnp.where(positive, gamma * jnp.tanh(safe_l1 / gamma) / safe_l1, 1.0)
  if form != "normalize":
    raise ValueError(f"Unknown contraction form {form!r}; expected one of {CONTRACTION_FORMS}.")
  return gamma * kernel / (l1 + jnp.finfo(kernel.dtype).tiny)


def initial_discount(contraction: float) -> float:
  """Where a learned discount starts: ``min(0.9, 0.95 γ)`` for the contraction ``γ``."""
  return min(0.9, 0.95 * contraction)


def discount_logit_init(contraction: float) -> nn.initializers.Initializer:
  """Logits ``θ`` with ``γ · sigmoid(θ) =`` `initial_discount`."""
  fraction = initial_discount(contraction) / contraction
  return nn.initializers.constant(float(np.log(fraction / (1 - fraction))))


def channel_discounts(contraction: float, discount_logit: jax.Array | None) -> float | jax.Array:
  """Each Q channel's contraction: ``γ``, or ``γ · sigmoid(θ_c)`` when the discount is learned."""
  return contraction if discount_logit is None else contraction * jax.nn.sigmoid(discount_logit)


SHIFT_DISCOUNT = 0.9
"""The discount of a shift-initialised value kernel (`shift_kernel_init`) without a contraction."""


def value_kernel_init(
  contraction: float, form: str = "normalize", scheme: str = "default"
) -> nn.initializers.Initializer:
  """Initialiser of a transition (value) kernel ``[F, F, C_in, l_q]``.

  ``scheme="default"``: zeros for the unconstrained or squashed cell, as VIN does. With random
  value weights the unconstrained max-cell expands (each step multiplies values by a few), so
  the first losses are huge (~1e5 for VIN, ~1e8 for SymVIN at K = 30), the forward residual
  stalls at 0.2–0.5 and ID-VIN learned to 27 % success on the quick preset instead of 55 % with
  zeros. A contracted kernel is normalised, so it starts random (zeros have no direction to
  normalise); a squashed kernel starts at zeros like the paper's.

  ``scheme="shift"`` or ``"moves"``: `shift_kernel_init`, a value-iteration step from the start
  (over every cell of the kernel, or over the four moves and staying put).
  """
  if scheme in SHIFT_SCHEMES:
    return shift_kernel_init(contraction, form, scheme)
  if scheme != "default":
    raise ValueError(f"Unknown value_init {scheme!r}; expected one of {VALUE_INITS}.")
  return nn.initializers.lecun_normal() if contraction and form == "normalize" else nn.initializers.zeros


SHIFT_SCHEMES: tuple[str, ...] = ("shift", "moves")
"""The value-iteration starts (`shift_offsets`)."""


def shift_offsets(channels: int, kernel_size: int, scheme: str = "shift") -> np.ndarray:
  """``[channels, 2]``: the (row, col) offset channel ``c`` of a shift start reads.

  ``"shift"``: the ``F²`` cells of the kernel in turn (channel ``c``: cell ``c mod F²``, row-major),
  diagonals included, so the start is value iteration over 8-connected moves; ``"moves"``: the
  cell itself and its four neighbours (`ops.ACTION_DELTAS`) in turn, value iteration over the
  agent's own moves.
  """
  if scheme == "moves":
    cycle = np.concatenate([np.zeros((1, 2), int), np.asarray(ACTION_DELTAS)])
  else:
    cycle = np.stack(np.divmod(np.arange(kernel_size**2), kernel_size), axis=-1) - kernel_size // 2
  return cycle[np.arange(channels) % len(cycle)]


def shift_kernel_init(
  contraction: float, form: str = "normalize", scheme: str = "shift"
) -> nn.initializers.Initializer:
  """Each output channel ``c`` reads one neighbour: a single weight at spatial offset
  `shift_offsets` ``[c]`` and input channel ``c mod C_in``, the rest zeros.

  Then ``V ← max_c (R_c + δ V(x + offset_c))``: the cell starts as value iteration with discount
  ``δ`` over the offsets, values travel one cell per step from the first batch, and
  training only has to learn the rewards, where zeros leave the cell blind to ``V`` until its
  value weights grow. ``δ`` is `SHIFT_DISCOUNT` without a contraction and `initial_discount`
  under a squash (the weight is sized for it); a normalised kernel has the norm its contraction
  gives it (``γ``, or the learned discount's start).
  """
  discount = initial_discount(contraction) if contraction else SHIFT_DISCOUNT
  weight = contraction * np.arctanh(discount / contraction) if contraction and form == "squash" else discount

  def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    del key  # deterministic: the reward weights break the symmetry between channels
    height, width, channels_in, channels_out = shape
    outputs = np.arange(channels_out)
    rows, cols = (shift_offsets(channels_out, height, scheme) + height // 2).T
    kernel = np.zeros(shape)
    kernel[rows, cols, outputs % channels_in, outputs] = weight
    return jnp.asarray(kernel, dtype)

  return init


def policy_head_init(scheme: str, kernel_size: int, value_init: str = "shift") -> nn.initializers.Initializer:
  """Initialiser of the 1×1 policy head ``[1, 1, l_q, 4]``: LeCun-normal (``"default"``) or
  ``"greedy"``.

  Greedy pairs with `shift_kernel_init` (``value_init``), whose channel ``c`` reads the neighbour
  at `shift_offsets` ``[c]``: each move's logit is the mean of the channels that read the
  neighbour it reaches, ``δ V(x + move)`` plus the mean of their reward terms. The first policy is
  then value iteration's, greedy in ``V``, and training has the rewards left to learn, where a
  random head mixes all nine neighbours into every move.
  """
  if scheme not in HEAD_INITS:
    raise ValueError(f"Unknown head_init {scheme!r}; expected one of {HEAD_INITS}.")
  if scheme == "default":
    return nn.initializers.lecun_normal()

  def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    del key  # deterministic, like the shift it reads
    reads = neighbour_reads(shape[2], kernel_size, shape[3], value_init)
    kernel = reads / np.maximum(reads.sum(axis=0, keepdims=True), 1.0)
    return jnp.asarray(kernel.reshape(shape), dtype)

  return init


def neighbour_reads(channels: int, kernel_size: int, moves: int = 4, value_init: str = "shift") -> np.ndarray:
  """``[channels, moves]``: 1 where shift-started channel ``c`` (`shift_offsets`) reads the
  neighbour that move ``a`` (`ops.ACTION_DELTAS`) reaches, else 0."""
  offsets = shift_offsets(channels, kernel_size, value_init)
  return np.all(offsets[:, None, :] == ACTION_DELTAS[None, :moves], axis=-1).astype(np.float64)


def cell_reward_init(scheme: str) -> nn.initializers.Initializer:
  """Initialiser of the cell's reward kernels ``[F, F, C_r, l_q]``: LeCun-normal, or for the ``"goal"``
  start (`encoder.hidden_layer_init`) weight 1 at the centre, so ``Q_c = R(x) + δ V(x + offset_c)``."""
  if scheme != "goal":
    return nn.initializers.lecun_normal()

  def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    del key  # deterministic, like the shift beside it
    size = shape[0]
    return jnp.zeros(shape, dtype).at[size // 2, size // 2].set(1.0)

  return init


class VINCell(RewardsAsContext, nn.Module):
  """One value-iteration step on a grid ``[H, W, ·]`` or a batch of grids ``[..., H, W, ·]``.

  Attributes:
    l_q: Q channels (latent actions).
    kernel_size: odd size ``F`` of the transition kernel.
    wrap: circular padding (torus tasks).
    contraction: ``γ < 1`` to make the step a provable contraction (see
      `contract_kernel`); 0 keeps the paper's unconstrained cell.
    contraction_form: how the contraction bounds the value kernel (`CONTRACTION_FORMS`).
    learned_discount: with a normalising contraction, each Q channel's value kernel has ℓ1
      norm ``γ · sigmoid(θ_c)``, ``θ`` learned (`channel_discounts`): the cell picks its own
      discount, up to ``γ``.
    reward_channels: channels of the reward map ``R``.
    dtype: parameter dtype.
    impl: convolution formulation.
    value_init: how the value kernels start (`value_kernel_init`).
    reward_init: ``"goal"``: each Q channel reads the reward at its own cell (`cell_reward_init`),
      as value iteration does; otherwise the reward kernels start LeCun-normal.
  """

  l_q: int = 100
  kernel_size: int = 3
  wrap: bool = False
  contraction: float = 0.0
  reward_channels: int = 1
  dtype: jnp.dtype = jnp.float32
  impl: ConvImpl = "auto"
  learned_discount: bool = False
  contraction_form: str = "normalize"
  value_init: str = "default"
  reward_init: str = "default"

  def setup(self):
    shape = (self.kernel_size, self.kernel_size, self.reward_channels + 1, self.l_q)
    self.kernel = self.param("kernel", self._init_kernel, shape, self.dtype)
    self.discount_logit = None
    if self.learned_discount and self.contraction:
      init = discount_logit_init(self.contraction)
      self.discount_logit = self.param("discount_logit", init, (self.l_q,), self.dtype)

  def _init_kernel(self, key: jax.Array, shape: tuple[int, ...], dtype) -> jax.Array:
    """Reward part from `cell_reward_init`; value part from `value_kernel_init`."""
    reward_key, value_key = jax.random.split(key)
    reward_shape = shape[:2] + (self.reward_channels,) + shape[3:]
    value_shape = shape[:2] + (shape[2] - self.reward_channels,) + shape[3:]
    reward_part = cell_reward_init(self.reward_init)(reward_key, reward_shape, dtype)
    value_init = value_kernel_init(self.contraction, self.contraction_form, self.value_init)
    value_part = value_init(value_key, value_shape, dtype)
    return jnp.concatenate([reward_part, value_part], axis=2)

  def split_kernel(self) -> tuple[jax.Array, jax.Array]:
    """The reward and value parts ``[F, F, C_r, l_q]``, ``[F, F, 1, l_q]`` (value part contracted if asked)."""
    reward_part = self.kernel[:, :, : self.reward_channels]
    value_part = self.kernel[:, :, self.reward_channels :]
    if self.contraction:
      discounts = channel_discounts(self.contraction, self.discount_logit)
      value_part = contract_kernel(value_part, discounts, self.contraction_form)
    return reward_part, value_part

  def zero_state(self, r: jax.Array) -> jax.Array:
    """``V = 0``: ``[..., H, W, 1]`` for ``r: [..., H, W, C_r]``."""
    return jnp.zeros(r.shape[:-1] + (1,), self.dtype)

  def q_values(self, v: jax.Array, r: jax.Array) -> jax.Array:
    """``Q = W ⋆ [R, V]``: ``[H, W, 1]``, ``[H, W, C_r]`` → ``[H, W, l_q]``."""
    reward_part, value_part = self.split_kernel()
    conv = dict(wrap=self.wrap, impl=self.impl)
    return conv2d(r, reward_part, **conv) + conv2d(v, value_part, **conv)

  def __call__(self, v: jax.Array, r: jax.Array) -> jax.Array:
    """The Bellman update ``V ← max_a Q_a``: ``[H, W, 1]``, ``[H, W, C_r]`` → ``[H, W, 1]``."""
    reward_part, value_part = self.split_kernel()
    return conv2d_max((r, v), (reward_part, value_part), wrap=self.wrap, impl=self.impl)

  def readout(self, v: jax.Array, r: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Features for the policy head (``Q``) and the value map ``[H, W]``."""
    return self.q_values(v, r), v[..., 0]


def _vin_encoder(options, **kwargs) -> nn.Module:
  return RewardEncoder(options.l_h, 1, options.wrap, options.conv_impl, options.reward_init, **kwargs)


def _vin_cell(options, **kwargs) -> nn.Module:
  return VINCell(
    options.l_q,
    options.kernel_size,
    options.wrap,
    options.contraction,
    1,
    options.jax_dtype,
    options.conv_impl,
    options.learned_discount,
    options.contraction_form,
    options.value_init,
    options.reward_init,
    **kwargs,
  )


def _policy_head(options, **kwargs) -> nn.Module:
  init = policy_head_init(options.head_init, options.kernel_size, options.value_init)
  return GridConv(4, 1, options.wrap, use_bias=False, impl=options.conv_impl, kernel_init=init, **kwargs)


VIN = CellFamily(
  encoder=_vin_encoder,
  cell=_vin_cell,
  head=_policy_head,
  options=(
    "l_h",
    "l_q",
    "kernel_size",
    "contraction",
    "contraction_form",
    "learned_discount",
    "value_init",
    "reward_init",
    "head_init",
  ),
)
