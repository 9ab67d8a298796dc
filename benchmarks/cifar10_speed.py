"""ResNet-20 on CIFAR-10 images: the library's training path against hand-written ones.

Images per second of ResNet-20 at 32x32, batch 128, on the CPU, one process, for three
contenders that train on the same images:

- ``keras_resnet``: the ``keras-resnet train`` path, TensorFlow backend: the
  ``keras_resnet.data`` pipeline from an image folder (decoding, the small_images
  preset's pad_crop augmentation, shuffling, batching), the preset's recipe and
  metrics as the command compiles them (``compile_for_run``: SGD with Nesterov
  momentum, peak rate 0.1 at batch 128, the preset's weight decay, warm-up and cosine
  schedule) and the run's callbacks;
- ``keras_plain``: the same network written with ``keras.layers`` (option-A zero-pad
  shortcuts), ``keras.optimizers.SGD(0.1, momentum 0.9, nesterov, weight_decay=1e-3)``,
  sparse categorical crossentropy and accuracy, ``model.fit`` on in-memory arrays
  (shuffled), no callbacks;
- ``torch``: the same network in ``torch.nn``, ``torch.optim.SGD(0.1, momentum 0.9,
  nesterov, weight_decay=1e-4)``, cross-entropy, a plain loop over in-memory tensors.

``--images`` takes a fixed stratified subset of ``--data`` (the first files of each
class in sorted order); the library reads it from a folder of links to those files,
the others get the same files decoded once (PIL) and normalised with the ImageNet mean
and deviation, as the library's model does inside. There is no validation split.

Each contender is warmed up for one epoch; then they take turns for ``--rounds``
rounds, the order reversed every other round. A Keras contender runs one ``fit`` of 2
epochs a round and its last epoch is timed (costs paid once per ``fit`` fall outside
it); torch times one pass. A step is the median over rounds of an epoch's time over its
steps. The report gives images/s, the ratio against ``keras_resnet``, each round's
mean training loss (that it trains) and load average, and the parameter counts.
torch's OpenMP threads wait passively (``OMP_WAIT_POLICY=PASSIVE`` unless set).

Usage (from the repository root):

    PYTHONPATH=$PWD python benchmarks/cifar10_speed.py --data /tmp/cifar10/train \
        [--images 2560] [--rounds 5] [--output benchmarks/results/cpu2_cifar10_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# torch's OpenMP threads spin while they wait: on a CPU that another process keeps busy
# that made torch's step with 2 threads 15 times slower than with 1 (5.1 s against 0.3 s).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# torch first: importing torch._dynamo (which torch.optim does) after TensorFlow crashes.
import torch  # noqa: E402
import torch._dynamo  # noqa: E402, F401

# isort: split
import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe_machine, one_line  # noqa: E402
from small_model_step import EpochTimer  # noqa: E402

CONTENDERS = ("keras_resnet", "keras_plain", "torch")
SIZE, BATCH, CLASSES, WIDTHS, DEPTH = 32, 128, 10, (16, 32, 64), 3


def subset(data: Path, count: int, folder: Path) -> tuple[list[Path], np.ndarray]:
    """``count`` images, the first files of each class in turn, linked under ``folder``."""
    classes = sorted(p.name for p in data.iterdir() if p.is_dir() and not p.name.startswith("."))
    paths, labels = [], []
    for label, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        share = count // len(classes) + (label < count % len(classes))
        for path in sorted((data / name).iterdir())[:share]:
            (folder / name / path.name).symlink_to(path.resolve())
            paths.append(path)
            labels.append(label)
    return paths, np.array(labels, dtype=np.int64)


def trainable(model) -> int:
    """Trainable parameters of a Keras model."""
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def timed_fit(fit, steps: int):
    """A run of a Keras contender: ``fit(epochs, callbacks)``, its last epoch timed."""

    def run(epochs: int) -> tuple[float, float]:
        timer = EpochTimer()
        history = fit(epochs, [timer])
        return timer.seconds[-1] / steps, history.history["loss"][-1]

    return run


def keras_resnet_contender(folder: Path, steps: int, runs: str):
    """The library's ResNet20 by its recipe on its pipeline: parameters and a run."""
    import keras_resnet
    from keras_resnet.data import load_data
    from keras_resnet.training import RunPaths, peak_learning_rate, run_callbacks
    from keras_resnet.training.config import PRESETS
    from keras_resnet.training.optim import compile_for_run

    preset = PRESETS["small_images"]
    keras.utils.set_random_seed(0)
    data = load_data(str(folder), SIZE, BATCH, 0.0, seed=0, augment=preset.augment)
    model = keras_resnet.ResNet20(num_classes=CLASSES, input_shape=(SIZE, SIZE, 3))
    # The command's own compile: the preset's recipe at the rate the run computes.
    compile_for_run(
        model,
        preset,
        steps_per_epoch=steps,
        batch_size=BATCH,
        peak=peak_learning_rate(preset, BATCH),
        soft_labels=False,
    )
    paths = RunPaths.of(runs)
    os.makedirs(paths.run_dir, exist_ok=True)

    def fit(epochs, timer):
        callbacks = run_callbacks(
            paths, has_validation=False, early_stopping=None, resumed_from_epoch=0, metadata={}
        )
        # The pipeline shuffles; shuffle=False only keeps Keras from warning about it.
        return model.fit(
            data.train, epochs=epochs, shuffle=False, callbacks=callbacks + timer, verbose=0
        )

    return trainable(model), timed_fit(fit, steps)


def keras_plain_contender(x: np.ndarray, y: np.ndarray, steps: int):
    """ResNet-20 in plain keras.layers on arrays: parameters and a run."""
    conv = dict(padding="same", use_bias=False, kernel_initializer="he_normal")
    bn = dict(momentum=0.9, epsilon=1e-5)
    layers = keras.layers
    inputs = keras.Input((SIZE, SIZE, 3))
    x_ = layers.ReLU()(layers.BatchNormalization(**bn)(layers.Conv2D(16, 3, **conv)(inputs)))
    for stage, width in enumerate(WIDTHS):
        for block in range(DEPTH):
            stride = 2 if stage > 0 and block == 0 else 1
            branch = layers.Conv2D(width, 3, stride, **conv)(x_)
            branch = layers.ReLU()(layers.BatchNormalization(**bn)(branch))
            branch = layers.Conv2D(width, 3, **conv)(branch)
            branch = layers.BatchNormalization(gamma_initializer="zeros", **bn)(branch)
            if stride > 1:  # option A: subsample, zero-pad the new channels
                p = (width - x_.shape[-1]) // 2
                pad = [[0, 0], [0, 0], [0, 0], [p, p]]
                x_ = layers.Lambda(lambda t, pad=pad: keras.ops.pad(t[:, ::2, ::2], pad))(x_)
            x_ = layers.ReLU()(layers.Add()([x_, branch]))
    x_ = layers.GlobalAveragePooling2D()(x_)
    model = keras.Model(inputs, layers.Dense(CLASSES, activation="softmax")(x_))
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    def fit(epochs, timer):
        return model.fit(x, y, BATCH, epochs, verbose=0, callbacks=timer)

    return trainable(model), timed_fit(fit, steps)


def torch_contender(x: np.ndarray, y: np.ndarray, steps: int):
    """The same ResNet-20 in torch.nn, a plain loop over tensors: parameters and a run."""
    from torch import nn
    from torch_resnet import cifar_resnet

    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    # Zero-started blocks, as the library's models were when this was first measured.
    net = cifar_resnet(DEPTH, CLASSES, zero_init_last=True)
    optimizer = torch.optim.SGD(
        net.parameters(), 0.1, momentum=0.9, nesterov=True, weight_decay=1e-4
    )
    loss_fn = nn.CrossEntropyLoss()
    images, labels = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)

    def run(epochs: int) -> tuple[float, float]:
        """One pass, whatever ``epochs``: seconds per step and mean loss."""
        net.train()
        start, total = time.perf_counter(), torch.zeros(())
        for batch in torch.randperm(len(labels)).split(BATCH):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(images[batch]), labels[batch])
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(batch)
        return (time.perf_counter() - start) / steps, float(total) / len(labels)

    return sum(p.numel() for p in net.parameters()), run


def main() -> None:
    args = _parse_args()
    from PIL import Image

    from keras_resnet.models import IMAGENET_MEAN, IMAGENET_STD

    work = Path(tempfile.mkdtemp(prefix="cifar10_speed-"))
    paths, y = subset(Path(args.data), args.images, work / "images")
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32) for p in paths])
    x = (pixels - 255 * np.float32(IMAGENET_MEAN)) / (255 * np.float32(IMAGENET_STD))
    steps = -(-len(y) // BATCH)
    build = {
        "keras_resnet": lambda: keras_resnet_contender(work / "images", steps, str(work / "run")),
        "keras_plain": lambda: keras_plain_contender(x, y, steps),
        "torch": lambda: torch_contender(x, y, steps),
    }
    contenders = args.contenders
    params, runs = {}, {}
    for contender in contenders:
        params[contender], runs[contender] = build[contender]()
    print(f"{len(y)} images, {steps} steps of {BATCH}; trainable parameters {params}", flush=True)
    timings, losses, warmup, loads = {}, {}, {}, []
    for contender in contenders:
        start = time.perf_counter()
        _, loss = runs[contender](1)
        warmup[contender] = round(time.perf_counter() - start, 2)
        print(f"{contender}: warm-up epoch {warmup[contender]} s, loss {loss:.3f}", flush=True)
        timings[contender], losses[contender] = [], [round(loss, 4)]
    for index in range(args.rounds):
        loads.append(round(os.getloadavg()[0], 2))
        for contender in contenders if index % 2 == 0 else contenders[::-1]:
            step, loss = runs[contender](2)
            timings[contender].append(round(step, 4))
            losses[contender].append(round(loss, 4))
        print(f"round {index + 1}: load {loads[-1]}, losses {losses}", flush=True)
    shutil.rmtree(work, ignore_errors=True)

    reference = statistics.median(timings["keras_resnet"]) if "keras_resnet" in timings else None
    rows = []
    for contender in contenders:
        step = statistics.median(timings[contender])
        rows.append(
            {
                "contender": contender,
                "step_seconds": round(step, 4),
                "all_step_seconds": timings[contender],
                "images_per_second": round(BATCH / step, 1),
                "speedup_vs_keras_resnet": round(reference / step, 3) if reference else None,
                "loss_after_warmup_and_each_round": losses[contender],
                "trainable_parameters": params[contender],
                "warmup_seconds": warmup[contender],
            }
        )
    report = {
        "settings": {**vars(args), "omp_wait_policy": os.environ["OMP_WAIT_POLICY"]},
        "images": len(y),
        "steps_per_epoch": steps,
        "load_average_per_round": loads,
        "results": rows,
        "machine": describe_machine(),
    }
    print(_table(report))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
        print(f"written: {args.output}")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="an image folder of class sub-folders")
    parser.add_argument("--images", type=int, default=20 * BATCH, help="images in the subset")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    parser.add_argument("--output", default="benchmarks/results/cpu2_cifar10_speed.json")
    return parser.parse_args()


def _table(report: dict) -> str:
    lines = [
        f"Machine: {one_line(report['machine'])}",
        f"ResNet-20 32x32, batch {BATCH}, {report['images']} images, "
        f"load {report['load_average_per_round']}",
        "| Contender | Step | Images/s | vs keras_resnet | Parameters |",
        "|---|---|---|---|---|",
    ]
    for row in report["results"]:
        lines.append(
            f"| {row['contender']} | {row['step_seconds']:.3f} s | {row['images_per_second']} | "
            f"{row['speedup_vs_keras_resnet']}x | {row['trainable_parameters']:,} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
