"""Recipes: per-planner flags between the preset and the user's flags."""

import pytest

import implicit_planning as ip
from experiments.training import ConfigError, phases, presets, recipes


def test_each_recipe_names_known_planners_and_gives_each_a_valid_config():
  assert set(recipes.RECIPES) == set(ip.RECIPES)
  for recipe in recipes.RECIPES:
    assert set(ip.RECIPES[recipe]) | set(recipes.OPTIMISER[recipe]) <= set(ip.PLANNERS), recipe
    for planner in ip.PLANNERS:
      flags = recipes.recipe_flags(recipe, planner)
      config = recipes.configure(presets.quick(), recipe, {"planner": planner})
      assert {name: getattr(config, name) for name in flags} == flags
      assert config.planner_options == ip.make_planner(planner, recipe=recipe, **_sizes(config)).options


def _sizes(config):
  """The preset's options that are not the recipe's (the same for both builds)."""
  return {name: getattr(config, name) for name in ("k", "k_fwd", "l_h", "l_q")}


def test_the_paper_recipe_is_the_preset_and_flags_win_over_a_recipe():
  assert recipes.configure(presets.quick(), "paper", {"planner": "id_vin"}) == presets.quick()
  config = recipes.configure(presets.quick(), "stable", {"planner": "id_vin", "learning_rate": 1e-3})
  assert (config.learning_rate, config.value_init, config.contraction) == (1e-3, "shift", 0.99)
  assert recipes.configure(presets.quick().replace(planner="vin"), "stable", {}).value_init == "shift"


def test_only_the_conv_gppn_family_clips_update_spikes():
  clips = {
    planner: recipes.configure(presets.quick(), "stable", {"planner": planner}).update_clip for planner in ip.PLANNERS
  }
  assert clips == {**dict.fromkeys(ip.PLANNERS, 0.0), "conv_gppn": 1.5, "id_conv_gppn": 1.5}


def test_an_unknown_recipe_is_refused_with_the_known_ones():
  with pytest.raises(ConfigError, match="unknown recipe 'fast'; known recipes: paper, stable"):
    recipes.recipe_flags("fast", "vin")


def test_the_recipes_late_decay_fits_short_runs_and_a_given_schedule_replaces_it():
  quick = presets.quick()
  assert (recipes.configure(quick, "stable", {"planner": "id_vin"}).decay_epochs, quick.epochs) == (5, 20)
  assert recipes.configure(quick, "stable", {"planner": "vin", "epochs": 3}).decay_epochs == 3
  constant = recipes.configure(quick, "stable", {"planner": "vin", "lr_schedule": "constant"})
  assert (constant.lr_schedule, constant.decay_epochs, constant.learning_rate) == ("constant", 0, 3e-3)
  assert recipes.configure(quick, "stable", {"planner": "gppn"}).lr_schedule == "constant"  # not in its recipe


def test_a_phase_shorter_than_the_decay_decays_over_all_of_it():
  config = presets.quick().replace(lr_schedule="cosine", decay_epochs=5, pretrain_epochs=2)
  assert phases.phase_config(config, "planner").decay_epochs == 2
  assert phases.phase_config(config, "joint").decay_epochs == 5
