"""Parameter and FLOP counts, the stage table and the summary/models commands."""

import math
import re
from pathlib import Path

import keras
import pytest

import keras_resnet
from keras_resnet import cli, profile

# Multiply-adds at 224x224, as published by torchvision and the paper.
PUBLISHED_GFLOPS = {
    "resnet18": 1.81,
    "resnet34": 3.66,
    "resnet50": 4.09,
    "resnet101": 7.80,
    "resnet152": 11.51,
}


@pytest.mark.parametrize(
    "name",
    [
        "resnet18",
        "resnet34",
        "resnet50",
        pytest.param("resnet101", marks=pytest.mark.large),
        pytest.param("resnet152", marks=pytest.mark.large),
    ],
)
def test_flops_match_published_within_one_percent(name):
    report = profile.profile_model(name)
    assert report.gflops == pytest.approx(PUBLISHED_GFLOPS[name], rel=0.01)


def test_stage_table_of_resnet50_follows_table_1_of_the_paper():
    report = profile.profile_model("resnet50")
    stages = {stage.name: stage for stage in report.stages}
    assert list(stages) == ["stem", "conv2", "conv3", "conv4", "conv5", "head"]
    assert [stages[f"conv{i}"].blocks for i in range(2, 6)] == [3, 4, 6, 3]
    assert [stages[f"conv{i}"].output_shape[:2] for i in range(2, 6)] == [
        (56, 56),
        (28, 28),
        (14, 14),
        (7, 7),
    ]
    assert stages["stem"].output_shape == (56, 56, 64)
    assert stages["conv2"].layout == "1x1,64 3x3,64 1x1,256"
    assert report.trainable_params == 25_557_032
    # The stage rows add up to the model's own counts.
    model = keras_resnet.ResNet50()
    assert report.trainable_params == sum(math.prod(w.shape) for w in model.trainable_weights)
    assert report.non_trainable_params == sum(
        math.prod(w.shape) for w in model.non_trainable_weights
    )


def test_flops_scale_with_image_area_and_count_groups():
    small = profile.profile_model("resnet18", image_size=128)
    large = profile.profile_model("resnet18", image_size=256)
    body = lambda report: sum(s.macs for s in report.stages if s.name != "head")  # noqa: E731
    assert body(large) == pytest.approx(4 * body(small), rel=0.02)
    # A grouped 3x3 conv costs 1/groups of a dense one: ResNeXt50 stays near ResNet50.
    assert profile.profile_model("resnext50_32x4d").gflops == pytest.approx(4.23, abs=0.01)


def test_profile_of_a_model_with_open_input_size():
    model = keras_resnet.ResNet20(num_classes=10)
    assert model.input_shape == (None, None, None, 3)
    report = profile.profile_model(model, image_size=32)
    assert report.input_shape == (32, 32, 3)
    assert report.trainable_params == 269_722
    assert [s.output_shape[:2] for s in report.stages if s.blocks] == [(32, 32), (16, 16), (8, 8)]


def test_summary_command_prints_the_stage_table(capsys):
    assert cli.main(["summary", "ResNet18", "--image-size", "224"]) == 0
    out = capsys.readouterr().out
    assert "11,689,512 trainable" in out
    assert "1.81 G multiply-adds" in out
    assert re.search(r"conv5\s+7x7x512\s+2\s+3x3,512 3x3,512", out)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["summary", "resnet51"], "Unknown model 'resnet51'"),
        (["summary", "resnet18", "--image-size", "16"], "too small"),
    ],
)
def test_summary_mistakes_are_one_line_errors(capsys, argv, message):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_number_is_a_usage_error(capsys):
    assert cli.main(["summary", "resnet18", "--image-size", "zero"]) == 2
    err = capsys.readouterr().err
    assert "expected a whole number" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.large
def test_readme_model_table_is_what_the_code_measures():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = profile.format_model_table(profile.model_table())
    assert table in readme, "regenerate the README table with `keras-resnet models`"
    keras.backend.clear_session()


def test_a_network_composed_from_the_blocks_is_profiled_stage_by_stage():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem_conv1")(inputs)
    x = keras_resnet.BasicBlock(8, name="a")(x)
    x = keras_resnet.BasicBlock(8, name="b")(x)
    x = keras_resnet.BasicBlock(16, strides=2, name="c")(x)
    x = keras_resnet.Bottleneck(8, name="d")(x)  # same resolution, 32 channels: a stage of its own
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3)(x)
    model = keras.Model(inputs, outputs)
    report = profile.profile_model(model, image_size=16)
    stages = {stage.name: stage.blocks for stage in report.stages}
    assert stages == {"stem": 0, "conv2": 2, "conv3": 1, "conv4": 1, "head": 0}
    assert report.trainable_params == sum(math.prod(w.shape) for w in model.trainable_weights)


def test_a_model_without_residual_blocks_is_refused():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    with pytest.raises(ValueError, match="no residual blocks"):
        profile.profile_model(model, image_size=8)
