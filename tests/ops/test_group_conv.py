"""Group convolutions (lifting, regular, invariant) are exactly equivariant under D4 and C4."""

import jax
import jax.numpy as jnp
import pytest

from implicit_planning.ops import groups
from implicit_planning.ops.conv import conv2d
from implicit_planning.ops.group_conv import group_conv, invariant_kernel

GROUP_NAMES = groups.GROUPS


def scaled_error(actual: jax.Array, expected: jax.Array) -> jax.Array:
  """``max |actual − expected| / max |expected|``: float32 rounding is relative to the values' scale."""
  return jnp.max(jnp.abs(actual - expected)) / jnp.max(jnp.abs(expected))


@pytest.mark.parametrize("name", GROUP_NAMES)
@pytest.mark.parametrize("wrap", [False, True])
def test_group_convolutions_are_equivariant(name, wrap):
  group = groups.get_group(name)
  keys = jax.random.split(jax.random.key(0), 4)
  trivial = jax.random.normal(keys[0], (6, 6, 2))
  regular = jax.random.normal(keys[1], (6, 6, 2 * group.order))
  lift_kernel = jax.random.normal(keys[2], (3, 3, 2, 3))
  group_kernel = jax.random.normal(keys[3], (3, 3, 2 * group.order, 3))

  @jax.jit
  def errors():
    """Per element: lifting, group and invariant convolutions, and the invariant kernel itself."""
    lift = lambda x: group_conv(x, lift_kernel, group, "trivial", wrap=wrap)
    convolve = lambda x: group_conv(x, group_kernel, group, "regular", wrap=wrap)
    symmetric = invariant_kernel(lift_kernel, group)
    smooth = lambda x: conv2d(x, symmetric, wrap=wrap)
    return jnp.array(
      [
        [
          scaled_error(lift(groups.act_on_grid(trivial, g, group)), groups.act_on_regular(lift(trivial), g, group)),
          scaled_error(
            convolve(groups.act_on_regular(regular, g, group)), groups.act_on_regular(convolve(regular), g, group)
          ),
          scaled_error(smooth(groups.act_on_grid(trivial, g, group)), groups.act_on_grid(smooth(trivial), g, group)),
          scaled_error(groups.act_on_grid(symmetric, g, group, axes=(0, 1)), symmetric),
        ]
        for g in range(group.order)
      ]
    )

  assert float(jnp.max(errors())) < 1e-6
