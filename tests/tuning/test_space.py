"""Search spaces and sweep definitions: what is accepted becomes Optuna distributions,
what is not is refused with a message that names the parameter or field."""

import importlib.util

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from tuning.errors import SpecError
from tuning.payloads import check_entry_point, parse_sweep
from tuning.samplers import PRUNERS, SAMPLERS, build_pruner, build_sampler
from tuning.space import SpaceError, grid_values, parse_space

DESIGN_SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
    "width": {"type": "int", "low": 16, "high": 128, "step": 16},
    "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
}


def test_the_design_docs_space_becomes_optuna_distributions():
    assert parse_space(DESIGN_SPACE) == {
        "lr": FloatDistribution(1e-4, 0.1, log=True),
        "width": IntDistribution(16, 128, step=16),
        "opt": CategoricalDistribution(["adam", "sgd"]),
    }


def test_a_float_with_a_step_and_an_int_on_a_log_scale_are_accepted():
    space = parse_space(
        {
            "dropout": {"type": "float", "low": 0, "high": 0.5, "step": 0.1},
            "n": {"type": "int", "low": 1, "high": 1024, "log": True},
        }
    )
    assert space["dropout"] == FloatDistribution(0.0, 0.5, step=0.1)
    assert space["n"] == IntDistribution(1, 1024, log=True)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "float", "low": 0.1, "high": 0.01}, "lr: 'low' (0.1) must not be above 'high' (0.01)"),
        ({"type": "float", "low": 0, "high": 1, "log": True}, "lr: a log scale needs 'low' above 0"),
        (
            {"type": "float", "low": 1e-3, "high": 1, "log": True, "step": 0.1},
            "lr: 'step' and 'log' cannot be combined",
        ),
        ({"type": "float", "high": 1}, "lr: 'low' is required for a float parameter"),
        ({"type": "float", "low": "small", "high": 1}, "lr: 'low' must be a finite number, got 'small'"),
        ({"type": "float", "low": 0, "high": 1, "log": "yes"}, "lr: 'log' must be true or false"),
        ({"type": "float", "low": 0, "high": 1, "hi": 2}, "lr: unknown key 'hi' for a float parameter"),
        ({"type": "int", "low": 1.5, "high": 4}, "lr: 'low' must be an integer, got 1.5"),
        ({"type": "int", "low": 1, "high": 4, "step": 0}, "lr: 'step' must be positive"),
        ({"type": "categorical", "choices": []}, "lr: 'choices' must be a non-empty list"),
        ({"type": "categorical", "choices": ["a", "a"]}, "lr: 'choices' has duplicates"),
        ({"type": "categorical", "choices": [{"nested": 1}]}, "lr: choices must be strings, numbers"),
        (
            {"type": "uniform", "low": 0, "high": 1},
            "lr: 'type' must be one of float, int, categorical; got 'uniform'",
        ),
        ([0, 1], "lr: must be an object"),
    ],
)
def test_a_bad_parameter_is_refused_with_its_name_in_the_message(spec, message):
    with pytest.raises(SpaceError) as caught:
        parse_space({"width": {"type": "int", "low": 8, "high": 64}, "lr": spec})
    assert caught.value.message.startswith(message)
    assert caught.value.param == "lr"
    assert caught.value.field == "space.lr"


@pytest.mark.parametrize(
    ("space", "message"), [({}, "the search space is empty"), ([], "must be a JSON object")]
)
def test_a_space_that_is_not_a_set_of_parameters_is_refused(space, message):
    with pytest.raises(SpaceError, match=message):
        parse_space(space)


def test_categorical_choices_of_different_json_types_are_distinct():
    assert parse_space({"flag": {"type": "categorical", "choices": [1, True, "1"]}})["flag"].choices == (
        1,
        True,
        "1",
    )


def test_grid_search_enumerates_steps_and_choices_and_needs_a_step_for_floats():
    space = parse_space(
        {
            "d": {"type": "float", "low": 0.0, "high": 0.3, "step": 0.1},
            "w": {"type": "int", "low": 8, "high": 32, "step": 8},
            "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
        }
    )
    assert grid_values(space) == {"d": [0.0, 0.1, 0.2, 0.3], "w": [8, 16, 24, 32], "opt": ["adam", "sgd"]}
    with pytest.raises(SpaceError, match="lr: grid search needs a 'step'"):
        build_sampler("grid", parse_space({"lr": DESIGN_SPACE["lr"]}), None, {})


def test_every_registered_sampler_and_pruner_builds():
    space = parse_space({k: v for k, v in DESIGN_SPACE.items() if k != "lr"})
    for name in SAMPLERS:
        if name == "cmaes" and importlib.util.find_spec("cmaes") is None:
            with pytest.raises(SpecError, match="pip install cmaes"):
                build_sampler(name, space, 0, {})
            continue
        assert build_sampler(name, space, 0, {}) is not None
    assert {name: type(build_pruner(name, {})).__name__ for name in PRUNERS} == {
        "median": "MedianPruner",
        "successive_halving": "SuccessiveHalvingPruner",
        "hyperband": "HyperbandPruner",
        "none": "NopPruner",
    }


def test_unknown_plugins_and_options_are_refused_with_the_field():
    space = parse_space(DESIGN_SPACE)
    with pytest.raises(
        SpecError, match="unknown sampler 'bayes'; use one of tpe, random, grid, cmaes"
    ) as caught:
        build_sampler("bayes", space, None, {})
    assert caught.value.field == "sampler"
    with pytest.raises(SpecError, match="pruner 'median' has no option 'patience'") as caught:
        build_pruner("median", {"patience": 3})
    assert caught.value.field == "pruner_options"
    with pytest.raises(SpecError, match="pruner 'median'") as caught:
        build_pruner("median", {"n_startup_trials": -1})
    assert caught.value.field == "pruner_options"


@pytest.mark.parametrize(
    ("entry_point", "message"),
    [
        ("examples.train_digits", "must be 'module:function'"),
        ("examples/train_digits.py:train", "must be 'module:function'"),
        ("os:system", "module 'os' is not training code"),
        ("subprocess:run", "module 'subprocess' is not training code"),
        ("tuning.runner:main", "module 'tuning.runner' is not training code"),
    ],
)
def test_entry_points_must_name_a_function_of_training_code(entry_point, message):
    with pytest.raises(SpecError, match=message):
        check_entry_point(entry_point)


def test_entry_points_can_be_limited_to_allowed_modules(settings):
    settings.TUNING_ENTRY_POINT_MODULES = ["examples"]
    assert check_entry_point("examples.train_digits:train") == "examples.train_digits:train"
    with pytest.raises(SpecError, match="not in TUNING_ENTRY_POINT_MODULES"):
        check_entry_point("examplesx.train:train")


BODY = {
    "project": "digits",
    "entry_point": "examples.train_digits:train",
    "space": DESIGN_SPACE,
    "objective": "val/acc",
}


def test_a_minimal_api_body_gets_the_documented_defaults():
    fields = parse_sweep(BODY)
    assert {
        k: fields[k] for k in ("direction", "n_trials", "parallelism", "sampler", "pruner", "seed", "start")
    } == {
        "direction": "maximize",
        "n_trials": 20,
        "parallelism": 1,
        "sampler": "tpe",
        "pruner": "median",
        "seed": None,
        "start": True,
    }
    assert parse_sweep({**BODY, "objective": "val/loss"})["direction"] == "minimize"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"project": ""}, "project", "is required"),
        ({"n_trials": 0}, "n_trials", "must be an integer from 1"),
        ({"n_trials": "5"}, "n_trials", "must be an integer, got '5'"),
        ({"parallelism": True}, "parallelism", "must be an integer, got True"),
        ({"direction": "up"}, "direction", "must be one of maximize, minimize"),
        ({"config": {"lr": 0.1}}, "config", "'lr' is both fixed and searched"),
        ({"colour": "red"}, "colour", "unknown field 'colour'"),
        (
            {"sampler": "grid", "space": {"w": DESIGN_SPACE["width"]}, "n_trials": 9},
            "n_trials",
            "the grid sampler has 8 points to try; n_trials (9) is larger",
        ),
        (
            {"space": {"lr": {"type": "float", "low": 1, "high": 0}}},
            "space.lr",
            "lr: 'low' (1.0) must not be above",
        ),
    ],
)
def test_a_bad_api_body_names_the_field(change, field, message):
    with pytest.raises(SpecError) as caught:
        parse_sweep({**BODY, **change})
    assert caught.value.field == field
    assert message in caught.value.message
