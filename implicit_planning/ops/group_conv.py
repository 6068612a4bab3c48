"""Group-equivariant convolutions on grids (D4 or C4, regular representations).

A group convolution is an ordinary `conv.conv2d` whose kernel is the
stack of ``|G|`` transformed copies of a free base kernel, one per output
group element ``h`` (`expand_kernel`):

  ``out(x)[o, h] = Σ_d Σ_{c, k} ψ_{o,c}(h⁻¹d)[h⁻¹k] · in(x + d)[c, k]``,

i.e. the copy for ``h`` is the base kernel moved by ``h`` as a regular field
(`groups.act_on_regular` on the kernel grid) when the input is regular, or
only rotated/mirrored when the input is trivial (the *lifting* layer). Then
``conv(g·in) = g·conv(in)`` exactly, in the conventions of `groups`. A kernel
between trivial fields is made invariant by averaging its copies
(`invariant_kernel`).

Expanding is a handful of reversals, transposes and gathers on a small
kernel; inside a fixed-point loop it depends on loop-invariant parameters
only, and XLA hoists it out of the loop (see `symvin`).
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp

from implicit_planning.ops.conv import ConvImpl, conv2d
from implicit_planning.ops.groups import Group, act_on_grid, regular_permutation

FieldType = Literal["trivial", "regular"]


def transform_kernel(kernel: jax.Array, g: int, group: Group, input_field: FieldType) -> jax.Array:
  """``g`` acting on a base kernel ``[k, k, C_in, C_out]`` seen as a field over offsets.

  The offsets move by ``g``; for a regular input (``C_in = fields·|G|``,
  field-major) the input group channels are permuted by ``ρ(g)`` as well.
  """
  moved = act_on_grid(kernel, g, group, axes=(0, 1))
  if input_field == "trivial":
    return moved
  k, _, c_in, c_out = kernel.shape
  fields = moved.reshape(k, k, c_in // group.order, group.order, c_out)
  return fields[:, :, :, regular_permutation(g, group)].reshape(kernel.shape)


def expand_kernel(kernel: jax.Array, group: Group, input_field: FieldType) -> jax.Array:
  """The full kernel ``[k, k, C_in, C_out·|G|]`` (output fields field-major) of a base kernel.

  Args:
    kernel: ``[k, k, C_in, C_out]`` free parameters; ``C_in`` counts channels
      (``fields·|G|`` for a regular input), ``C_out`` counts regular output fields.
    group: the symmetry group.
    input_field: ``"trivial"`` (lifting layer) or ``"regular"`` (group convolution).
  """
  if input_field == "regular" and kernel.shape[2] % group.order:
    raise ValueError(f"A regular input needs a multiple of |G|={group.order} channels, got {kernel.shape[2]}.")
  copies = [transform_kernel(kernel, g, group, input_field) for g in range(group.order)]
  return jnp.stack(copies, axis=-1).reshape(kernel.shape[:3] + (-1,))


def invariant_kernel(kernel: jax.Array, group: Group) -> jax.Array:
  """The average of the ``|G|`` moved copies of ``[k, k, C_in, C_out]``: a ``G``-invariant kernel.

  A convolution between trivial fields is equivariant iff its kernel is
  invariant; averaging is the orthogonal projection onto those kernels.
  """
  copies = [act_on_grid(kernel, g, group, axes=(0, 1)) for g in range(group.order)]
  return sum(copies) / group.order


def group_conv(
  x: jax.Array,
  kernel: jax.Array,
  group: Group,
  input_field: FieldType,
  *,
  wrap: bool,
  impl: ConvImpl = "auto",
) -> jax.Array:
  """Equivariant same-size convolution: ``[..., H, W, C_in]`` → ``[..., H, W, C_out·|G|]``.

  See `expand_kernel` for the kernel layout; padding and formulation are `conv2d`'s.
  """
  return conv2d(x, expand_kernel(kernel, group, input_field), wrap=wrap, impl=impl)
