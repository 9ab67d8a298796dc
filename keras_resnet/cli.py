"""The ``keras-resnet`` command: argument parsing and printing only.

Each subcommand is a function ``run_<name>(args)`` registered in ``COMMANDS`` with
the function that adds its arguments. The work itself lives in the library, so a
notebook can do everything the command does. A user mistake (``UsageError`` or
``ValueError`` raised by the library, ``FileNotFoundError``) prints one line and
exits with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys


class UsageError(Exception):
    """A mistake in the command line: printed as one line, exit code 2."""


def _add_summary_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a model name, e.g. resnet50 (case-insensitive)")
    parser.add_argument("--image-size", type=_positive_int, default=224, help="input size")
    parser.add_argument("--num-classes", type=_positive_int, default=1000)


def run_summary(args: argparse.Namespace) -> int:
    from keras_resnet import profile

    report = profile.profile_model(args.model, args.image_size, args.num_classes)
    print(profile.format_stage_table(report))
    return 0


def _add_models_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image-size", type=_positive_int, default=224, help="input size")


def run_models(args: argparse.Namespace) -> int:
    from keras_resnet import profile

    print(profile.format_model_table(profile.model_table(image_size=args.image_size)))
    return 0


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
    parser.add_argument(
        "--data",
        default=None,
        help="an image folder, tfds:NAME, or digits (default: the embedded digits, offline)",
    )
    parser.add_argument("--tuner", choices=("random", "hyperband", "bayesian"), default="random")
    parser.add_argument(
        "--max-trials", type=_positive_int, default=10, help="trials in all (default: 10)"
    )
    parser.add_argument(
        "--epochs", type=_positive_int, help="epochs per trial (Hyperband: the most; default: 5)"
    )
    parser.add_argument(
        "--max-flops", help="most multiply-adds per image of a trial, e.g. 50M or 0.5G"
    )
    parser.add_argument("--max-params", help="most trainable parameters of a trial, e.g. 2.5M")
    parser.add_argument("--output", default="saved_models", help="default: saved_models")
    parser.add_argument("--run-name", help="run folder name (default: tune-<data>)")
    parser.add_argument("--batch-size", type=_positive_int, help="batch size (digits: 64, else 32)")
    parser.add_argument(
        "--image-size", type=_positive_int, help="resize images to N x N (digits: 16, else 224)"
    )
    parser.add_argument("--seed", type=int, default=0, help="default: 0")
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
    "export": (
        "write a SavedModel, ONNX or TFLite artifact that takes raw pixels",
        _add_export_arguments,
        run_export,
    ),
    "tune": (
        "search width, depth and recipe with KerasTuner within a params/FLOPs budget",
        _add_tune_arguments,
        run_tune,
    ),
}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-resnet",
        description="Build, train, tune and ship ResNets with Keras 3. "
        "Choose the backend with KERAS_BACKEND=tensorflow|jax|torch.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(subparsers.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = COMMANDS[args.command][2]
    try:
        return run(args)
    except (UsageError, ValueError, FileNotFoundError) as error:
        print(f"keras-resnet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"keras-resnet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
