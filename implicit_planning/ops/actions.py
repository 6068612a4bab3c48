"""The action convention shared by the planners, the metrics and the data generators.

Four unit moves on a grid, in the order of the planners' logits and of every
dataset's ``opt_actions``: north, west, south, east, as ``(row, col)`` offsets
(rows grow downwards). Pure NumPy, so ``data_gen`` uses it without JAX work.
"""

from __future__ import annotations

import numpy as np

ACTIONS: tuple[str, ...] = ("north", "west", "south", "east")
"""Action names in logit order."""

ACTION_DELTAS: np.ndarray = np.array([[-1, 0], [0, -1], [1, 0], [0, 1]])
"""``[4, 2]`` ``(row, col)`` offset of each action, in logit order."""
ACTION_DELTAS.flags.writeable = False
