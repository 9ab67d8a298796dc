"""Training and inference speed of ResNets, side by side on one machine.

Times, at the same batch size and image size,

- keras_resnet ResNet18 and ResNet50 on each Keras backend asked for,
- keras.applications ResNet50 on the same backends,
- torchvision resnet50 in plain PyTorch (channels_last),

in float32 and the mixed precisions that apply (bfloat16 everywhere, float16 on GPUs).
A training step is forward, backward and an SGD-momentum update on synthetic
images and labels that already sit in memory, so the input pipeline is left out;
``benchmarks/data_pipeline.py`` times that alone, and ``--fit-data`` adds the
end-to-end images/s of ``model.fit`` on a photo folder through ``keras_resnet.data``.

Each Keras case runs ``fit`` for one warm-up epoch of ``--steps`` steps (compilation
included); then the cases take turns for ``--repeats`` rounds of one timed epoch each,
and a step time is the median epoch time over ``--steps``. torchvision runs the same
number of warm-up and timed steps.
Every backend runs in its own process. The table gives each case's median step,
images/s and ratio against keras.applications ResNet50 at the same backend and
precision, and everything is written as JSON.

Usage (from the repository root):

    python benchmarks/speed.py --backends tensorflow,jax,torch --batch-size 16
    python benchmarks/speed.py --backends jax --batch-size 256 --precisions mixed_bfloat16
    python benchmarks/speed.py --backends tensorflow --models keras_resnet:resnet50 \
        --precisions mixed_bfloat16 --batch-size 8,16,32,64

With several batch sizes every case is timed at each, and the report ends with each
ResNet-50's best setting and the ratio of keras_resnet's best to torchvision's best.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "benchmarks"))
from machine import describe_machine  # noqa: E402

NUM_CLASSES = 1000
KERAS_MODELS = ("keras_resnet:resnet18", "keras_resnet:resnet50", "applications:resnet50")


def main() -> None:
    args = _parse_args()
    if args.worker == "torchvision":
        _print_result(_torchvision_cases(args))
        return
    if args.worker:
        _print_result(_keras_cases(args))
        return

    results = []
    for batch_size in args.batch_sizes:
        args.batch_size = batch_size
        for backend in args.backends.split(","):
            results += _run_worker(backend, args)
        if args.torchvision:
            results += _run_worker("torchvision", args)
    print(_table(results))
    print(_best_against_best(results))
    report = {"machine": describe_machine(), "settings": vars(args), "results": results}
    Path(args.output).write_text(json.dumps(report, indent=2))
    print(f"written: {args.output}")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--models", default=",".join(KERAS_MODELS))
    parser.add_argument(
        "--precisions",
        default="auto",
        help="comma-separated float32, mixed_bfloat16, mixed_float16; auto: "
        "float32 and mixed_bfloat16, plus mixed_float16 on a GPU",
    )
    parser.add_argument(
        "--batch-size",
        dest="batch_sizes",
        type=_batch_sizes,
        default=[16],
        help="images per step; a comma-separated list times every case at each",
    )
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=5, help="steps per timed epoch")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per case")
    parser.add_argument("--inference", action="store_true", help="also time predict")
    parser.add_argument("--no-torchvision", dest="torchvision", action="store_false")
    parser.add_argument("--fit-data", help="a photo folder: also time fit with its pipeline")
    parser.add_argument("--jit-compile", default="auto", help="auto, true or false")
    parser.add_argument(
        "--matmul-1x1",
        choices=("auto", "on", "off"),
        default="auto",
        help="keras_resnet's 1x1 convolutions as matrix products: auto (JAX CPU only), "
        "on or off everywhere",
    )
    parser.add_argument("--output", default="speed.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.batch_size = args.batch_sizes[0]
    return args


def _batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(size) for size in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a batch size: give positive whole numbers, e.g. 16 or 8,16,32"
        )
    return sizes


def _run_worker(name: str, args: argparse.Namespace) -> list[dict]:
    """Runs one backend's cases in a fresh process: backends cannot switch in one."""
    env = dict(os.environ, KERAS_BACKEND=name if name != "torchvision" else "torch")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = [sys.executable, __file__, "--worker", name] + _forwarded(args)
    print(f"--- {name}", flush=True)
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, cwd=REPOSITORY)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        print(f"{name}: failed with exit code {done.returncode}", flush=True)
        return [{"backend": name, "error": f"exit code {done.returncode}"}]
    return json.loads(lines[-1][len("RESULT ") :])


def _forwarded(args: argparse.Namespace) -> list[str]:
    skip = {"worker", "backends", "output", "torchvision", "batch_sizes"}
    forwarded = []
    for key, value in vars(args).items():
        if key in skip or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        forwarded += [flag] if value is True else [flag, str(value)]
    return forwarded


def _print_result(results: list[dict]) -> None:
    print("RESULT " + json.dumps(results), flush=True)


def _precisions(args: argparse.Namespace, on_gpu: bool) -> list[str]:
    if args.precisions != "auto":
        return args.precisions.split(",")
    return ["float32", "mixed_bfloat16"] + (["mixed_float16"] if on_gpu else [])


# Keras backends ---------------------------------------------------------------------


def _keras_cases(args: argparse.Namespace) -> list[dict]:
    import keras
    import numpy as np

    if args.matmul_1x1 != "auto":
        import keras_resnet.layers.conv

        keras_resnet.layers.conv.on_jax_cpu = lambda: args.matmul_1x1 == "on"

    on_gpu = _keras_on_gpu()
    rng = np.random.default_rng(0)
    size, batch = args.image_size, args.batch_size
    # uint8 pixels, as photo pipelines deliver them: a quarter of float32's host traffic.
    images = rng.integers(0, 256, (batch * args.steps, size, size, 3), dtype="uint8")
    labels = rng.integers(0, NUM_CLASSES, batch * args.steps)
    cases = []
    for precision in _precisions(args, on_gpu):
        for spec in args.models.split(","):
            case = {
                "backend": keras.backend.backend(),
                "implementation": spec.split(":")[0],
                "model": spec.split(":")[1],
                "precision": precision,
                "device": "gpu" if on_gpu else "cpu",
                "batch_size": batch,
                "matmul_1x1": args.matmul_1x1,
            }
            print(f"{case}", file=sys.stderr, flush=True)
            try:
                model = _compiled_keras_model(spec, precision, args)
                case["warmup_epoch_s"] = _fit_epoch(model, images, labels, args)
                if args.inference:
                    model.predict(images, batch_size=batch, verbose=0)  # compiles
            except Exception as error:  # one case failing must not lose the others
                case["error"] = f"{type(error).__name__}: {error}"[:300]
                model = None
            finally:
                keras.config.set_dtype_policy("float32")
            cases.append((case, model))

    # The cases take turns, round after round, so that the slow spells of a shared
    # machine hit them alike rather than whichever case ran during one.
    timed = [(case, model) for case, model in cases if model is not None]
    for _ in range(args.repeats):
        for case, model in timed:
            case.setdefault("train_epochs_s", []).append(_fit_epoch(model, images, labels, args))
            if args.inference:
                case.setdefault("predict_epochs_s", []).append(_predict_epoch(model, images, args))
    for case, model in timed:
        for kind in ("train", "predict"):
            if f"{kind}_epochs_s" in case:
                step = statistics.median(case[f"{kind}_epochs_s"]) / args.steps
                case[f"{kind}_step_s"] = step
                case[f"{kind}_images_per_s"] = batch / step
        if args.fit_data and case["implementation"] == "keras_resnet":
            case.update(_time_fit_with_data(model, args))
        print(json.dumps(case), file=sys.stderr, flush=True)
    return [case for case, _ in cases]


def _keras_on_gpu() -> bool:
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.default_backend() == "gpu"
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _build_keras_model(spec: str, image_size: int):
    import keras

    implementation, name = spec.split(":")
    shape = (image_size, image_size, 3)
    if implementation == "applications":
        return keras.applications.ResNet50(weights=None, input_shape=shape, classes=NUM_CLASSES)
    import keras_resnet

    return keras_resnet.get_model(name, num_classes=NUM_CLASSES, input_shape=shape)


class _EpochTimer:
    """Wall time of each fit epoch; reading the loss makes async backends finish."""

    def __new__(cls):
        import keras

        class Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds = []

            def on_epoch_begin(self, epoch, logs=None):
                self.started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                float(logs["loss"])
                self.seconds.append(time.perf_counter() - self.started)

        return Timer()


def _compiled_keras_model(spec, precision, args):
    import keras

    keras.config.set_dtype_policy(precision)
    model = _build_keras_model(spec, args.image_size)
    jit = {"true": True, "false": False}.get(args.jit_compile.lower(), "auto")
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        jit_compile=jit,
    )
    return model


def _fit_epoch(model, images, labels, args) -> float:
    """Seconds of one epoch of ``--steps`` training steps."""
    timer = _EpochTimer()
    model.fit(
        images, labels, batch_size=args.batch_size, shuffle=False, verbose=0, callbacks=[timer]
    )
    return timer.seconds[0]


def _predict_epoch(model, images, args) -> float:
    started = time.perf_counter()
    model.predict(images, batch_size=args.batch_size, verbose=0)
    return time.perf_counter() - started


def _time_fit_with_data(model, args) -> dict:
    """End to end: keras_resnet.data's augmented training pipeline feeding fit."""
    from keras_resnet.data import load_data

    data = load_data(
        args.fit_data,
        image_size=(args.image_size, args.image_size),
        batch_size=args.batch_size,
        seed=0,
    )
    train = data.train.repeat()
    timer = _EpochTimer()
    model.fit(
        train,
        steps_per_epoch=args.steps,
        epochs=1 + args.repeats,
        verbose=0,
        callbacks=[timer],
    )
    step = statistics.median(timer.seconds[1:]) / args.steps
    return {"fit_with_data_images_per_s": args.batch_size / step}


# torchvision ------------------------------------------------------------------------


def _torchvision_cases(args: argparse.Namespace) -> list[dict]:
    import torch
    import torchvision

    device = "cuda" if torch.cuda.is_available() else "cpu"
    results = []
    for precision in _precisions(args, device == "cuda"):
        case = {
            "backend": "torch",
            "implementation": "torchvision",
            "model": "resnet50",
            "precision": precision,
            "device": "gpu" if device == "cuda" else "cpu",
            "batch_size": args.batch_size,
        }
        print(f"{case}", file=sys.stderr, flush=True)
        model = torchvision.models.resnet50(num_classes=NUM_CLASSES)
        case.update(_time_torch(model, precision, device, args))
        print(json.dumps(case), file=sys.stderr, flush=True)
        results.append(case)
    return results


def _time_torch(model, precision, device, args) -> dict:
    import torch

    model = model.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    autocast_dtype = {"mixed_bfloat16": torch.bfloat16, "mixed_float16": torch.float16}
    dtype = autocast_dtype.get(precision)
    scaler = torch.amp.GradScaler(device, enabled=precision == "mixed_float16")
    size, batch = args.image_size, args.batch_size
    images = torch.rand(batch, 3, size, size, device=device) * 255
    images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, NUM_CLASSES, (batch,), device=device)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def predict_step():
        with (
            torch.no_grad(),
            torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None),
        ):
            model(images)

    model.train()
    result = _time_torch_steps(train_step, device, args, "train")
    if args.inference:
        model.eval()
        result.update(_time_torch_steps(predict_step, device, args, "predict"))
    return result


def _time_torch_steps(step, device, args, kind: str) -> dict:
    import torch

    def epoch() -> float:
        started = time.perf_counter()
        for _ in range(args.steps):
            step()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    warmup = epoch()
    median = statistics.median(epoch() for _ in range(args.repeats)) / args.steps
    return {
        f"{kind}_step_s": median,
        f"{kind}_images_per_s": args.batch_size / median,
        **({"warmup_epoch_s": warmup} if kind == "train" else {}),
    }


# Report -----------------------------------------------------------------------------


def _table(results: list[dict]) -> str:
    """Markdown: step, images/s, and the ratio against keras.applications ResNet50."""
    baseline = {
        (r["backend"], r["precision"], r["batch_size"]): r["train_step_s"]
        for r in results
        if r.get("implementation") == "applications" and "train_step_s" in r
    }
    rows = [
        "| implementation | model | backend | precision | batch | train step | images/s "
        "| vs keras.applications | predict images/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "train_step_s" not in r:
            rows.append(
                f"| {r.get('implementation', '?')} | {r.get('model', '?')} "
                f"| {r['backend']} | {r.get('precision', '?')} | {r.get('batch_size', '?')} "
                f"| {r['error']} ||||"
            )
            continue
        reference = baseline.get((r["backend"], r["precision"], r["batch_size"]))
        ratio = f"{reference / r['train_step_s']:.2f}x" if reference and "50" in r["model"] else ""
        predict = f"{r['predict_images_per_s']:.0f}" if "predict_images_per_s" in r else ""
        rows.append(
            f"| {r['implementation']} | {r['model']} | {r['backend']} | {r['precision']} "
            f"| {r['batch_size']} | {r['train_step_s'] * 1000:.0f} ms "
            f"| {r['train_images_per_s']:.1f} | {ratio} | {predict} |"
        )
    return "\n".join(rows)


def _best_against_best(results: list[dict]) -> str:
    """Each ResNet-50's fastest training setting (backend, precision, batch size)."""
    best = {}
    for r in results:
        if r.get("model") == "resnet50" and "train_images_per_s" in r:
            name = r["implementation"]
            if name not in best or r["train_images_per_s"] > best[name]["train_images_per_s"]:
                best[name] = r
    lines = [
        f"best {name} resnet50: {r['train_images_per_s']:.2f} images/s "
        f"({r['backend']}, {r['precision']}, batch {r['batch_size']})"
        for name, r in best.items()
    ]
    for other in ("torchvision", "applications"):
        if "keras_resnet" in best and other in best:
            ratio = best["keras_resnet"]["train_images_per_s"] / best[other]["train_images_per_s"]
            lines.append(f"keras_resnet's best against {other}'s best: {ratio:.2f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
