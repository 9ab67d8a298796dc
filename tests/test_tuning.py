"""Tests of the KerasTuner search: the space, the budget, the reports, resuming, distribution.

Searches train on a few digits at 16x16 for a step or two: the tests check what the
search does, not what it finds. Several searches and the multi-process run are slow.
"""

from __future__ import annotations

import csv
import importlib.util
import inspect
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest

from keras_resnet import compat, saving, tuning
from keras_resnet.layers import BasicBlock, Bottleneck
from keras_resnet.tuning import oracles, search

BACKEND = keras.backend.backend()
TIMEOUT = 300
TINY_SEARCH = dict(width=(0.25, 0.5), depth=(1, 2), epochs=1, steps_per_epoch=2, verbose=0, seed=0)


def tiny_arrays(count=160):
    """Digits as 8x8 RGB arrays: tune() resizes them to 16x16."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.repeat((digits.images[:count] * 16)[..., None], 3, axis=-1).astype("uint8")
    return images, digits.target[:count]


@pytest.fixture(scope="module")
def tiny_data():
    from keras_resnet.data import load_data

    return load_data(tiny_arrays(), image_size=16, batch_size=32, validation_split=0.25)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def sample(hypermodel, seed):
    """Random values for every hyperparameter of the space, as an oracle draws them."""
    space = keras_tuner.HyperParameters()
    hypermodel.architecture(space)
    hypermodel.compile_arguments(space)
    hp = keras_tuner.HyperParameters()
    for index, parameter in enumerate(space.space):
        hp.values[parameter.name] = parameter.random_sample(seed * 100 + index)
    return hp


def blocks_per_stage(model):
    """``{stage: [block layers]}`` from the model's ``conv{n}_block{m}`` layers."""
    stages: dict[int, list] = {}
    for layer in model.layers:
        match = re.fullmatch(r"conv(\d+)_block(\d+)", layer.name)
        if match:
            stages.setdefault(int(match.group(1)), []).append(layer)
    return [stages[stage] for stage in sorted(stages)]


# ----------------------------------------------------------------------------------------
# Specs


def test_a_value_is_fixed_a_pair_a_range_a_list_choices_and_none_the_default():
    hp = keras_tuner.HyperParameters()
    assert tuning.hyperparameter(hp, "fixed", 3) == 3
    assert tuning.hyperparameter(hp, "ints", (1, 4)) == 1
    assert tuning.hyperparameter(hp, "floats", (0.5, 2.0), log=True) == 0.5
    assert tuning.hyperparameter(hp, "zero_low", (0.0, 0.2), log=True) == 0.0
    assert tuning.hyperparameter(hp, "listed", [0.5, 1, 2]) == 0.5
    assert tuning.hyperparameter(hp, "named", ("basic", "bottleneck")) == "basic"
    assert tuning.hyperparameter(hp, "point", (2, 2)) == 2
    assert tuning.hyperparameter(hp, "absent", None, default="library") == "library"

    kinds = {parameter.name: parameter for parameter in hp.space}
    assert isinstance(kinds["fixed"], keras_tuner.engine.hyperparameters.Fixed)
    assert isinstance(kinds["ints"], keras_tuner.engine.hyperparameters.Int)
    assert (kinds["ints"].min_value, kinds["ints"].max_value) == (1, 4)
    assert isinstance(kinds["floats"], keras_tuner.engine.hyperparameters.Float)
    assert kinds["floats"].sampling == "log"
    # A log scale cannot start at 0: that range stays linear.
    assert kinds["zero_low"].sampling == "linear"
    assert kinds["listed"].values == [0.5, 1.0, 2.0]
    assert kinds["named"].values == ["basic", "bottleneck"]
    assert isinstance(kinds["point"], keras_tuner.engine.hyperparameters.Fixed)
    assert "absent" not in kinds

    with pytest.raises(ValueError, match="low end above"):
        tuning.hyperparameter(hp, "backwards", (4, 1))


def test_unsearched_choices_register_nothing_and_take_the_library_defaults():
    hypermodel = tuning.HyperResNet(
        10, (32, 32, 3), width=None, depth=None, block_type=None, stem="cifar"
    )
    hp = keras_tuner.HyperParameters()
    config = hypermodel.architecture(hp)
    compile_arguments = hypermodel.compile_arguments(hp)
    # stem is fixed, so it is the one registered value; the rest are not searched.
    assert [parameter.name for parameter in hp.space] == ["stem"]
    assert config["stage_depths"] == (tuning.DEFAULT_DEPTH,) * 3
    assert config["stage_widths"] == (16, 32, 64)
    assert config["block_type"] == "bottleneck"
    assert config["variant"] == "v1.5"
    assert compile_arguments == {}


def test_the_training_choices_reach_the_compiled_model():
    hypermodel = tuning.HyperResNet(
        4,
        (16, 16, 3),
        width=0.5,
        depth=1,
        block_type="basic",
        stem="cifar",
        optimizer="adamw",
        learning_rate=(1e-4, 1e-2),
        weight_decay=0.01,
        label_smoothing=0.2,
    )
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == pytest.approx(0.01)
    assert model.loss.label_smoothing == pytest.approx(0.2)
    assert hp.values["learning_rate"] == pytest.approx(1e-4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(block_type="wide"), "Unknown block_type"),
        (dict(stem=["imagenet", "cifar"]), "needs images of at least 32x32"),
        (dict(variant="v1", block_type=("basic", "bottleneck")), "v1"),
        (dict(width=(0.0, 1.0)), "width values must be positive"),
        (dict(depth=(0, 2)), "depth values must be"),
        (dict(optimizer="adam"), "Unknown optimizer"),
        (dict(max_flops=0), "max_flops must be positive"),
        (dict(stem="cifar", base_widths=(16, 32)), "one width per stage"),
    ],
)
def test_impossible_spaces_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tuning.HyperResNet(10, (16, 16, 3), **kwargs)


def test_height_and_width_must_be_known():
    with pytest.raises(ValueError, match="known height and width"):
        tuning.HyperResNet(10, (None, None, 3))


def test_the_stems_and_widths_are_the_library_defaults():
    from keras_resnet import models
    from keras_resnet.tuning import space

    assert space.library_stem(None, "v1.5") == "imagenet"
    assert space.library_stem(None, "d") == "deep"
    assert space.library_stem("cifar", "d") == "cifar"
    assert space.library_widths("cifar", "v1.5", 3) == models.CIFAR_WIDTHS
    assert space.library_widths(None, "v1.5", 2) == models.IMAGENET_WIDTHS[:2]
    # Stages past the library's table double the last width.
    assert space.library_widths("cifar", "v1.5", 4) == (*models.CIFAR_WIDTHS, 128)
    assert space.library_widths("deep", "d", 5) == (*models.IMAGENET_WIDTHS, 1024)
    with pytest.raises(ValueError, match="stem_type"):
        space.library_widths("tiny", "v1.5", 5)


def test_tune_takes_its_defaults_from_the_training_presets(tmp_path, monkeypatch):
    import inspect

    from keras_resnet.training import config

    defaults = inspect.signature(tuning.tune).parameters
    assert defaults["validation_split"].default == config.VALIDATION_SPLIT
    assert defaults["seed"].default == config.TrainConfig().seed
    assert defaults["output"].default == config.TrainConfig().output
    assert tuning.SMALL_IMAGE_SIZE == config.SMALL_IMAGE_SIZE
    # The names a run folder and a saved model take for each kind of data.
    (tmp_path / "flowers").mkdir()
    monkeypatch.chdir(tmp_path)
    assert config.data_label(None) == "digits"
    assert config.data_label("tfds:cifar10/3.0.2") == "cifar10-3.0.2"
    assert config.data_label(Path("flowers")) == "flowers"
    assert config.data_label(tiny_arrays(10)) is None
    assert config.data_source(None) == "digits"
    assert config.data_source("flowers") == str(tmp_path / "flowers")
    assert config.data_source("tfds:cifar10") == "tfds:cifar10"
    assert config.data_source(tiny_arrays(10)) is None


# ----------------------------------------------------------------------------------------
# Sampling width and depth


def test_sampling_covers_width_and_depth_of_every_stage():
    hypermodel = tuning.HyperResNet(
        10, (16, 16, 3), width=(0.5, 2.0), per_stage_width=True, depth=(1, 3), stem="cifar"
    )
    configs = [hypermodel.architecture(sample(hypermodel, seed)) for seed in range(60)]
    for stage, base in enumerate((16, 32, 64)):
        widths = {config["stage_widths"][stage] for config in configs}
        depths = {config["stage_depths"][stage] for config in configs}
        assert depths == {1, 2, 3}
        assert min(widths) <= base * 0.75 and max(widths) >= base * 1.5
        assert all(width % tuning.WIDTH_DIVISOR == 0 for width in widths)
    assert {config["block_type"] for config in configs} == {"basic", "bottleneck"}
    # Per-stage multipliers: stages do not all scale together.
    ratios = {
        tuple(w / b for w, b in zip(config["stage_widths"], (16, 32, 64), strict=True))
        for config in configs
    }
    assert any(len(set(ratio)) > 1 for ratio in ratios)


@pytest.mark.parametrize(
    "values",
    [
        dict(depth_stage1=1, depth_stage2=3, depth_stage3=2, block_type="basic", variant="v2"),
        dict(depth_stage1=2, depth_stage2=1, depth_stage3=1, block_type="bottleneck", variant="d"),
    ],
)
def test_built_models_have_the_sampled_widths_and_depths(values):
    hypermodel = tuning.HyperResNet(
        10,
        (16, 16, 3),
        width=[0.5, 1.0],
        depth=(1, 3),
        block_type=("basic", "bottleneck"),
        variant=["v1.5", "d", "v2"],
        stem="cifar",
    )
    hp = keras_tuner.HyperParameters()
    hp.values = dict(values, width_multiplier=0.5)
    model = hypermodel.build(hp)
    stages = blocks_per_stage(model)
    assert [len(blocks) for blocks in stages] == [values[f"depth_stage{i}"] for i in (1, 2, 3)]
    expected_class = BasicBlock if values["block_type"] == "basic" else Bottleneck
    for blocks, width in zip(stages, (8, 16, 32), strict=True):
        for block in blocks:
            assert type(block) is expected_class
            assert block.filters == width
    assert any(layer.name == "post_bn" for layer in model.layers) == (values["variant"] == "v2")
    assert hypermodel.describe(hp)["filters_stage3"] == 32


def test_round_filters_keeps_multiples_and_never_loses_more_than_a_tenth():
    assert tuning.round_filters(16 * 0.75) == 16
    assert tuning.round_filters(64 * 1.3) == 80
    assert tuning.round_filters(3) == 8
    for value in np.linspace(8, 300, 50):
        rounded = tuning.round_filters(value)
        assert rounded % 8 == 0 and rounded >= 0.9 * value


# ----------------------------------------------------------------------------------------
# The budget


def test_an_over_budget_model_is_rejected_with_its_numbers_and_never_trained(monkeypatch):
    hypermodel = tuning.HyperResNet(
        10, (16, 16, 3), width=0.5, depth=1, block_type="basic", stem="cifar", max_params=1000
    )
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    fits = []
    monkeypatch.setattr(keras.Model, "fit", lambda *args, **kwargs: fits.append(1))
    with pytest.raises(keras_tuner.errors.FailedTrialError) as error:
        hypermodel.fit(hp, model, np.zeros((2, 16, 16, 3)), np.zeros(2))
    message = str(error.value)
    params, _ = hypermodel.measure(hp)
    assert tuning.OVER_BUDGET in message
    assert f"{params:,}" in message and "max_params=1,000" in message
    assert fits == []


def test_keras_tuners_own_oracle_marks_the_trial_rejected(tmp_path, tiny_data, monkeypatch):
    hypermodel = tuning.HyperResNet(
        10, (16, 16, 3), width=0.5, depth=1, block_type="basic", stem="cifar", max_flops=1e5
    )
    fits = []
    monkeypatch.setattr(keras.Model, "fit", lambda *args, **kwargs: fits.append(1))
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_accuracy", "max"),
        max_trials=1,
        max_consecutive_failed_trials=2,
    )
    tuner = search.SearchTuner(oracle, hypermodel, directory=str(tmp_path), project_name="p")
    tuner.search(tiny_data.train, validation_data=tiny_data.validation, epochs=1, verbose=0)
    [row] = tuning.trial_rows(tuner, hypermodel)
    assert row["status"] == "rejected"
    assert row["flops"] > 1e5 and "max_flops=100,000" in row["note"]
    assert row["val_accuracy"] is None
    assert fits == []


def test_the_oracle_resamples_instead_of_handing_out_over_budget_trials(tmp_path):
    hypermodel = tuning.HyperResNet(10, (16, 16, 3), stem="cifar")
    costs = sorted(hypermodel.measure(sample(hypermodel, seed))[1] for seed in range(20))
    hypermodel.max_flops = costs[len(costs) // 3]
    oracle = oracles.BudgetedRandomSearchOracle(
        objective=keras_tuner.Objective("val_accuracy", "max"),
        max_trials=8,
        seed=1,
        budget_check=hypermodel.check_budget,
    )
    oracle._set_project_dir(str(tmp_path), "p")
    space = oracle.get_space()
    hypermodel.architecture(space)
    oracle.update_space(space)
    for index in range(8):
        trial = oracle.create_trial(f"tuner{index}")
        assert trial.status == "RUNNING"
        assert hypermodel.measure(trial.hyperparameters.values)[1] <= hypermodel.max_flops
    assert oracle.resampled > 0


def test_a_budget_nothing_fits_ends_the_search_untrained(tmp_path, tiny_data, monkeypatch):
    fits = []
    monkeypatch.setattr(keras.Model, "fit", lambda *args, **kwargs: fits.append(1))
    with pytest.raises(ValueError, match="No trial completed.*Raise the budget"):
        tuning.tune(
            tiny_data, max_trials=2, max_params="1k", output=tmp_path, run_name="r", **TINY_SEARCH
        )
    assert fits == []
    assert read_csv(tmp_path / "r" / tuning.TRIALS_FILE) == []


def test_parse_count_reads_human_numbers():
    assert tuning.parse_count("50M") == 50e6
    assert tuning.parse_count("0.5G") == 0.5e9
    assert tuning.parse_count("1200k") == 1.2e6
    assert tuning.parse_count("2.5e6") == 2.5e6
    assert tuning.parse_count(3e6) == 3e6
    assert tuning.parse_count(None) is None
    for text in ("fifty", "5 X", "-3M", "0"):
        with pytest.raises(ValueError):
            tuning.parse_count(text)


def test_pareto_front_keeps_the_points_no_cheaper_point_beats():
    points = [(10, 0.9), (5, 0.8), (20, 0.85), (5, 0.7), (30, 0.95), (12, 0.9)]
    assert tuning.pareto_front(points) == [1, 0, 4]
    assert tuning.pareto_front([]) == []


# ----------------------------------------------------------------------------------------
# Searches


def test_a_search_writes_the_table_the_plot_and_the_best_model(tmp_path, tiny_data):
    result = tuning.tune(
        tiny_data,
        max_trials=1,
        max_flops="2M",
        output=tmp_path,
        run_name="search",
        # Basic blocks at these widths share their shapes with the models built above,
        # which JAX then need not compile again.
        **dict(TINY_SEARCH, width=(0.4, 0.6), block_type="basic"),
    )
    run_dir = tmp_path / "search"
    [row] = read_csv(run_dir / tuning.TRIALS_FILE)
    for column in (
        "width_multiplier",
        "depth_stage1",
        "depth_stage3",
        "filters_stage1",
        "block_type",
        "params",
        "flops",
        "val_accuracy",
        "seconds",
        "status",
    ):
        assert row[column] != "", column
    assert row["status"] == "completed"
    assert int(row["flops"]) <= 2e6
    assert 0.0 <= float(row["val_accuracy"]) <= 1.0
    assert (run_dir / tuning.PLOT_FILE).stat().st_size > 1000

    model, metadata = saving.load_model(run_dir / tuning.BEST_MODEL_FILE, compile=False)
    assert metadata["class_names"] == [str(i) for i in range(10)]
    assert metadata["hyperparameters"] == result.best_hyperparameters
    assert metadata["flops"] == result.best_flops == int(row["flops"])
    stages = blocks_per_stage(model)
    assert [len(blocks) for blocks in stages] == [int(row[f"depth_stage{i}"]) for i in (1, 2, 3)]
    assert [blocks[0].filters for blocks in stages] == [
        int(row[f"filters_stage{i}"]) for i in (1, 2, 3)
    ]
    # 16x16 images: trials are built as the small_images preset builds its networks.
    assert all(block.zero_init_last is False for blocks in stages for block in blocks)
    assert result.trials_run == [row["trial_id"]]
    # The oracle's weightless count agrees with the trained model's.
    values = result.tuner.oracle.get_trial(row["trial_id"]).hyperparameters.values
    assert result.tuner.hypermodel.measure(values) == (int(row["params"]), int(row["flops"]))


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute is TensorFlow's")
def test_each_trial_trains_under_the_distribution_strategy(tmp_path, tiny_data, monkeypatch):
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(["CPU:0"])
    seen = []
    original = tuning.HyperResNet.fit

    def fit(self, hp, model, *args, **kwargs):
        seen.append(model.distribute_strategy)
        return original(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(tuning.HyperResNet, "fit", fit)
    result = tuning.tune(
        tiny_data,
        max_trials=1,
        output=tmp_path,
        run_name="mirrored",
        distribution_strategy=strategy,
        **TINY_SEARCH,
    )
    assert seen == [strategy]
    assert result.trials[0]["status"] == "completed"


@pytest.mark.skipif(BACKEND == "tensorflow", reason="the strategy works on TensorFlow")
def test_a_strategy_off_tensorflow_is_a_clear_error(tiny_data):
    with pytest.raises(ValueError, match="KERAS_BACKEND=tensorflow"):
        tuning.tune(tiny_data, distribution_strategy="mirrored")


@pytest.mark.slow
def test_a_resumed_search_runs_only_the_missing_trials(tmp_path, tiny_data):
    first = tuning.tune(tiny_data, max_trials=2, output=tmp_path, run_name="r", **TINY_SEARCH)
    assert len(first.trials_run) == 2
    second = tuning.tune(tiny_data, max_trials=3, output=tmp_path, run_name="r", **TINY_SEARCH)
    assert len(second.trials_run) == 1
    assert second.trials_run[0] not in first.trials_run
    rows = read_csv(tmp_path / "r" / tuning.TRIALS_FILE)
    assert [row["trial_id"] for row in rows] == sorted(first.trials_run + second.trials_run)
    # The first trials are reported as they were, not trained again.
    for before, after in zip(first.trials, rows, strict=False):
        assert float(after["val_accuracy"]) == pytest.approx(before["val_accuracy"])
        assert float(after["seconds"]) == pytest.approx(before["seconds"])
    # overwrite starts afresh.
    third = tuning.tune(
        tiny_data, max_trials=1, output=tmp_path, run_name="r", overwrite=True, **TINY_SEARCH
    )
    assert len(read_csv(tmp_path / "r" / tuning.TRIALS_FILE)) == len(third.trials_run) == 1


@pytest.mark.slow
@pytest.mark.parametrize("tuner", ["hyperband", "bayesian"])
def test_hyperband_and_bayesian_searches_complete(tmp_path, tiny_data, tuner):
    settings = dict(TINY_SEARCH, epochs=3)
    result = tuning.tune(
        tiny_data, tuner=tuner, max_trials=4, max_flops="2M", output=tmp_path, **settings
    )
    assert [row["status"] for row in result.trials] == ["completed"] * 4
    assert all(row["flops"] <= 2e6 for row in result.trials)
    if tuner == "hyperband":
        # max_epochs 3, factor 3: three 1-epoch trials, then the best goes on to epoch 3.
        assert [row["epochs"] for row in result.trials] == [1, 1, 1, 2]
        assert result.trials[3]["continues_trial"] in {"0", "1", "2"}


# ----------------------------------------------------------------------------------------
# KerasTuner's distributed mode: a chief oracle and two workers on 127.0.0.1

DISTRIBUTED_JOB = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from sklearn.datasets import load_digits
    from keras_resnet import tuning

    digits = load_digits()
    images = np.repeat((digits.images[:160] * 16)[..., None], 3, axis=-1).astype("uint8")
    result = tuning.tune(
        (images, digits.target[:160]), image_size=16, batch_size=32, max_trials=4,
        output=sys.argv[1], run_name="distributed", width=(0.25, 0.5), depth=(1, 2),
        epochs=1, steps_per_epoch=2, verbose=0,
    )
    print("RESULT " + json.dumps({"chief": result.is_chief, "ran": result.trials_run}))
    """
)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_a_chief_and_two_workers_run_every_trial_exactly_once(tmp_path):
    port = _free_port()
    processes = {}
    try:
        for tuner_id in ("chief", "tuner0", "tuner1"):
            env = dict(
                os.environ,
                KERASTUNER_TUNER_ID=tuner_id,
                KERASTUNER_ORACLE_IP="127.0.0.1",
                KERASTUNER_ORACLE_PORT=str(port),
                KERAS_BACKEND=BACKEND,
            )
            processes[tuner_id] = subprocess.Popen(
                [sys.executable, "-c", DISTRIBUTED_JOB, str(tmp_path)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        outputs = {
            tuner_id: process.communicate(timeout=TIMEOUT)[0]
            for tuner_id, process in processes.items()
        }
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for tuner_id, process in processes.items():
        assert process.returncode == 0, f"{tuner_id}:\n{outputs[tuner_id][-3000:]}"
    results = {
        tuner_id: json.loads(re.search(r"^RESULT (.*)$", output, re.M).group(1))
        for tuner_id, output in outputs.items()
    }
    assert results["chief"] == {"chief": True, "ran": []}
    ran = results["tuner0"]["ran"] + results["tuner1"]["ran"]

    project = Path(tmp_path) / "distributed" / tuning.TUNER_DIR
    trials = [json.loads(path.read_text()) for path in sorted(project.glob("trial_*/trial.json"))]
    assert len(trials) == 4
    assert sorted(ran) == sorted(trial["trial_id"] for trial in trials)  # each exactly once
    assert all(trial["status"] == "COMPLETED" for trial in trials)
    values = [json.dumps(trial["hyperparameters"]["values"], sort_keys=True) for trial in trials]
    assert len(set(values)) == 4
    rows = read_csv(Path(tmp_path) / "distributed" / tuning.TRIALS_FILE)
    assert [row["status"] for row in rows] == ["completed"] * 4
    assert (Path(tmp_path) / "distributed" / tuning.BEST_MODEL_FILE).exists()


# ----------------------------------------------------------------------------------------
# The KerasTuner and Keras internals that keras_resnet.compat uses: each test fails
# when the internal moves, so that the workaround is revisited rather than lost.


@pytest.mark.parametrize(
    "oracle_class, kwargs",
    [
        (keras_tuner.oracles.RandomSearchOracle, dict(max_trials=2)),
        (keras_tuner.oracles.HyperbandOracle, dict(max_epochs=3)),
        (keras_tuner.oracles.BayesianOptimizationOracle, dict(max_trials=2)),
    ],
)
def test_every_oracle_draws_new_configurations_through_random_values(oracle_class, kwargs):
    assert list(inspect.signature(keras_tuner.Oracle._random_values).parameters) == ["self"]
    draws = []

    class Recording(compat.FilteredRandomDraws, oracle_class):
        def filter_random_draws(self, draw):
            draws.append(draw())
            return draws[-1]

    oracle = Recording(objective=keras_tuner.Objective("val_accuracy", "max"), seed=1, **kwargs)
    space = keras_tuner.HyperParameters()
    space.Int("n", 1, 1000)
    oracle.update_space(space)
    response = oracle.populate_space("0")
    assert response["status"] == "RUNNING"
    assert len(draws) == 1 and response["values"]["n"] == draws[0]["n"]


def test_keras_tuner_configures_tensorboard_where_optional_tensorboard_steps_in(monkeypatch):
    method = keras_tuner.Tuner._configure_tensorboard_dir
    assert list(inspect.signature(method).parameters) == ["self", "callbacks", "trial", "execution"]
    assert "self._configure_tensorboard_dir(" in inspect.getsource(keras_tuner.Tuner.run_trial)
    configured = []

    class Base:
        def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
            configured.append(execution)

    class Tuner(compat.OptionalTensorBoard, Base):
        pass

    found = importlib.util.find_spec
    for installed, calls in ((False, []), (True, [0])):
        spec = object() if installed else None
        monkeypatch.setattr(
            importlib.util,
            "find_spec",
            lambda name, *args, spec=spec: spec if name == "tensorboard" else found(name, *args),
        )
        Tuner()._configure_tensorboard_dir([], trial=None)
        assert configured == calls


def test_hyperband_makes_its_own_oracle_and_tuner_init_does_the_rest(tmp_path):
    assert "oracle" not in inspect.signature(keras_tuner.Hyperband.__init__).parameters
    assert {"oracle", "hypermodel"} <= set(inspect.signature(keras_tuner.Tuner.__init__).parameters)
    hypermodel = tuning.HyperResNet(10, (16, 16, 3), stem="cifar")
    own = keras_tuner.Hyperband(
        hypermodel, "val_accuracy", max_epochs=3, directory=str(tmp_path), project_name="own"
    )
    oracle = oracles.BudgetedHyperbandOracle(objective="val_accuracy", max_epochs=3, max_trials=2)
    ours = search.HyperbandSearchTuner(
        oracle, hypermodel, directory=str(tmp_path), project_name="ours"
    )
    assert ours.oracle is oracle
    # Hyperband.__init__ sets nothing that Tuner.__init__ does not.
    assert set(vars(ours)) - {"trials_run"} == set(vars(own))


def test_a_distributed_worker_is_told_from_kerastuners_environment(monkeypatch):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert not compat.is_distributed_worker()
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    assert not compat.is_distributed_worker()
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
    assert compat.is_distributed_worker()


def test_a_weightless_build_leaves_kerass_queue_of_uninitialised_variables_as_it_was():
    from keras.src.backend.common import global_state

    def queue():
        return [
            id(variable)
            for variable in global_state.get_global_attribute("uninitialized_variables") or []
        ]

    before = queue()
    with compat.weightless_build():
        variable = keras.Variable(keras.initializers.Zeros(), shape=(3,))
        # Keras queues it: the list this context manager puts back.
        assert id(variable) in queue()
    assert queue() == before
    assert tuple(variable.shape) == (3,)


# ----------------------------------------------------------------------------------------
# keras-resnet tune


def test_the_command_reports_a_bad_budget_in_one_line(capsys):
    from keras_resnet import cli

    assert cli.main(["tune", "--max-flops", "lots", "--max-trials", "1"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("keras-resnet tune: error:") and "lots" in error
    assert "\n" not in error


@pytest.mark.slow
def test_the_command_searches_the_embedded_digits(tmp_path, capsys):
    from keras_resnet import cli

    argv = ["tune", "--max-trials", "1", "--epochs", "1", "--max-flops", "2M"]
    argv += ["--output", str(tmp_path), "--run-name", "cli", "--image-size", "16"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "best trial" in printed and str(tmp_path / "cli" / tuning.BEST_MODEL_FILE) in printed
    [row] = read_csv(tmp_path / "cli" / tuning.TRIALS_FILE)
    assert row["status"] == "completed" and int(row["flops"]) <= 2e6
