"""The ConvGPPN cell: a convolutional GRU with the reward map injected at every step.

The paper's modified GPPN: a GRU instead of GPPN's LSTM (one state, so it is a
fixed-point map ``h ← f(h, R)``), convolutions instead of fully connected
gates, and no max. The same cell is unrolled (``conv_gppn``) or solved for its
equilibrium (``id_conv_gppn``).

A ``contraction`` γ bounds the ℓ1 norm of every output channel of the three
state-to-state kernels (update, reset, candidate) by γ, as VIN's value kernel
(`vin.contract_kernel`). With ``|h|∞ ≤ 1`` (the GRU keeps it from zeros) the step's
sup-norm Lipschitz constant at a cell with update gate ``z`` is then at most
``1 − (1 − z)(1 − γ(1 + γ/4)) + γ/2``: the bound caps how expansive the learned
cell can get, but it is no proof of contraction, since a gate that saturates at
``z → 1`` leaves the state as it is (Lipschitz 1) and the gate's own dependence on
``h`` adds ``γ/2``. `tests/planners` checks the bound where the gates are closed.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from implicit_planning.ops import ConvImpl, conv2d
from implicit_planning.planners.encoder import RewardEncoder
from implicit_planning.planners.family import CellFamily
from implicit_planning.planners.layers import GridConv
from implicit_planning.planners.vin import contract_kernel


class ConvGRUCell(nn.Module):
  """``h' = (1 − z) ⊙ n + z ⊙ h`` with gates from ``F×F`` convolutions of ``[R, h]``.

  Each kernel covers ``[R, h]``; `prepare` applies its reward part once per
  forward pass and ``__call__`` the state part at every step.

  Attributes:
    hidden: channels of the state ``h``.
    kernel_size: odd gate-convolution size.
    wrap: circular padding in every gate (torus tasks).
    reward_channels: channels of ``R``.
    dtype: parameter dtype.
    impl: convolution formulation.
    contraction: ``γ`` in (0, 1) bounds each state-to-state kernel channel's ℓ1 norm (module
      docstring); 0 keeps the paper's cell.
    contraction_form: how (`options.CONTRACTION_FORMS`).
  """

  hidden: int = 150
  kernel_size: int = 3
  wrap: bool = False
  reward_channels: int = 1
  dtype: jnp.dtype = jnp.float32
  impl: ConvImpl = "auto"
  contraction: float = 0.0
  contraction_form: str = "normalize"

  def setup(self):
    k, c_in = self.kernel_size, self.reward_channels + self.hidden
    init = nn.initializers.lecun_normal()
    # Update and reset gates share one convolution; the candidate has its own.
    self.gates_kernel = self.param("gates_kernel", init, (k, k, c_in, 2 * self.hidden), self.dtype)
    self.gates_bias = self.param("gates_bias", nn.initializers.zeros, (2 * self.hidden,), self.dtype)
    self.candidate_kernel = self.param("candidate_kernel", init, (k, k, c_in, self.hidden), self.dtype)
    self.candidate_bias = self.param("candidate_bias", nn.initializers.zeros, (self.hidden,), self.dtype)

  def zero_state(self, r: jax.Array) -> jax.Array:
    """``h = 0``: ``[..., H, W, hidden]`` for ``r: [..., H, W, C_r]``."""
    return jnp.zeros(r.shape[:-1] + (self.hidden,), self.dtype)

  def prepare(self, r: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The reward's share of the gate and candidate pre-activations, ``conv(R) + bias``.

    Loop-invariant, so the planner computes it once per forward pass: an
    unrolled backward pass then adds up its cotangent (one add per layer) and
    differentiates the reward convolutions once, not once per layer.
    """
    c_r, conv = self.reward_channels, dict(wrap=self.wrap, impl=self.impl)
    return (
      conv2d(r, self.gates_kernel[:, :, :c_r], **conv) + self.gates_bias,
      conv2d(r, self.candidate_kernel[:, :, :c_r], **conv) + self.candidate_bias,
    )

  def state_kernels(self) -> tuple[jax.Array, jax.Array]:
    """The state-to-state parts of the gate and candidate kernels, contracted if asked."""
    c_r = self.reward_channels
    kernels = self.gates_kernel[:, :, c_r:], self.candidate_kernel[:, :, c_r:]
    if not self.contraction:
      return kernels
    return tuple(contract_kernel(kernel, self.contraction, self.contraction_form) for kernel in kernels)

  def __call__(self, h: jax.Array, drive: tuple[jax.Array, jax.Array]) -> jax.Array:
    """One GRU step: ``[H, W, hidden]`` and `prepare`'s output → ``[H, W, hidden]``."""
    gate_drive, candidate_drive = drive
    gates_kernel, candidate_kernel = self.state_kernels()
    conv = dict(wrap=self.wrap, impl=self.impl)
    gates = jax.nn.sigmoid(gate_drive + conv2d(h, gates_kernel, **conv))
    update, reset = jnp.split(gates, 2, axis=-1)
    candidate = jnp.tanh(candidate_drive + conv2d(reset * h, candidate_kernel, **conv))
    return (1.0 - update) * candidate + update * h

  def readout(self, h: jax.Array, r: jax.Array) -> tuple[jax.Array, None]:
    """The policy head reads the hidden state; the value map is the best logit."""
    del r
    return h, None


def _encoder(options, **kwargs) -> nn.Module:
  return RewardEncoder(
    options.l_h, options.reward_channels, options.wrap, options.conv_impl, activation=options.reward_encoder, **kwargs
  )


def _cell(options, **kwargs) -> nn.Module:
  return ConvGRUCell(
    options.l_h,
    options.kernel_size,
    options.wrap,
    options.reward_channels,
    options.jax_dtype,
    options.conv_impl,
    options.contraction,
    options.contraction_form,
    **kwargs,
  )


def _head(options, **kwargs) -> nn.Module:
  return GridConv(4, 1, options.wrap, use_bias=True, impl=options.conv_impl, **kwargs)


def _initial_state(options, **kwargs) -> nn.Module:
  return GridConv(options.l_h, 3, options.wrap, use_bias=True, impl=options.conv_impl, **kwargs)


CONV_GPPN = CellFamily(
  encoder=_encoder,
  cell=_cell,
  head=_head,
  options=(
    "l_h",
    "reward_channels",
    "reward_encoder",
    "kernel_size",
    "contraction",
    "contraction_form",
    "head_reads_start",
  ),
  initial_state=_initial_state,
)
