"""The ``keras-resnet`` command: argument parsing and printing only.

Each subcommand is a function ``run_<name>(args)`` registered in ``COMMANDS`` with
the function that adds its arguments. The work itself lives in the library, so a
notebook can do everything the command does. A user mistake (``UsageError`` or
``ValueError`` raised by the library, ``FileNotFoundError``), a missing optional
package (``ImportError``) or an unreachable download (``ConnectionError``), whose
messages say what to do, prints one line and exits with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from keras_resnet import console
from keras_resnet.data.defaults import EVALUATION_BATCH_SIZE, TOP_K
from keras_resnet.data.sizes import DEFAULT_IMAGE_SIZE


class UsageError(Exception):
    """A mistake in the command line: printed as one line, exit code 2."""


def _add_input_size_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--image-size", type=_positive_int, default=DEFAULT_IMAGE_SIZE[0], help="input size"
    )


def _add_summary_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a model name, e.g. resnet50 (case-insensitive)")
    _add_input_size_argument(parser)
    parser.add_argument("--num-classes", type=_positive_int, default=1000)


def run_summary(args: argparse.Namespace) -> int:
    from keras_resnet import profile

    report = profile.profile_model(args.model, args.image_size, args.num_classes)
    print(profile.format_stage_table(report))
    return 0


def _add_models_arguments(parser: argparse.ArgumentParser) -> None:
    _add_input_size_argument(parser)


def run_models(args: argparse.Namespace) -> int:
    from keras_resnet import profile

    print(profile.format_model_table(profile.model_table(image_size=args.image_size)))
    return 0


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    import dataclasses

    from keras_resnet.training.config import PRESETS, TrainConfig

    parser.add_argument(
        "--data",
        default=None,
        help="an image folder (one subfolder per class, optionally train/ val/ test/), "
        "tfds:NAME, or digits (default: the embedded digits, offline)",
    )
    for field in dataclasses.fields(TrainConfig):
        if field.metadata.get("cli", True):
            _add_setting(parser, field, list(PRESETS.values()))


def _add_setting(parser: argparse.ArgumentParser, field, presets) -> None:
    """One train option from a TrainConfig field: its flag, type, choices and help."""
    meta = field.metadata
    flag = meta.get("flag", "--" + field.name.replace("_", "-"))
    # Absent options stay absent, so that the config (or the preset) decides.
    options: dict = {"dest": field.name, "default": argparse.SUPPRESS}
    if isinstance(field.default, bool):
        options["action"] = "store_false" if flag.startswith("--no-") else "store_true"
    else:
        check = meta.get("check")
        if check == "positive" and "float" in str(field.type):
            check = "positive_float"
        options["type"] = CHECKS.get(check, str)
        for key in ("choices", "metavar"):
            if key in meta:
                options[key] = meta[key]
    values = {getattr(config, field.name) for config in presets}
    if isinstance(field.default, bool) or field.name == "preset" or values == {None}:
        default = ""
    elif len(values) == 1:
        default = f" (default: {_shown(values.pop())})"
    else:
        by_preset = (f"{config.preset} {_shown(getattr(config, field.name))}" for config in presets)
        default = f" (default by preset: {', '.join(by_preset)})"
    parser.add_argument(flag, help=(meta["help"] + default).replace("%", "%%"), **options)


def _shown(value) -> str:
    if isinstance(value, tuple):
        return "x".join(str(side) for side in value)
    return "auto" if value is None else str(value)


def run_train(args: argparse.Namespace) -> int:
    from keras_resnet import training
    from keras_resnet.models import canonical_name

    settings = {name: value for name, value in vars(args).items() if name != "command"}
    data = settings.pop("data")
    if "model" in settings:
        canonical_name(settings["model"])  # an unknown name fails before the data loads
    try:
        result = training.train(data, **settings)
    except KeyboardInterrupt:
        print(
            "keras-resnet train: interrupted; run the same command with --resume to "
            "continue from the last finished epoch",
            file=sys.stderr,
        )
        return 130
    metrics = result.metrics
    if not result.is_chief:
        print(f"worker done: {metrics['epochs_run']} epochs; the chief writes {result.run_dir}")
        return 0
    split = metrics.get("evaluated_on")
    if split:
        top = next((key for key in metrics if key.startswith(f"{split}_top")), None)
        line = f"{split} accuracy: {metrics[f'{split}_accuracy']:.2%}"
        if top:
            line += f" ({top[len(split) + 1 :].replace('_', ' ')} {metrics[top]:.2%})"
        print(f"{line} on {metrics[f'{split}_num_examples']} images")
    epochs = metrics["epochs_run"]
    print(f"trained {epochs} epoch{'' if epochs == 1 else 's'} in {metrics['train_seconds']:.0f} s")
    print(f"model: {result.model_path}")
    if result.best_model_path:
        print(f"best checkpoint: {result.best_model_path}")
    print(f"metrics: {result.metrics_path}")
    print(f"training curves: {result.curves_path}")
    return 0


def _add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a .keras file saved by 'keras-resnet train'")
    parser.add_argument(
        "--data",
        help="an image folder, tfds:NAME or digits (default: the data the model was "
        "trained on, with the same held-out split)",
    )
    parser.add_argument("--top-k", type=_positive_int, default=TOP_K, help=f"default: {TOP_K}")
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=EVALUATION_BATCH_SIZE,
        help=f"default: {EVALUATION_BATCH_SIZE}",
    )
    parser.add_argument(
        "--output", help="folder for confusion_matrix.png (default: the model's folder)"
    )


def run_evaluate(args: argparse.Namespace) -> int:
    _check_model_file(args.model)
    from keras_resnet import evaluation

    output = args.output or os.path.dirname(os.path.abspath(args.model))
    report = evaluation.evaluate(
        args.model, args.data, top_k=args.top_k, output_dir=output, batch_size=args.batch_size
    )
    top = next(key for key in report if key.startswith("top") and key.endswith("_accuracy"))
    split = f" ({report['split']} split)" if report.get("split") else ""
    print(f"accuracy: {report['accuracy']:.2%} on {report['num_examples']} images{split}")
    print(f"{top.replace('_', ' ')}: {report[top]:.2%}")
    print(f"loss: {report['loss']:.4f}")
    print(report["report"].rstrip())
    print(f"confusion matrix: {report['confusion_matrix_path']}")
    return 0


def _add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a .keras file saved by 'keras-resnet train'")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    parser.add_argument("--top-k", type=_positive_int, default=TOP_K, help=f"default: {TOP_K}")


def run_predict(args: argparse.Namespace) -> int:
    _check_model_file(args.model)
    for path in args.images:
        if not os.path.isfile(path):
            raise UsageError(f"no image file at {path!r}")
    from keras_resnet import evaluation

    for path, top in evaluation.predict(args.model, args.images, top_k=args.top_k):
        print(path)
        width = max(len(name) for name, _ in top)
        for name, probability in top:
            print(f"  {name:<{width}}  {probability:7.2%}")
    return 0


def _check_model_file(path: str) -> None:
    # Before any import of Keras, so that the mistake costs no start-up time.
    if not os.path.exists(path):
        raise UsageError(f"no model file at {path!r}")


def _add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a .keras file, e.g. one saved by 'keras-resnet train'")
    parser.add_argument(
        "--format",
        choices=("savedmodel", "onnx", "tflite"),
        default="savedmodel",
        help="savedmodel (TensorFlow or JAX backend), onnx (TensorFlow or PyTorch), "
        "tflite (TensorFlow); default: savedmodel",
    )
    parser.add_argument(
        "--output",
        required=True,
        help="a folder for savedmodel, a .onnx or .tflite file for the others",
    )
    parser.add_argument(
        "--image-size",
        type=_positive_int,
        help="export for N x N images (default: the model's input size, else the size "
        "saved with it)",
    )


def run_export(args: argparse.Namespace) -> int:
    import os

    # Before TensorFlow is first imported, which reads it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_resnet import export

    path = export.export_model(args.model, args.output, args.format, args.image_size)
    print(f"{args.format} artifact (takes raw [0, 255] float32 pixels): {path}")
    return 0


def _add_tune_arguments(parser: argparse.ArgumentParser) -> None:
    import inspect

    from keras_resnet.training.config import PRESETS
    from keras_resnet.tuning import DEFAULT_EPOCHS, TUNERS, tune

    # tune's own signature holds its defaults; the training presets hold the data's.
    defaults = {name: p.default for name, p in inspect.signature(tune).parameters.items()}
    digits, small = PRESETS["digits"], PRESETS["small_images"]
    parser.add_argument(
        "--data",
        default=None,
        help="an image folder, tfds:NAME, or digits (default: the embedded digits, offline)",
    )
    parser.add_argument(
        "--tuner",
        choices=TUNERS,
        default=defaults["tuner"],
        help=f"search algorithm (default: {defaults['tuner']})",
    )
    parser.add_argument(
        "--max-trials",
        type=_positive_int,
        default=defaults["max_trials"],
        help=f"trials in all (default: {defaults['max_trials']})",
    )
    parser.add_argument(
        "--epochs",
        type=_positive_int,
        help=f"epochs per trial (Hyperband: the most; default: {DEFAULT_EPOCHS})",
    )
    parser.add_argument(
        "--max-flops", help="most multiply-adds per image of a trial, e.g. 50M or 0.5G"
    )
    parser.add_argument("--max-params", help="most trainable parameters of a trial, e.g. 2.5M")
    parser.add_argument(
        "--output", default=defaults["output"], help=f"default: {defaults['output']}"
    )
    parser.add_argument("--run-name", help="run folder name (default: tune-<data>)")
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        help="images per step (default: the training preset's for the data: "
        f"digits {digits.batch_size}, small images {small.batch_size}, "
        f"other photos {PRESETS['photos'].batch_size})",
    )
    parser.add_argument(
        "--image-size",
        type=_positive_int,
        help="resize images to N x N (default: the training preset's for the data: "
        f"digits {_shown(digits.image_size)}, small images their stored size, "
        "other photos the data's default)",
    )
    parser.add_argument(
        "--seed", type=int, default=defaults["seed"], help=f"default: {defaults['seed']}"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh; without it a search of the same run name resumes",
    )


def run_tune(args: argparse.Namespace) -> int:
    from keras_resnet import tuning

    result = tuning.tune(
        args.data,
        tuner=args.tuner,
        max_trials=args.max_trials,
        epochs=args.epochs,
        max_flops=args.max_flops,
        max_params=args.max_params,
        output=args.output,
        run_name=args.run_name,
        batch_size=args.batch_size,
        image_size=args.image_size,
        seed=args.seed,
        overwrite=args.overwrite,
        verbose=1,
    )
    if not result.is_chief:
        print(f"worker done: ran trials {', '.join(result.trials_run) or 'none'}")
        return 0
    print(
        f"best trial {result.best_trial_id} of {len(result.trials)}: validation accuracy "
        f"{result.best_val_accuracy:.2%}, {result.best_params:,} parameters, "
        f"{result.best_flops / 1e6:.2f} M multiply-adds"
    )
    if result.test_accuracy is not None:
        print(f"test accuracy: {result.test_accuracy:.2%}")
    print(f"hyperparameters: {result.best_hyperparameters}")
    print(f"best model: {result.best_model_path}")
    print(f"trials: {result.trials_path}")
    print(f"accuracy against FLOPs: {result.plot_path}")
    return 0


def _add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "weights",
        metavar="FILE",
        help="torchvision/timm .pth, .pt, .bin or .safetensors, keras.applications .h5 or "
        ".weights.h5, or a published set to download (imagenet, IMAGENET1K_V1, ...)",
    )
    parser.add_argument(
        "--model", required=True, help="the model to build, e.g. resnet50 (case-insensitive)"
    )
    parser.add_argument(
        "--num-classes",
        type=_positive_int,
        help="classes of the classifier (default: the file's); another count keeps the "
        "backbone and a fresh classifier",
    )
    parser.add_argument(
        "--output", help="the .keras file to write (default: saved_models/<model>.keras)"
    )
    parser.add_argument(
        "--no-preprocessing",
        action="store_true",
        help="expect normalised inputs instead of raw [0, 255] pixels",
    )


def run_convert(args: argparse.Namespace) -> int:
    from keras_resnet import weights
    from keras_resnet.models import canonical_name

    output = args.output or os.path.join(
        "saved_models", f"{canonical_name(args.model).lower()}.keras"
    )
    model = weights.convert(
        args.weights,
        args.model,
        output,
        num_classes=args.num_classes,
        include_preprocessing=not args.no_preprocessing,
    )
    print(f"wrote {output}: {model.name}, {model.output_shape[-1]} classes")
    return 0


# name -> (help, add_arguments, run)
COMMANDS = {
    "summary": (
        "print the stage table: output size, blocks, widths, params and FLOPs",
        _add_summary_arguments,
        run_summary,
    ),
    "models": (
        "list every named model with its parameters and FLOPs (a Markdown table)",
        _add_models_arguments,
        run_models,
    ),
    "train": (
        "train a ResNet; with no arguments, a small one on the embedded digits (offline)",
        _add_train_arguments,
        run_train,
    ),
    "tune": (
        "search width, depth and recipe with KerasTuner within a params/FLOPs budget",
        _add_tune_arguments,
        run_tune,
    ),
    "evaluate": (
        "accuracy, top-k, per-class report and confusion matrix of a trained model",
        _add_evaluate_arguments,
        run_evaluate,
    ),
    "predict": (
        "print the top-k classes of image files",
        _add_predict_arguments,
        run_predict,
    ),
    "export": (
        "write a SavedModel, ONNX or TFLite artifact that takes raw pixels",
        _add_export_arguments,
        run_export,
    ),
    "convert": (
        "convert torchvision, timm or keras.applications weights into a saved .keras model",
        _add_convert_arguments,
        run_convert,
    ),
}


def _number_type(convert, kind: str, accepts, requirement: str):
    """An argparse ``type``: ``convert`` the text, and refuse values ``accepts`` rejects."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not accepts(value):
            raise argparse.ArgumentTypeError(f"expected {requirement}, got {value}")
        return value

    return parse


_positive_int = _number_type(int, "a whole number", lambda v: v >= 1, "a positive number")
_positive_float = _number_type(float, "a number", lambda v: v > 0, "a positive number")
_non_negative_float = _number_type(float, "a number", lambda v: v >= 0, "a number >= 0")


def _fraction(text: str) -> float:
    value = _non_negative_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"expected a number below 1, got {value}")
    return value


# The ``check`` of a TrainConfig field -> the argparse type that enforces it.
CHECKS = {
    "positive": _positive_int,
    "positive_float": _positive_float,
    "non_negative": _non_negative_float,
    "fraction": _fraction,
    "integer": int,
}


class _Parser(argparse.ArgumentParser):
    """Reports a bad argument as one line (argparse prints the usage too) for main."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="keras-resnet",
        description="Build, train, tune and ship ResNets with Keras 3. "
        "Choose the backend with KERAS_BACKEND=tensorflow|jax|torch.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(subparsers.add_parser(name, help=help_text, description=help_text))
    return parser


def _warning_line(command: str):
    """Shows a warning as one line under the command's name, without Python's source line."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"keras-resnet {command}: warning: {message}", file=sys.stderr)

    return show


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    run = COMMANDS[args.command][2]
    console.probe_devices_quietly()
    # ImportError: an optional package the job needs; ConnectionError: a download that
    # cannot reach its server. Their messages say which, and what to do.
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line(args.command)
            return run(args)
    except (UsageError, ValueError, FileNotFoundError, ImportError, ConnectionError) as error:
        print(f"keras-resnet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"keras-resnet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
