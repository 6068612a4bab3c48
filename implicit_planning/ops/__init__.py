"""Grid operations the planners are built from: convolutions (direct, hybrid, Winograd), the
Bellman max op, the symmetry groups D4/C4 and their group convolutions, and the action convention.

Pure functions of arrays; imports nothing of the project above it.
"""

from implicit_planning.ops.actions import ACTION_DELTAS, ACTIONS
from implicit_planning.ops.bellman import conv2d_max
from implicit_planning.ops.conv import CONV_IMPLS, ConvImpl, conv2d, resolve_impl
from implicit_planning.ops.group_conv import expand_kernel, group_conv, invariant_kernel
from implicit_planning.ops.groups import GROUPS, Group, get_group

__all__ = [
  "ACTIONS",
  "ACTION_DELTAS",
  "CONV_IMPLS",
  "ConvImpl",
  "GROUPS",
  "Group",
  "conv2d",
  "conv2d_max",
  "expand_kernel",
  "get_group",
  "group_conv",
  "invariant_kernel",
  "resolve_impl",
]
