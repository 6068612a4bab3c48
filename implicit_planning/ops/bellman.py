"""The VIN-family Bellman update ``V = max_o Σ_i conv(x_i, W_i)`` with a sparse hand-written VJP.

The VIN planners spend most of their time here (see `conv2d_max`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from implicit_planning.ops.conv import ConvImpl, check_kernel, conv2d, shifts_conv
from implicit_planning.ops.windows import col2im, im2col

# `conv2d_max` computes Q as broadcast multiply-adds (`conv.shifts_conv`) on CPU up
# to this many terms per output channel (k·k·C_in): 9 or 18 for VIN's reward
# and value kernels fuse into one loop; SymVIN's 81 go through `conv2d`.
SHIFTS_MAX_TERMS = 27


def _first_argmax(q: jax.Array, q_max: jax.Array) -> jax.Array:
  """The first index along axis -2 where ``q`` equals its maximum ``q_max``.

  A float minimum over ``where(q == max, index, n)``: on XLA:CPU twice as fast
  as an integer minimum (split into a slow reduce-window beyond 32 channels)
  and four times ``jnp.argmax`` (a variadic reduction). Indices are exact
  floats (up to 2²⁴ channels).
  """
  n = q.shape[-2]
  if q.shape[-1] == 1:
    # One group: reduce over the minor axis, which XLA:CPU vectorises far better.
    q, q_max, axis = q[..., 0], q_max, -1
  else:
    q_max, axis = q_max[..., None, :], -2
  index = jax.lax.broadcasted_iota(jnp.promote_types(q.dtype, jnp.float32), q.shape, q.ndim + axis)
  first = jnp.min(jnp.where(q == q_max, index, n), axis=axis)
  if axis == -1:
    first = first[..., None]
  return first.astype(jnp.int8 if n <= 127 else jnp.int32)


def _grouped_q(xs, kernels, groups, wrap, conv):
  q = sum(conv(x, k, wrap) for x, k in zip(xs, kernels))
  return q.reshape(q.shape[:-1] + (-1, groups))


def _fwd_rule_conv(impl: ConvImpl):
  """The convolution `conv2d_max` uses when it must also find the argmax.

  On CPU, small kernels as `conv.shifts_conv`: ``Q`` is one fused loop that the
  max and the argmax both read (twice as fast as the native convolution at 40
  channels). When the max alone reads ``Q`` (the primal, e.g. an implicit
  forward solve) XLA would fuse the multiply-adds into the reduction, which is
  slow, and the native convolution is fastest (numbers: docs/performance.md).
  """

  def conv(x, kernel, wrap):
    small = kernel.shape[0] * kernel.shape[1] * kernel.shape[2] <= SHIFTS_MAX_TERMS
    if impl == "auto" and jax.default_backend() == "cpu" and small:
      return shifts_conv(x, kernel, wrap)
    return conv2d(x, kernel, wrap=wrap, impl=impl)

  return conv


def _primal_conv(impl: ConvImpl):
  return lambda x, kernel, wrap: conv2d(x, kernel, wrap=wrap, impl=impl)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv2d_max(xs, kernels, groups, wrap, impl):
  return jnp.max(_grouped_q(xs, kernels, groups, wrap, _primal_conv(impl)), axis=-2)


def _conv2d_max_fwd(xs, kernels, groups, wrap, impl):
  q = _grouped_q(xs, kernels, groups, wrap, _fwd_rule_conv(impl))
  q_max = jnp.max(q, axis=-2)
  return q_max, (xs, kernels, _first_argmax(q, q_max))


def _conv2d_max_bwd(groups, wrap, impl, residuals, dv):
  """Only the selected channel ``c = o*·G + h`` of each pixel and group element gets ``dv``.

  So the input gradient gathers kernel columns instead of multiplying by the
  whole kernel, and the kernel gradient scatter-adds patch rows into the
  selected columns instead of forming the dense one-hot cotangent of ``Q``
  (about 10× and 3× faster on CPU at 40 channels).
  """
  del impl
  xs, kernels, best = residuals
  selected = best.astype(jnp.int32) * groups + jnp.arange(groups)  # [..., H, W, G]
  dxs, dkernels = [], []
  for x, kernel in zip(xs, kernels):
    size, c_out = kernel.shape[0], kernel.shape[-1]
    columns = kernel.reshape(-1, c_out).T  # [C_out, k·k·C_in]
    dpatches = jnp.einsum("...g,...gp->...p", dv, jnp.take(columns, selected, axis=0, mode="clip"))
    dxs.append(col2im(dpatches, size, wrap))
    patches = im2col(x, size, wrap)  # [..., H, W, P]
    rows = (dv[..., None] * patches[..., None, :]).reshape(-1, patches.shape[-1])
    dcolumns = jnp.zeros_like(columns).at[selected.reshape(-1)].add(rows)
    dkernels.append(dcolumns.T.reshape(kernel.shape))
  return tuple(dxs), tuple(dkernels)


_conv2d_max.defvjp(_conv2d_max_fwd, _conv2d_max_bwd)


def conv2d_max(
  xs: Sequence[jax.Array],
  kernels: Sequence[jax.Array],
  *,
  wrap: bool,
  groups: int = 1,
  impl: ConvImpl = "auto",
) -> jax.Array:
  """``V[h] = max_o Q[o·G + h]`` with ``Q = Σ_i conv2d(xs[i], kernels[i])``: a Bellman update.

  ``groups = G`` splits the ``C_out = n·G`` channels of ``Q`` field-major
  into ``n`` candidates per output channel ``h`` (VIN: ``G = 1``; SymVIN: one
  regular field per candidate, ``G = |G|``). Several inputs (reward and
  value, say) keep the loop-invariant terms separate so XLA can hoist them.

  The VJP is hand-written: at each pixel and ``h`` only the maximising
  channel receives the cotangent (the first one in a tie: the gradient is
  exact wherever the max is unique, and one element of the subdifferential
  otherwise; ``jnp.max``'s own VJP splits ties evenly and costs about twice
  as much). The saved residuals are the inputs and the winning index (int8
  up to 127 candidates), not ``Q``. Reverse mode only: ``jax.jvp`` through
  it raises (a ``custom_vjp``).

  Args:
    xs: inputs ``[..., H, W, C_i]`` (same leading and spatial shape).
    kernels: ``[k_i, k_i, C_i, C_out]`` each, odd ``k_i``.
    wrap: circular padding.
    groups: ``G``, dividing ``C_out``.
    impl: formulation of the forward convolutions (see `conv2d`).

  Returns:
    ``[..., H, W, G]``.
  """
  if len(xs) != len(kernels) or not xs:
    raise ValueError(f"conv2d_max needs as many inputs as kernels (>= 1), got {len(xs)} and {len(kernels)}.")
  c_out = kernels[0].shape[-1]
  if any(k.shape[-1] != c_out for k in kernels) or c_out % groups:
    raise ValueError(
      f"conv2d_max: kernels need one C_out divisible by groups={groups}, got {[k.shape for k in kernels]}."
    )
  for x, kernel in zip(xs, kernels):
    check_kernel(x, kernel)
  return _conv2d_max(tuple(xs), tuple(kernels), groups, wrap, impl)
