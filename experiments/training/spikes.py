"""Clipping update spikes: an update far larger than the recent ones is scaled down to a multiple of them.

The per-step trace of the paper preset's ID-VIN (`setbacks`, docs round 38) ties its one-step
setbacks to single oversized updates: an update three or more times the median of the 50 before it
was followed by a batch %Success 20 points down 43 % of the time, one under 1.5 times the median
0.2 % of the time. A global-norm clip of the *gradient* sees the spike only before RMSprop
divides it by its running scale; this clip acts on the update itself, relative to its own past.

What it does (docs rounds 38–43, 3 seeds each, the paper preset's data unless said): at a bound of 1.5 the
step setbacks after epoch 2 fall from 163 to 18 (ID-VIN, K_fwd = 45) and from 162 to 11 (VIN,
K = 45), and no validation collapse is left. The test score moves by −0.18 to +0.02 points over
the VIN family's ten runs, so there it stays an option (`--update_clip`). For the ConvGPPN twins it
moves by −0.01 and +0.04 (ID-ConvGPPN, K_fwd = 30 and 80) and by +0.50 and +0.02 (ConvGPPN, K = 30
and 80; at 30 it removes two collapses) on mazes, and on manipulation by +1.9 (ID-ConvGPPN) and
+7.2 (ConvGPPN) on 36×36, each leaving its plateau epochs sooner, and by +0.5 and +0.7 on 18×18,
without the six collapses the two had there (round 43): it is in their recipe. On 27×27 mazes it
lifts ID-ConvGPPN by 4.5 and 5.1 points (K_fwd = 30 and 10) and ConvGPPN by 2.2 and 0.9, the
latter within what reruns vary by, and both by about a point in the workspace column (round 44).
On the uniform policy's plateau it is no spike clip:
a quarter of the updates reach the bound there, and it takes 9–21 % off their summed length.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import optax

DECAY = 0.99
"""Decay of the running mean of the update norms that sets the bound."""


class SpikeClipState(NamedTuple):
  """Running mean of the (clipped) update norms, before its bias correction, and the steps taken."""

  mean_norm: jnp.ndarray
  count: jnp.ndarray


def clip_update_spikes(factor: float, decay: float = DECAY) -> optax.GradientTransformation:
  """Scales an update whose global norm exceeds ``factor`` times the running mean of the past
  updates' norms down to that bound (the first update passes as it is).

  The running mean is exponential (``decay``), bias-corrected like Adam's moments, and takes the
  clipped norms, so one spike does not raise the bound for the next.
  """
  if factor <= 1:
    raise ValueError(f"factor must be > 1 (a bound below the mean clips typical updates), got {factor}")

  def init(params) -> SpikeClipState:
    del params
    return SpikeClipState(jnp.zeros([], jnp.float32), jnp.zeros([], jnp.int32))

  def update(updates, state: SpikeClipState, params=None):
    del params
    norm = optax.tree.norm(updates)
    mean = state.mean_norm / (1 - decay ** state.count.astype(jnp.float32))
    bound = jnp.where(state.count > 0, factor * mean, jnp.inf)
    scale = jnp.minimum(1.0, bound / jnp.maximum(norm, 1e-30))
    updates = optax.tree.scale(scale, updates)
    mean_norm = decay * state.mean_norm + (1 - decay) * norm * scale
    return updates, SpikeClipState(mean_norm, state.count + 1)

  return optax.GradientTransformation(init, update)
