"""Planners: API, both gradient modes, torus padding, and the constant-memory backward pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import implicit_planning as ip
from implicit_planning.planners.conv_gppn import ConvGRUCell
from implicit_planning.planners.symvin import SymVINCell
from implicit_planning.planners.vin import VINCell, contract_kernel

SMALL = dict(l_h=4, l_q=4, k=5, k_fwd=5, k_bwd=3)


def random_problems(batch=2, size=7, seed=0):
  """A batch mapping of random maps with a free goal each."""
  rng = np.random.default_rng(seed)
  maps = (rng.random((batch, size, size)) > 0.25).astype(np.uint8)
  goals = rng.integers(0, size, (batch, 2)).astype(np.int32)
  maps[np.arange(batch), goals[:, 0], goals[:, 1]] = 1
  return {"maps": jnp.asarray(maps), "goals": jnp.asarray(goals)}


def relative_error(a, b):
  a, b = ravel_pytree(a)[0], ravel_pytree(b)[0]
  return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


@pytest.mark.parametrize("name", ip.PLANNERS)
def test_shapes_dtypes_and_single_trace(name):
  batch = random_problems()
  planner = ip.make_planner(name, **SMALL)
  params = planner.init(jax.random.key(0), batch)
  traces = []

  @jax.jit
  def apply(params, batch):
    traces.append(None)
    return planner.apply(params, batch)

  for seed in range(3):
    logits, values, stats, map_logits, iterate_logits, field_logits = apply(params, random_problems(seed=seed))
  assert len(traces) == 1 and map_logits is None and iterate_logits == () and field_logits is None
  assert logits.shape == (2, 4, 7, 7) and logits.dtype == jnp.float32
  assert values.shape == (2, 7, 7) and values.dtype == jnp.float32
  assert stats.forward.iterations.shape == (2,)
  assert np.all(np.isfinite(logits))


@pytest.mark.parametrize("name", ip.PLANNERS)
def test_gradients_are_finite_and_reach_every_parameter(name):
  batch = random_problems()
  planner = ip.make_planner(name, **SMALL)
  params = planner.init(jax.random.key(1), batch)

  def loss(params, probe):
    logits = planner.apply(params, batch, probe).logits
    return jnp.mean(jax.nn.log_softmax(logits, axis=1)[:, 0])

  grads, probe_grad = jax.grad(loss, argnums=(0, 1))(params, ip.backward_probe(2))
  for path, g in jax.tree_util.tree_leaves_with_path(grads):
    assert np.all(np.isfinite(g)), path
    assert np.any(g != 0), f"no gradient reaches {jax.tree_util.keystr(path)}"
  # Only the implicit function theorem's backward solve reports (the phantom gradient has none).
  adjoint_solve = isinstance(planner.mode, ip.Implicit)
  assert np.all((probe_grad.iterations >= 1) == adjoint_solve)


def test_unknown_names_and_bad_values_are_refused():
  with pytest.raises(ValueError, match="id_vin, symvin"):
    ip.make_planner("idvin")
  with pytest.raises(ValueError, match="k_fwd"):
    ip.make_planner("id_vin", k_fwd=0)
  with pytest.raises(ValueError, match="group"):
    ip.make_planner("vin", group="d8")
  with pytest.raises(ValueError, match="solver"):
    ip.make_planner("id_vin", backward_solver="broyden")
  with pytest.raises(ValueError, match="kernel_size"):
    ip.make_planner("vin", kernel_size=4)
  with pytest.raises(ValueError, match="conv_impl 'fft'"):
    ip.make_planner("conv_gppn", conv_impl="fft")


def test_the_stable_recipe_is_the_default_and_the_papers_cell_one_keyword_away():
  options = ip.make_planner("id_vin", l_q=8).options
  assert (options.contraction, options.contraction_form) == (0.99, "squash")
  assert (options.value_init, options.reward_init, options.head_init) == ("shift", "goal", "greedy")
  assert isinstance(ip.make_planner("id_conv_gppn").mode, ip.Phantom)
  conv_gppn_family = [ip.make_planner(name).options for name in ("conv_gppn", "id_conv_gppn")]
  assert {(options.reward_channels, options.reward_encoder) for options in conv_gppn_family} == {(32, "relu")}
  assert ip.make_planner("id_vin", recipe="paper", l_q=8).options == ip.PlannerOptions(l_q=8)
  assert ip.make_planner("id_vin", contraction=0.9).options.contraction == 0.9  # keywords win
  whole = ip.PlannerOptions(l_q=8)
  assert ip.make_planner("id_vin", whole).options == whole  # a whole `options` is taken as it is
  assert ip.make_planner("gppn").options == ip.PlannerOptions()  # not studied: the paper's
  with pytest.raises(ValueError, match="Unknown recipe 'fast'; expected one of paper, stable"):
    ip.make_planner("vin", recipe="fast")


def test_options_that_do_not_apply_are_ignored():
  batch = random_problems()
  a = ip.make_planner("vin", **SMALL)
  b = ip.make_planner("vin", **{**SMALL, "group": "c4", "k_fwd": 99, "backward_solver": "iteration"})
  params = a.init(jax.random.key(0), batch)
  np.testing.assert_array_equal(a.apply(params, batch)[0], b.apply(params, batch)[0])


def test_with_mode_changes_the_budget_not_the_parameters():
  batch = random_problems()
  planner = ip.make_planner("id_vin", **SMALL)
  # Random value weights (a contracted cell's initialisation): the zero-initialised cell converges at once.
  params = ip.make_planner("id_vin", contraction=0.5, **SMALL).init(jax.random.key(0), batch)
  longer = ip.with_mode(planner, k_fwd=40, forward_tol=0.0)
  stats = longer.apply(params, batch).stats
  assert planner.mode.forward.max_iter == 5 and longer.mode.forward.max_iter == 40
  assert np.all(stats.forward.iterations > 5)  # VIN's max-plus iteration may converge exactly before 40.


@pytest.mark.parametrize("name", ["vin", "id_vin", "id_conv_gppn"])
def test_supervised_iterates_add_readouts_and_leave_the_plan_alone(name):
  """Two intermediate read-outs of the forward iterates, shaped like the logits; the final plan is the
  unsupervised planner's (plain forward iteration), and the read-outs change as the state does."""
  batch = random_problems()
  planner = ip.make_planner(name, **{**SMALL, "k": 6, "k_fwd": 6, "contraction": 0.5})
  supervised = ip.with_mode(planner, supervised_iterates=2)
  params = planner.init(jax.random.key(0), batch)
  out, plain = supervised.apply(params, batch), planner.apply(params, batch)
  np.testing.assert_allclose(out.logits, plain.logits, rtol=1e-5, atol=1e-6)
  assert plain.iterate_logits == () and len(out.iterate_logits) == 2
  assert all(logits.shape == out.logits.shape for logits in out.iterate_logits)
  assert not np.allclose(out.iterate_logits[0], out.logits)
  np.testing.assert_array_equal(out.stats.forward.iterations, plain.stats.forward.iterations)
  with pytest.raises(ValueError, match="supervised_iterates"):
    ip.make_planner(name, supervised_iterates=-1)


@pytest.mark.parametrize("name", ["id_vin", "conv_gppn"])
def test_init_makes_one_cell_step_at_any_budget(name):
  """No parameter depends on the solve, so ``init``'s program has no loop over the K steps and
  gives the same parameters at any K."""
  batch = random_problems()
  short, long = (ip.make_planner(name, **{**SMALL, "k": k, "k_fwd": k}) for k in (2, 10_000))
  program = str(jax.make_jaxpr(long.init)(jax.random.key(0), batch))
  assert "while[" not in program
  assert all(int(word[len("length=") :]) <= 1 for word in program.split() if word.startswith("length="))
  for a, b in zip(
    jax.tree.leaves(short.init(jax.random.key(0), batch)), jax.tree.leaves(long.init(jax.random.key(0), batch))
  ):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
  "name, param_scale",
  [("vin", 1.0), ("conv_gppn", 0.1), ("gppn", 0.1)],
  ids=["vin_contraction", "conv_gppn_small", "gppn_small"],
)
def test_implicit_gradients_match_unrolled_at_convergence(x64, name, param_scale):
  """With a contractive cell, the equilibrium gradient is the limit of the unrolled one."""
  batch = random_problems()
  common = dict(l_h=4, l_q=4, dtype=jnp.float64, contraction=0.6 if name == "vin" else 0.0)
  common = dict(common, recipe="paper")  # the same cell in both modes
  explicit = ip.make_planner(name, k=40, **common)  # 40 layers: within 1e-11 of the limit here
  implicit = ip.make_planner("id_" + name, k_fwd=500, k_bwd=500, forward_tol=1e-13, backward_tol=1e-13, **common)
  params = implicit.init(jax.random.key(2), batch)
  params = jax.tree.map(lambda p: p * param_scale, params)
  target = jax.random.normal(jax.random.key(3), (2, 4, 7, 7), jnp.float64)

  def loss(planner):
    return lambda params: jnp.sum(jnp.tanh(planner.apply(params, batch)[0]) * target)

  # The explicit ConvGPPN's and GPPN's learned initial state is not part of the implicit planner:
  # start it at zero.
  explicit_params = params if name == "vin" else _with_zero_initial_state(explicit, params, batch)
  # Jitted: eager backprop through the layers took twice as long here.
  g_explicit = jax.jit(jax.grad(loss(explicit)))(explicit_params)
  g_implicit = jax.jit(jax.grad(loss(implicit)))(params)
  if name != "vin":
    g_explicit = {"params": {k: v for k, v in g_explicit["params"].items() if k != "initial_state"}}
  assert relative_error(g_implicit, g_explicit) < 1e-9


def _with_zero_initial_state(planner, params, batch):
  full = planner.init(jax.random.key(0), batch)
  zero_init = jax.tree.map(jnp.zeros_like, full["params"]["initial_state"])
  return {"params": {**params["params"], "initial_state": zero_init}}


@pytest.mark.parametrize("name", ip.PLANNERS)
def test_torus_planners_commute_with_circular_shifts(name):
  """With wrap=True every convolution is circular, so shifting the torus shifts the plan."""
  batch = random_problems(size=6)
  planner = ip.make_planner(name, wrap=True, **SMALL)
  params = planner.init(jax.random.key(0), batch)
  shift = (2, 3)
  out = planner.apply(params, batch)
  shifted = {"maps": jnp.roll(batch["maps"], shift, axis=(1, 2)), "goals": (batch["goals"] + jnp.array(shift)) % 6}
  shifted_out = planner.apply(params, shifted)
  np.testing.assert_allclose(shifted_out.values, jnp.roll(out.values, shift, axis=(1, 2)), atol=1e-5)
  np.testing.assert_allclose(shifted_out.logits, jnp.roll(out.logits, shift, axis=(2, 3)), atol=1e-5)

  zero_padded = ip.make_planner(name, wrap=False, **SMALL)
  unwrapped_values = zero_padded.apply(params, batch).values
  assert not np.allclose(unwrapped_values, out.values, atol=1e-3)


def value_iteration_params(size, gamma=0.9):
  """Hand-set VIN weights that perform exact value iteration (l_h = 2, l_q = 4).

  Reward −1 per free cell, +10 at the goal, −100 in walls; ``Q_a(s) = R(s) + γ V(s + δ_a)``
  for the four moves; logits are the four Q values.
  """
  hidden = np.zeros((3, 3, 2, 2))
  hidden[1, 1, 0, 0] = 1.0  # map
  hidden[1, 1, 1, 1] = 1.0  # goal one-hot
  reward = np.array([99.0, 11.0]).reshape(1, 1, 2, 1)
  kernel = np.zeros((3, 3, 2, 4))
  kernel[1, 1, 0, :] = 1.0
  for action, (dr, dc) in enumerate([(-1, 0), (0, -1), (1, 0), (0, 1)]):
    kernel[1 + dr, 1 + dc, 1, action] = gamma
  params = {
    "encoder": {"hidden": {"kernel": hidden, "bias": np.array([-100.0 / 99.0, 0.0])}, "reward": {"kernel": reward}},
    "cell": {"kernel": kernel},
    "head": {"kernel": np.eye(4).reshape(1, 1, 4, 4)},
  }
  return {"params": jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), params)}


@pytest.mark.parametrize("wrap, expected", [(True, 3), (False, 1)], ids=["torus_east", "plane_west"])
def test_circular_padding_really_wraps(wrap, expected):
  """A goal next to the left edge is one move east of the right edge on a torus."""
  size = 9
  maps = np.zeros((1, size, size), np.uint8)
  maps[0, 4, :] = 1  # one free corridor row
  goals = jnp.array([[4, 0]], jnp.int32)
  planner = ip.make_planner("id_vin", recipe="paper", k_fwd=60, l_h=2, l_q=4, wrap=wrap)
  logits = planner.apply(value_iteration_params(size), {"maps": jnp.asarray(maps), "goals": goals}).logits
  assert int(jnp.argmax(logits[0, :, 4, size - 1])) == expected


def temp_bytes(planner, batch):
  """XLA's temporary bytes for a loss's value and gradient (compiled from parameter shapes only)."""
  params = jax.eval_shape(planner.init, jax.random.key(0), batch)

  def loss(params):
    return jnp.sum(planner.apply(params, batch)[0] ** 2)

  compiled = jax.jit(jax.value_and_grad(loss)).lower(params).compile()
  return compiled.memory_analysis().temp_size_in_bytes


# Channels of the state an explicit layer passes on (SMALL sizes; SymVIN: one D4 regular field).
STATE_CHANNELS = {"vin": 1, "symvin": 8, "conv_gppn": SMALL["l_h"], "gppn": 2 * SMALL["l_h"]}


@pytest.mark.parametrize("name", ip.PLANNERS)
def test_backward_memory_is_flat_in_k_only_for_implicit_planners(name):
  """The paper's central claim, from XLA's compiled memory analysis, at 20 and 2000 layers or
  iterations.

  Explicit planners keep one small value map (and an argmax index) per layer, so at these test
  sizes the layer-independent buffers dominate until K is large; from 20 to 2000 layers each
  layer must add at least the state it keeps for backprop. (Compiled at K = 10, 100, 400 and
  2000 on 2026-11-30, every explicit planner added the same bytes per layer, to 0.3 %, from 100
  to 400 as from 400 to 2000: the growth is linear. Two K are compiled here, for CI time.)
  """
  batch = random_problems(batch=2, size=9)
  ks = (20, 2000)
  small, large = (temp_bytes(ip.make_planner(name, **{**SMALL, "k": k, "k_fwd": k}), batch) for k in ks)
  if ip.planner_spec(name).implicit:
    assert large <= 1.1 * small, (small, large)
  else:
    state_bytes = 4 * batch["maps"].size * STATE_CHANNELS[name]
    assert (large - small) / (ks[1] - ks[0]) >= state_bytes, (small, large)
    if jax.default_backend() == "cpu":
      # Off CPU the layer-independent part is larger: with --xla_gpu_deterministic_ops (conftest)
      # XLA:GPU adds a 32 MiB workspace (explicit SymVIN on an H200: 33.8 MB at K = 20, 46.6 MB
      # at K = 2000; 0.27 and 13.1 MB without the flag).
      assert large > 5 * small, (small, large)


@pytest.mark.parametrize("family", ["vin", "symvin", "conv_gppn", "gppn"])
def test_k_counts_cell_applications_in_every_family_and_mode(family):
  """``k`` layers of the explicit planner are ``k_fwd`` forward iterations of the implicit one.

  From the same start (zeros: the explicit ConvGPPN/GPPN's learned start is zeroed), ``k = 7``
  layers and 7 plain iterations give the same plan, and both report 7 applications.
  """
  spec = ip.planner_spec(family)
  contraction = {"contraction": 0.5} if "contraction" in spec.family.options else {}  # random value kernel
  options = {**SMALL, "k": 7, "k_fwd": 7, "forward_tol": 0.0, "forward_solver": "iteration", **contraction}
  options["recipe"] = "paper"  # the same cell in both modes
  explicit, implicit = ip.make_planner(family, **options), ip.make_planner("id_" + family, **options)
  batch = random_problems()
  params = jax.tree.map(lambda p: 0.3 * p, implicit.init(jax.random.key(0), batch))  # a contraction
  explicit_params = params if spec.family.initial_state is None else _with_zero_initial_state(explicit, params, batch)
  ours, theirs = explicit.apply(explicit_params, batch), implicit.apply(params, batch)
  np.testing.assert_array_equal(ours.stats.forward.iterations, 7)
  np.testing.assert_array_equal(theirs.stats.forward.iterations, 7)
  np.testing.assert_allclose(ours.logits, theirs.logits, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["id_vin", "id_symvin"])
def test_a_learned_discount_stays_below_the_contraction_and_is_trained(name):
  planner = ip.make_planner(name, recipe="paper", **SMALL, contraction=0.95, learned_discount=True)
  batch = random_problems()
  params = planner.init(jax.random.key(0), batch)
  logits = params["params"]["cell"]["discount_logit"]
  np.testing.assert_allclose(0.95 * jax.nn.sigmoid(logits), 0.9, rtol=1e-6)  # starts at min(0.9, 0.95 γ)
  grads = jax.grad(lambda p: jnp.mean(jax.nn.log_softmax(planner.apply(p, batch).logits, axis=1)[:, 0]))(params)
  assert np.any(grads["params"]["cell"]["discount_logit"] != 0)
  big = jax.tree.map(lambda x: x, params)
  big["params"]["cell"]["discount_logit"] = jnp.full_like(logits, 30.0)  # sigmoid → 1: the bound γ
  radius = planner.apply(big, batch, radius_key=jax.random.key(1)).stats.jacobian_radius
  assert np.all(radius <= 0.95 * (1 + 1e-3))


def test_warm_start_gives_the_implicit_recurrent_planners_a_learned_start():
  batch = random_problems()
  cold = ip.make_planner("id_conv_gppn", **SMALL)
  warm = ip.make_planner("id_conv_gppn", **SMALL, warm_start=True)
  assert "initial_state" not in cold.init(jax.random.key(0), batch)["params"]
  params = warm.init(jax.random.key(0), batch)
  assert "initial_state" in params["params"]
  grads = jax.grad(lambda p: jnp.sum(warm.apply(p, batch).logits))(params)
  # The implicit gradient gives the start nothing (the equilibrium does not depend on it).
  assert all(np.all(g == 0) for g in jax.tree.leaves(grads["params"]["initial_state"]))


@pytest.mark.parametrize("name", ["conv_gppn", "gppn"])
def test_zero_start_gives_the_explicit_recurrent_planners_the_implicit_ones_start(name):
  batch = random_problems()
  learned = ip.make_planner(name, **SMALL)
  zero = ip.make_planner(name, **SMALL, zero_start=True)
  params = zero.init(jax.random.key(0), batch)
  assert "initial_state" not in params["params"]
  assert "initial_state" in learned.init(jax.random.key(0), batch)["params"]
  # Zeros are what an initial-state layer with zero weights computes.
  with_zero_layer = _with_zero_initial_state(learned, params, batch)
  np.testing.assert_allclose(zero.apply(params, batch).logits, learned.apply(with_zero_layer, batch).logits, rtol=1e-6)


@pytest.mark.parametrize("name", ["id_conv_gppn", "conv_gppn", "id_gppn"])
def test_head_reads_start_trains_the_initial_state_layer_in_either_mode(name):
  batch = random_problems()
  reading = ip.make_planner(name, **SMALL, head_reads_start=True)
  params = reading.init(jax.random.key(0), batch)
  grads = jax.grad(lambda p: jnp.sum(reading.apply(p, batch).logits ** 2))(params)
  assert any(np.any(g != 0) for g in jax.tree.leaves(grads["params"]["initial_state"]))
  # With zero head weights on the start's features it is the planner without the option.
  plain = ip.make_planner(name, **SMALL)
  plain_params = plain.init(jax.random.key(0), batch)["params"]
  kernel = params["params"]["head"]["kernel"]
  assert kernel.shape[2] == 2 * SMALL["l_h"]
  head = {**params["params"]["head"], "kernel": kernel[:, :, : SMALL["l_h"]]}
  shared = {name: params["params"][name] for name in plain_params if name != "head"}
  np.testing.assert_allclose(
    reading.apply(
      {"params": {**params["params"], "head": {**head, "kernel": kernel.at[:, :, SMALL["l_h"] :].set(0)}}}, batch
    ).logits,
    plain.apply({"params": {**shared, "head": head}}, batch).logits,
    rtol=1e-6,
  )


@pytest.mark.parametrize("name", ["id_conv_gppn", "conv_gppn"])
def test_relu_reward_encoder_reaches_the_planner_and_is_linear_where_every_hidden_unit_is_on(name):
  batch = random_problems()
  linear = ip.make_planner(name, **SMALL, reward_channels=2, reward_encoder="linear")
  relu = ip.make_planner(name, **SMALL, reward_channels=2, reward_encoder="relu")
  params = linear.init(jax.random.key(0), batch)
  assert jax.tree.structure(params) == jax.tree.structure(relu.init(jax.random.key(0), batch))
  assert not np.allclose(relu.apply(params, batch).logits, linear.apply(params, batch).logits, atol=1e-3)
  # A hidden bias that keeps every pre-activation positive leaves the ReLU nothing to cut.
  hidden = params["params"]["encoder"]["hidden"]
  kernel_reach = float(jnp.sum(jnp.abs(hidden["kernel"])))
  on = {**hidden, "bias": hidden["bias"] + kernel_reach}
  shifted = {"params": {**params["params"], "encoder": {**params["params"]["encoder"], "hidden": on}}}
  np.testing.assert_allclose(
    relu.apply(shifted, batch).logits, linear.apply(shifted, batch).logits, rtol=1e-5, atol=1e-5
  )


@pytest.mark.parametrize("name", ["id_conv_gppn", "conv_gppn"])
def test_more_reward_channels_reach_the_cell_and_the_start_and_extend_the_single_map(name):
  batch = random_problems()
  wide = ip.make_planner(name, **SMALL, reward_channels=3)
  params = wide.init(jax.random.key(0), batch)["params"]
  assert params["encoder"]["reward"]["kernel"].shape[-1] == 3
  grads = jax.grad(lambda p: jnp.sum(wide.apply({"params": p}, batch).logits ** 2))(params)
  assert np.any(grads["encoder"]["reward"]["kernel"][..., 1:] != 0)  # the extra channels are read
  # With the extra channels' weights at zero it is the single-map planner, whose weights it keeps.
  single = ip.make_planner(name, **SMALL, reward_channels=1)
  single_params = single.init(jax.random.key(0), batch)["params"]

  def pad_input_channels(kernel, at):
    return jnp.concatenate(
      [kernel[:, :, :at], jnp.zeros(kernel.shape[:2] + (2,) + kernel.shape[3:]), kernel[:, :, at:]], 2
    )

  padded = {
    **single_params,
    "encoder": {
      **single_params["encoder"],
      "reward": {"kernel": jnp.pad(single_params["encoder"]["reward"]["kernel"], ((0, 0), (0, 0), (0, 0), (0, 2)))},
    },
    "cell": {
      **single_params["cell"],
      **{key: pad_input_channels(single_params["cell"][key], 1) for key in ("gates_kernel", "candidate_kernel")},
    },
  }
  if "initial_state" in single_params:
    start = single_params["initial_state"]
    padded["initial_state"] = {**start, "kernel": pad_input_channels(start["kernel"], 1)}
  assert jax.tree.map(jnp.shape, padded) == jax.tree.map(jnp.shape, params)
  np.testing.assert_allclose(
    wide.apply({"params": padded}, batch).logits,
    single.apply({"params": single_params}, batch).logits,
    rtol=1e-5,
    atol=1e-6,  # the wider convolutions add the zeros in another order
  )


def test_a_squashed_kernel_is_the_papers_when_small_and_never_above_the_bound():
  small = 1e-3 * jax.random.normal(jax.random.key(0), (3, 3, 1, 6))
  np.testing.assert_allclose(contract_kernel(small, 0.9, "squash"), small, rtol=1e-4)
  large = 10 * jax.random.normal(jax.random.key(1), (3, 3, 1, 6))
  norms = jnp.sum(jnp.abs(contract_kernel(large, 0.9, "squash")), axis=(0, 1, 2))
  np.testing.assert_allclose(norms, 0.9, rtol=1e-6)  # tanh saturates: the bound, to float32 rounding
  # Zeros (the paper's initialisation) pass through with a finite, identity gradient.
  grads = jax.grad(lambda k: jnp.sum(contract_kernel(k, 0.9, "squash")))(jnp.zeros((3, 3, 1, 2)))
  np.testing.assert_array_equal(grads, 1.0)


@pytest.mark.parametrize("name", ["id_vin", "id_symvin"])
def test_a_squashed_cell_starts_as_the_papers(name):
  batch = random_problems()
  paper = ip.make_planner(name, recipe="paper", **SMALL)
  squashed = ip.make_planner(name, recipe="paper", **SMALL, contraction=0.95, contraction_form="squash")
  params = squashed.init(jax.random.key(0), batch)
  cell = params["params"]["cell"]
  name_in_cell, value_part = ("value_kernel", slice(None)) if name == "id_symvin" else ("kernel", slice(-1, None))
  np.testing.assert_array_equal(cell[name_in_cell][:, :, value_part], 0.0)  # the paper's zeros
  # A value kernel of l1 norm 0.05 per channel already contracts: the squash leaves it (almost) alone.
  kernel = jax.random.normal(jax.random.key(2), cell[name_in_cell][:, :, value_part].shape)
  kernel = 0.05 * kernel / jnp.sum(jnp.abs(kernel), axis=(0, 1, 2), keepdims=True)
  small = jax.tree.map(lambda x: x, params)
  small["params"]["cell"][name_in_cell] = cell[name_in_cell].at[:, :, value_part].set(kernel)
  expected = paper.apply(small, batch).logits
  np.testing.assert_allclose(squashed.apply(small, batch).logits, expected, rtol=2e-3, atol=1e-4)


def test_a_squashed_cell_stays_a_contraction_whatever_its_weights():
  """ID-VIN's radius stays below γ with huge random weights (SymVIN: its sup-norm test)."""
  batch = random_problems()
  squashed = ip.make_planner("id_vin", **SMALL, contraction=0.95, contraction_form="squash")
  leaves, tree = jax.tree.flatten(squashed.init(jax.random.key(0), batch))
  keys = jax.random.split(jax.random.key(3), len(leaves))
  big = jax.tree.unflatten(tree, [50.0 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])
  radius = squashed.apply(big, batch, radius_key=jax.random.key(1)).stats.jacobian_radius
  assert np.all(radius <= 0.95 * (1 + 1e-3))


def test_a_bounded_conv_gru_cell_caps_its_expansion():
  """State kernels of ℓ1 norm ≤ γ = 0.8: Lipschitz ≤ 1 + γ/2 always, ≤ γ(1 + γ/4) with closed update gates."""
  gamma, hidden = 0.8, 6
  bounded, paper = ConvGRUCell(hidden, contraction=gamma, contraction_form="squash"), ConvGRUCell(hidden)

  @jax.jit  # one compilation: eager, each small op compiles on its own
  def measure(key):
    keys = jax.random.split(key, 4)
    r = jax.random.normal(keys[0], (1, 7, 7, 1))
    leaves, tree = jax.tree.flatten(bounded.init(keys[1], r, method=ConvGRUCell.prepare))
    noise = [20.0 * jax.random.normal(k, x.shape) for k, x in zip(jax.random.split(keys[2], len(leaves)), leaves)]
    big = jax.tree.unflatten(tree, noise)
    closed = jax.tree.map(lambda x: x, big)  # update gates shut: bias −100, no reward drive
    closed["params"]["gates_bias"] = big["params"]["gates_bias"].at[:hidden].set(-100.0)
    closed["params"]["gates_kernel"] = big["params"]["gates_kernel"].at[:, :, 0, :hidden].set(0.0)
    h = jax.random.uniform(keys[3], (2, 64, 1, 7, 7, hidden), minval=-0.9, maxval=0.9)
    h = h.at[1].set(h[0] + 0.05 * h[1] / 0.9)  # close pairs

    def lipschitz_ratios(cell, params):
      step = jax.vmap(lambda h: cell.apply(params, h, cell.apply(params, r, method=ConvGRUCell.prepare)))
      gap = lambda a, b: jnp.max(jnp.abs(a - b), axis=(1, 2, 3, 4))
      return jnp.max(gap(step(h[0]), step(h[1])) / gap(h[0], h[1]))

    norms = [jnp.sum(jnp.abs(k), axis=(0, 1, 2)) for k in bounded.apply(big, method=ConvGRUCell.state_kernels)]
    ratios = [lipschitz_ratios(cell, params) for cell, params in ((bounded, big), (bounded, closed), (paper, closed))]
    return jnp.max(jnp.concatenate(norms)), *ratios

  norm, anywhere, closed_gates, paper_closed_gates = measure(jax.random.key(0))
  assert norm <= gamma * (1 + 1e-6)
  assert anywhere <= 1 + gamma / 2
  assert closed_gates <= gamma * (1 + gamma / 4)
  assert paper_closed_gates > 10  # the paper's cell with the same weights expands


def test_a_learned_discount_needs_the_normalised_form():
  with pytest.raises(ValueError, match="contraction_form=normalize"):
    ip.make_planner("id_vin", contraction=0.9, learned_discount=True, contraction_form="squash")
  with pytest.raises(ValueError, match="Unknown contraction_form"):
    ip.make_planner("id_vin", contraction=0.9, contraction_form="clip")


@pytest.mark.parametrize(
  "contraction, form, discount",
  [(0.0, "normalize", 0.9), (0.99, "squash", 0.9), (0.9, "squash", 0.855), (0.8, "normalize", 0.8)],
)
def test_a_shift_initialised_vin_cell_starts_as_value_iteration(contraction, form, discount):
  """With 9 Q channels and no reward, the step is ``δ ·`` the 3×3 neighbourhood max (zero padding)."""
  cell = VINCell(l_q=9, contraction=contraction, contraction_form=form, value_init="shift")
  v = jax.random.normal(jax.random.key(0), (6, 7, 1))
  r = jnp.zeros((6, 7, 1))
  params = cell.init(jax.random.key(1), v, r)
  padded = np.pad(np.asarray(v[..., 0]), 1)
  neighbourhood_max = np.max([padded[i : i + 6, j : j + 7] for i in range(3) for j in range(3)], axis=0)
  np.testing.assert_allclose(cell.apply(params, v, r)[..., 0], discount * neighbourhood_max, rtol=1e-5)
  _, value_part = cell.apply(params, method=VINCell.split_kernel)
  np.testing.assert_allclose(jnp.sum(jnp.abs(value_part), axis=(0, 1, 2)), discount, rtol=1e-5)
  assert np.count_nonzero(value_part) == 9  # one neighbour per channel


def test_a_shift_initialised_symvin_field_reads_one_neighbour_of_one_group_element():
  cell = SymVINCell(l_q=4, contraction=0.99, contraction_form="squash", value_init="shift")
  v, r = jnp.zeros((5, 5, 8)), jnp.zeros((5, 5, 1))
  kernel = cell.init(jax.random.key(0), v, r)["params"]["value_kernel"]
  contracted = contract_kernel(kernel, 0.99, "squash")
  np.testing.assert_allclose(jnp.sum(jnp.abs(contracted), axis=(0, 1, 2)), 0.9, rtol=1e-5)
  assert np.count_nonzero(kernel) == kernel.shape[-1]
  with pytest.raises(ValueError, match="Unknown value_init"):
    ip.make_planner("vin", value_init="random")


@pytest.mark.parametrize("l_q", [9, 20])
def test_a_greedy_head_scores_each_move_by_the_value_of_the_neighbour_it_reaches(l_q):
  """With the shift start, no reward term in Q and a greedy head, logit ``a`` at ``x`` is
  ``0.9 · V(x + move_a)`` (0 off the grid): the first policy is greedy in the values."""
  batch = random_problems(size=6)
  options = dict(SMALL, l_q=l_q, value_init="shift", head_init="greedy")
  planner = ip.make_planner("vin", **options)
  params = planner.init(jax.random.key(0), batch)
  cell = params["params"]["cell"]
  params = {"params": {**params["params"], "cell": {"kernel": cell["kernel"].at[:, :, 0].set(0.0)}}}
  out = planner.apply(params, batch)
  logits, values = out.logits, out.values
  padded = np.pad(np.asarray(values), ((0, 0), (1, 1), (1, 1)))
  for a, (di, dj) in enumerate(ip.ops.ACTION_DELTAS):
    neighbour = padded[:, 1 + di : 7 + di, 1 + dj : 7 + dj]
    np.testing.assert_allclose(logits[:, a], 0.9 * neighbour, rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="needs value_init=shift or moves"):
    ip.make_planner("vin", recipe="paper", head_init="greedy")


def value_iteration(maps: np.ndarray, goals: np.ndarray, steps: int, moves: bool = False) -> np.ndarray:
  """Value iteration over the 3×3 neighbourhood (``moves``: the cell and its 4 neighbours; zero
  padding), discount 0.9, from V = 0: rewards +1 at the goal, −10 on obstacles, 0 elsewhere,
  collected at the cell the step starts from."""
  batch, height, width = maps.shape
  rewards = np.where(maps > 0, 0.0, -10.0)
  rewards[np.arange(batch), goals[:, 0], goals[:, 1]] = 1.0
  offsets = [(i, j) for i in range(3) for j in range(3) if not moves or abs(i - 1) + abs(j - 1) <= 1]
  values = np.zeros(maps.shape)
  for _ in range(steps):
    padded = np.pad(values, ((0, 0), (1, 1), (1, 1)))
    best = np.max([padded[:, i : i + height, j : j + width] for i, j in offsets], axis=0)
    values = rewards + 0.9 * best
  return values


@pytest.mark.parametrize(
  "name, steps, start",
  [
    ("vin", 12, "shift"),
    ("id_vin", 200, "shift"),
    ("symvin", 12, "shift"),
    ("id_symvin", 200, "shift"),
    ("symvin_c4", 12, "shift"),
    ("vin", 12, "moves"),
    ("symvin", 12, "moves"),
  ],
)
def test_the_value_iteration_start_is_value_iteration(name, steps, start):
  """``reward_init="goal"`` with the shift start and the greedy head: the untrained planner's values are
  value iteration's after K steps, an implicit one's its fixed point (the solve returns its best iterate,
  so it is run to convergence), and each move's logit is ``R(x) + 0.9 V(x + move)``; SymVIN's too,
  for both groups; over 8-connected moves (``value_init="shift"``) or the agent's 4 (``"moves"``)."""
  name, group = (name[:-3], "c4") if name.endswith("_c4") else (name, "d4")
  batch = random_problems(batch=3, size=8, seed=4)
  options = dict(value_init=start, head_init="greedy", reward_init="goal", group=group)
  planner = ip.make_planner(name, l_h=4, l_q=9, k=steps, k_fwd=steps, forward_tol=0.0, **options)
  out = planner.apply(planner.init(jax.random.key(0), batch), batch)
  maps, goals = np.asarray(batch["maps"]), np.asarray(batch["goals"])
  expected = value_iteration(maps, goals, steps, moves=start == "moves")
  np.testing.assert_allclose(out.values, expected, rtol=1e-5, atol=1e-3)
  rewards = value_iteration(maps, goals, 1)
  padded = np.pad(expected, ((0, 0), (1, 1), (1, 1)))
  for a, (di, dj) in enumerate(ip.ops.ACTION_DELTAS):
    neighbour = padded[:, 1 + di : 9 + di, 1 + dj : 9 + dj]
    np.testing.assert_allclose(out.logits[:, a], rewards + 0.9 * neighbour, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("name, layer", [("vin", ("reward", "kernel")), ("symvin", ("reward_weights",))])
def test_a_zero_reward_layer_starts_every_value_at_zero_and_is_the_first_to_learn(name, layer):
  batch = random_problems()
  planner = ip.make_planner(name, **{**SMALL, "k": 2}, reward_init="zeros", value_init="shift")
  params = jax.jit(planner.init)(jax.random.key(0), batch)

  def loss(params):
    out = planner.apply(params, batch)
    return jnp.mean(jax.nn.log_softmax(out.logits, axis=1)[:, 0]), (out.logits, out.values)

  grads, (logits, values) = jax.jit(jax.grad(loss, has_aux=True))(params)
  np.testing.assert_array_equal(values, 0.0)
  np.testing.assert_array_equal(logits, 0.0)
  grads = grads["params"]["encoder"]
  reward_grad = grads[layer[0]] if len(layer) == 1 else grads[layer[0]][layer[1]]
  assert np.any(reward_grad != 0)  # the zero layer gets a gradient: training can start
  with pytest.raises(ValueError, match="Unknown reward_init"):
    ip.make_planner(name, reward_init="ones")


def test_a_per_map_budget_runs_each_map_as_that_k_fwd_would():
  batch = random_problems(batch=3)
  planner = ip.make_planner("id_conv_gppn", **SMALL)
  params = planner.init(jax.random.key(0), batch)
  budgets = jnp.array([2, 9, 5])
  out = jax.jit(planner.apply)(params, batch, budget=budgets)
  np.testing.assert_array_equal(out.stats.forward.iterations, budgets)
  for i, k in enumerate(budgets.tolist()):
    alone = ip.with_mode(planner, k_fwd=k).apply(params, batch)
    np.testing.assert_allclose(out.logits[i], alone.logits[i], rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="per-problem budget"):
    explicit = ip.make_planner("conv_gppn", **SMALL)
    explicit.apply(explicit.init(jax.random.key(0), batch), batch, budget=budgets)
