"""Collapses and step setbacks found in a made-up trace whose answer is known."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.training import setbacks, spikes


def made_up_lines(epochs=3, steps=40, seeds=2):
  """`steps.jsonl` lines: %Success alternating 94/96, update norms alternating 0.9/1.1, except seed 1
  at global step 70, a batch at 50 % after an update four times the median, back the next step."""
  total = epochs * steps
  success = np.where(np.arange(total)[:, None] % 2, 96.0, 94.0) * np.ones((1, seeds))
  updates = np.where(np.arange(total)[:, None] % 2, 1.1, 0.9) * np.ones((1, seeds))
  grads = 2 * updates
  success[70, 1], updates[69, 1], grads[69, 1] = 50.0, 4.0, 6.0
  return [
    {
      "epoch": e + 1,
      "alive": np.ones((steps, seeds), bool).tolist(),
      "train_success": success[e * steps : (e + 1) * steps].tolist(),
      "update_norm": updates[e * steps : (e + 1) * steps].tolist(),
      "grad_norm": grads[e * steps : (e + 1) * steps].tolist(),
    }
    for e in range(epochs)
  ]


def test_a_one_step_fall_after_a_jolt_is_one_setback_with_its_jolt():
  trace = setbacks.read_trace(made_up_lines())
  assert trace.fields["train_success"].shape == (120, 2) and trace.epoch[70] == 2 and trace.step[70] == 30
  found = setbacks.step_setbacks(setbacks.windowed(trace, window=10), fall=20)
  assert len(found) == 1
  (setback,) = found
  assert (setback["seed"], setback["global_step"], setback["epoch"], setback["step"]) == (1, 70, 2, 30)
  assert setback["success"] == 50 and setback["reference"] == 95 and setback["recovery_steps"] == 1
  assert setback["jolt"] == pytest.approx(4.0) and setback["grad_ratio"] == pytest.approx(3.0)


def test_a_setback_of_a_frozen_seed_is_not_counted_and_a_smaller_fall_is_not_one():
  lines = made_up_lines()
  lines[1]["alive"][30][1] = False
  assert setbacks.step_setbacks(setbacks.windowed(setbacks.read_trace(lines), window=10)) == []
  assert setbacks.step_setbacks(setbacks.windowed(setbacks.read_trace(made_up_lines()), window=10), fall=50) == []


def test_summary_sets_the_jolts_before_setbacks_beside_every_update():
  metrics = [{"epoch": e, "val_success_per_seed": v} for e, v in ((1, [90, 91]), (2, [92, 60]), (3, [93, 92]))]
  summary = setbacks.summarize(metrics, setbacks.windowed(setbacks.read_trace(made_up_lines()), window=10), fall=20)
  assert summary["validation_collapses"] == [{"seed": 1, "epoch": 2, "before": 91, "at": 60, "after": 92}]
  assert summary["setbacks_per_seed"] == [0, 1] and (summary["steps"], summary["epochs"]) == (120, 3)
  assert summary["jolt_quantiles_before_setbacks"]["0.5"] == pytest.approx(4.0)
  assert summary["jolt_quantiles_all_updates"]["0.5"] == pytest.approx(1.0, abs=0.25)
  assert summary["share_of_updates_with_jolt_over_3"] == pytest.approx(1 / 220)
  assert summary["share_of_setbacks_after_jolt_over_3"] == 1.0
  # The one update of jolt 4 is the one followed by the fall; none of the 217 others is.
  bins = {(row["jolt_from"], row["jolt_to"]): row for row in summary["fall_after_jolt"]}
  assert bins[(3.0, np.inf)] == {"jolt_from": 3.0, "jolt_to": np.inf, "updates": 1, "share_followed_by_fall": 1.0}
  assert sum(row["updates"] for row in summary["fall_after_jolt"]) == 218
  assert all(row["share_followed_by_fall"] in (0.0, None) for key, row in bins.items() if key[0] < 3)


def test_validation_collapses_need_the_full_fall():
  metrics = [{"epoch": e, "val_success_per_seed": [v]} for e, v in ((1, 90.0), (2, 70.5), (3, 50.5))]
  assert setbacks.validation_collapses(metrics, fall=20) == [
    {"seed": 0, "epoch": 3, "before": 70.5, "at": 50.5, "after": None}
  ]


def test_a_trace_too_short_for_the_window_and_an_empty_one_are_refused():
  with pytest.raises(ValueError, match="none after the first window of 200"):
    setbacks.windowed(setbacks.read_trace(made_up_lines()), window=200)
  with pytest.raises(ValueError, match="--trace_steps"):
    setbacks.read_trace([])


def clipped_norms(raw_norms: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
  """Each seed's update norms after `spikes.clip_update_spikes`, and whether the clip scaled it."""
  clip = spikes.clip_update_spikes(factor)
  out, scaled = np.empty_like(raw_norms), np.empty(raw_norms.shape, bool)
  for s in range(raw_norms.shape[1]):
    state = clip.init(None)
    for t, norm in enumerate(raw_norms[:, s]):
      update, state = clip.update({"w": jnp.array([0.6, 0.8], jnp.float32) * norm}, state)
      out[t, s] = float(optax.tree.norm(update))
      scaled[t, s] = out[t, s] < norm * (1 - 1e-6)
  return out, scaled


def three_epochs(update_norms: np.ndarray) -> setbacks.Trace:
  """A trace of 300 steps [300, S] as three epochs of 100."""
  seeds = update_norms.shape[1]
  return setbacks.read_trace(
    [
      {
        "epoch": e + 1,
        "alive": np.ones((100, seeds), bool).tolist(),
        "update_norm": update_norms[e * 100 : (e + 1) * 100].tolist(),
      }
      for e in range(3)
    ]
  )


def test_the_clip_bounds_replay_from_the_clipped_norms_and_from_the_raw_ones_alike():
  rng = np.random.default_rng(0)
  raw = np.exp(rng.normal(0, 0.4, (300, 2))) * np.linspace(1, 3, 300)[:, None]  # rising, with spikes
  raw[[50, 51, 200], [0, 0, 1]] *= 6
  clipped, scaled = clipped_norms(raw, factor=1.5)
  assert 0.05 < scaled.mean() < 0.5  # the clip acts, but not on every step
  bounds = setbacks.clip_bounds(clipped, 1.5)
  assert np.isinf(bounds[0]).all()
  np.testing.assert_allclose(np.minimum(raw, bounds), clipped, rtol=1e-5)
  # A run without the clip recorded the raw norms: its replay sets the bounds the clip would have.
  np.testing.assert_allclose(setbacks.clip_bounds(raw, 1.5), bounds, rtol=1e-6)  # float32 clipped norms
  activity = setbacks.clip_activity(three_epochs(clipped), 1.5)
  assert [row["epoch"] for row in activity] == [1, 2, 3]
  np.testing.assert_allclose([row["share_at_bound_per_seed"] for row in activity], scaled.reshape(3, 100, 2).mean(1))
  assert all(row["norm_over_bound"] == pytest.approx(1.0, abs=1e-3) for row in activity)
  raw_activity = setbacks.clip_activity(three_epochs(raw), 1.5)
  assert [row["share_at_bound_per_seed"] for row in raw_activity] == [
    row["share_at_bound_per_seed"] for row in activity
  ]
  assert raw_activity[0]["norm_over_bound"] > 1.2  # the spikes a clip would have cut, by their size


def test_runs_of_one_name_in_two_sweeps_keep_apart_in_the_comparison():
  from experiments import setbacks as binary  # pylint: disable=g-import-not-at-top

  runs = ["a/clip/conv_27", "a/noclip/conv_27/", "a/clip/id_27"]
  assert [binary.label(run, runs) for run in runs] == ["clip/conv_27", "noclip/conv_27", "id_27"]
