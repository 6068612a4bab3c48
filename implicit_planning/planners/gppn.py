"""GPPN (Lee et al., 2018): a convolutional LSTM whose state ``(h, c)`` is a pair of grids.

The shipped baseline that the paper's ConvGPPN modifies. As in GPPN, the map and goal go through
one 3×3 convolution to ``l_h`` features, which give the explicit planner's initial state
``(h₀, c₀)`` by two more 3×3 convolutions; at every step an ``F×F`` convolution reads ``h`` into
one channel ``x`` and a per-cell LSTM takes ``x`` as its input. GPPN feeds the map only through
``(h₀, c₀)``, so its equilibrium would forget the map; here the LSTM also reads the encoder's
features at every step (the input injection of DiffPlan's implicit GPPN), which makes the same
cell meaningful in both modes: ``gppn`` unrolls it, ``id_gppn`` solves for its equilibrium.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from implicit_planning.ops import ConvImpl, conv2d
from implicit_planning.planners.family import CellFamily
from implicit_planning.planners.layers import GridConv

LSTMState = tuple[jax.Array, jax.Array]
"""``(h, c)``, each ``[..., H, W, hidden]``."""


class ConvLSTMCell(nn.Module):
  """``c' = σ(f) c + σ(i) tanh(g)``, ``h' = σ(o) tanh(c')`` with gates from ``[conv_F(h), R, h]``.

  Attributes:
    hidden: channels of ``h`` and ``c``.
    kernel_size: odd size ``F`` of the convolution that reads ``h`` (GPPN's ``f``).
    wrap: circular padding (torus tasks).
    reward_channels: channels of the injected features ``R``.
    dtype: parameter dtype.
    impl: convolution formulation.
  """

  hidden: int = 150
  kernel_size: int = 3
  wrap: bool = False
  reward_channels: int = 150
  dtype: jnp.dtype = jnp.float32
  impl: ConvImpl = "auto"

  def setup(self):
    init = nn.initializers.lecun_normal()
    k, gates = self.kernel_size, 4 * self.hidden
    self.read_kernel = self.param("read_kernel", init, (k, k, self.hidden, 1), self.dtype)
    self.read_bias = self.param("read_bias", nn.initializers.zeros, (1,), self.dtype)
    # Per-cell LSTM weights on its input x (one channel), on R, and on h; i, f, g, o stacked.
    self.input_weights = self.param("input_weights", init, (1, gates), self.dtype)
    self.reward_weights = self.param("reward_weights", init, (self.reward_channels, gates), self.dtype)
    self.hidden_weights = self.param("hidden_weights", init, (self.hidden, gates), self.dtype)
    self.gates_bias = self.param("gates_bias", nn.initializers.zeros, (gates,), self.dtype)

  def zero_state(self, r: jax.Array) -> LSTMState:
    """``(h, c) = (0, 0)``, each ``[..., H, W, hidden]`` for ``r: [..., H, W, C_r]``."""
    zeros = jnp.zeros(r.shape[:-1] + (self.hidden,), self.dtype)
    return zeros, zeros

  def prepare(self, r: jax.Array) -> jax.Array:
    """``R``'s share of the gate pre-activations (with the bias): loop-invariant, computed once."""
    return r @ self.reward_weights + self.gates_bias

  def __call__(self, state: LSTMState, drive: jax.Array) -> LSTMState:
    """One LSTM step on every cell: ``(h, c)`` and `prepare`'s output → ``(h', c')``."""
    h, c = state
    x = conv2d(h, self.read_kernel, wrap=self.wrap, impl=self.impl) + self.read_bias
    gates = drive + x * self.input_weights[0] + h @ self.hidden_weights
    input_gate, forget_gate, candidate, output_gate = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(forget_gate) * c + jax.nn.sigmoid(input_gate) * jnp.tanh(candidate)
    return jax.nn.sigmoid(output_gate) * jnp.tanh(c), c

  def readout(self, state: LSTMState, r: jax.Array) -> tuple[jax.Array, None]:
    """The policy head reads ``h``; the value map is the best logit."""
    del r
    return state[0], None


class LSTMInitialState(nn.Module):
  """GPPN's ``(h₀, c₀)``: two 3×3 convolutions (with bias) of the encoder's features."""

  hidden: int
  wrap: bool = False
  impl: ConvImpl = "auto"

  @nn.compact
  def __call__(self, r: jax.Array) -> LSTMState:
    conv = dict(kernel_size=3, wrap=self.wrap, use_bias=True, impl=self.impl)
    return GridConv(self.hidden, name="h0", **conv)(r), GridConv(self.hidden, name="c0", **conv)(r)


def _encoder(options, **kwargs) -> nn.Module:
  return GridConv(options.l_h, 3, options.wrap, use_bias=True, impl=options.conv_impl, **kwargs)


def _cell(options, **kwargs) -> nn.Module:
  return ConvLSTMCell(
    options.l_h, options.kernel_size, options.wrap, options.l_h, options.jax_dtype, options.conv_impl, **kwargs
  )


def _head(options, **kwargs) -> nn.Module:
  return GridConv(4, 1, options.wrap, use_bias=False, impl=options.conv_impl, **kwargs)


def _initial_state(options, **kwargs) -> nn.Module:
  return LSTMInitialState(options.l_h, options.wrap, options.conv_impl, **kwargs)


GPPN = CellFamily(
  encoder=_encoder,
  cell=_cell,
  head=_head,
  options=("l_h", "kernel_size", "head_reads_start"),
  initial_state=_initial_state,
)
