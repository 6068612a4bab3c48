"""implicit_gradient_error: zero for a converged backward solve, large for a truncated one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import implicit_planning as ip
from implicit_planning.grad_check import implicit_gradient_error


def problem():
  rng = np.random.default_rng(0)
  maps = jnp.asarray((rng.random((2, 7, 7)) > 0.25).astype(np.float32))
  goals = jnp.asarray(rng.integers(0, 7, (2, 2)).astype(np.int32))
  target = jnp.asarray(rng.normal(size=(2, 4, 7, 7)).astype(np.float32))
  return {"maps": maps, "goals": goals}, lambda logits: jnp.sum(jnp.tanh(logits) * target)


def test_converged_backward_matches_the_reference_and_truncated_does_not():
  batch, loss_fn = problem()
  common = dict(l_h=4, l_q=4, k_fwd=200, forward_tol=1e-7, contraction=0.95, backward_solver="iteration")
  converged = ip.make_planner("id_vin", k_bwd=400, backward_tol=1e-9, **common)
  params = converged.init(jax.random.key(0), batch)
  good = implicit_gradient_error(converged, params, batch, loss_fn, reference_k_bwd=300)
  assert good["reference_residual"] < 1e-9 and good["dtype"] == "float64"
  assert good["relative_error"] < 1e-6 and good["cosine"] == pytest.approx(1.0, abs=1e-9)
  truncated = ip.with_mode(converged, k_bwd=2, backward_tol=0.0)
  bad = implicit_gradient_error(truncated, params, batch, loss_fn, reference_k_bwd=300)
  assert bad["relative_error"] > 1e-3 and bad["backward_iterations"] == 2
  assert set(bad["tensor_relative_error"]) >= {"['params']['cell']['kernel']"}


def test_implicit_and_backpropagated_gradients_agree_only_at_an_equilibrium():
  """At a converged forward solve the implicit gradient is the limit of backprop through the
  iterations; five iterations stop far from the equilibrium and the two part."""
  batch, loss_fn = problem()
  common = dict(l_h=4, l_q=4, contraction=0.95, backward_solver="iteration", k_bwd=400, backward_tol=1e-9)
  converged = ip.make_planner("id_vin", k_fwd=300, forward_tol=1e-9, **common)
  params = converged.init(jax.random.key(0), batch)
  good = implicit_gradient_error(converged, params, batch, loss_fn, reference_k_bwd=300)
  assert good["forward_residual"] < 1e-8 and good["unrolled_relative_error"] < 1e-3
  short = ip.with_mode(converged, k_fwd=5, forward_tol=0.0)
  bad = implicit_gradient_error(short, params, batch, loss_fn, reference_k_bwd=300)
  assert bad["forward_residual"] > 1e-3 and bad["unrolled_relative_error"] > 1e-2


def test_a_phantom_gradient_is_checked_against_the_implicit_one():
  batch, loss_fn = problem()
  planner = ip.make_planner(
    "id_vin", l_h=4, l_q=4, k_fwd=300, forward_tol=1e-9, contraction=0.95, backward_solver="phantom", k_bwd=3
  )
  report = implicit_gradient_error(planner, planner.init(jax.random.key(0), batch), batch, loss_fn)
  assert report["backward_solver"] == "phantom" and report["backward_iterations"] == 0
  assert 1e-3 < report["relative_error"] < 1 and report["cosine"] > 0


def test_explicit_planners_are_refused():
  batch, loss_fn = problem()
  planner = ip.make_planner("vin", l_h=4, l_q=4, k=3)
  with pytest.raises(ValueError, match="explicit"):
    implicit_gradient_error(planner, planner.init(jax.random.key(0), batch), batch, loss_fn)
