"""The action losses: one optimal action per cell, or the probability mass on all of them."""

from __future__ import annotations

import jax
import jax.numpy as jnp

LABELS = ("one", "set")
"""Label modes of `cell_loss`."""


def sample_labels(key: jax.Array, opt_actions: jax.Array) -> jax.Array:
  """One optimal action per cell, uniformly among the optimal ones.

  Args:
    key: PRNG key.
    opt_actions: [B, 4, H, W] bool optimal-action sets.

  Returns:
    [B, H, W] int32 labels (0 where a cell has no optimal action; such cells are masked).
  """
  noise = jax.random.gumbel(key, opt_actions.shape)
  return jnp.argmax(jnp.where(opt_actions, noise, -jnp.inf), axis=1).astype(jnp.int32)


def cell_loss(logits: jax.Array, opt_actions: jax.Array, labels: jax.Array, label_mode: str) -> jax.Array:
  """Mean over the batch's labelled cells of the action cross-entropy.

  Labelled cells are those with an optimal action: free, reachable and not the goal.

  Args:
    logits: [B, 4, H, W] action scores.
    opt_actions: [B, 4, H, W] bool optimal-action sets.
    labels: [B, H, W] int32 one optimal action per cell (used when `label_mode == "one"`).
    label_mode: "one": -log p(label); "set": -log sum_{a optimal} p(a).
  """
  log_p = jax.nn.log_softmax(logits, axis=1)
  if label_mode == "one":
    per_cell = -jnp.take_along_axis(log_p, labels[:, None], axis=1)[:, 0]
  else:
    per_cell = -jax.nn.logsumexp(jnp.where(opt_actions, log_p, -jnp.inf), axis=1)
  labelled = opt_actions.any(axis=1)
  return jnp.sum(jnp.where(labelled, per_cell, 0.0)) / jnp.maximum(labelled.sum(), 1)


def map_loss(map_logits: jax.Array, maps: jax.Array) -> jax.Array:
  """Mean binary cross-entropy of obstacle logits ``[B, H, W]`` against the true maps (1 = free)."""
  return obstacle_loss(map_logits, maps == 0)


def obstacle_loss(logits: jax.Array, blocked: jax.Array) -> jax.Array:
  """Mean binary cross-entropy of obstacle logits against where the obstacles are (bool, same shape)."""
  return jnp.mean(jnp.logaddexp(0.0, logits) - blocked.astype(logits.dtype) * logits)
