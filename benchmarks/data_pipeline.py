"""Input pipeline throughput: keras_resnet.data against image_dataset_from_directory.

Times, on the same photo folder at 224x224, images per second of

- ``keras.utils.image_dataset_from_directory`` without augmentation (the baseline),
- our training pipeline with augmentation (random-resized crop and flip),
- our training pipeline with caching off (fused JPEG decode-and-crop every epoch),
- our evaluation pipeline (resize and center crop).

Every pipeline runs one warm-up epoch (which also fills our caches), then the
pipelines take turns for ``--repeats`` rounds of one epoch each, so that load from
other processes hits them alike; the table shows the median and the ratio to the
baseline, and the numbers are written as JSON.

Usage (from the repository root):

    python benchmarks/data_pipeline.py [FOLDER] [--repeats 5] [--output results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_resnet.data import load_data  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe_machine  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_FOLDER = REPOSITORY.parent / "shared" / "data" / "flowers-mini" / "train"
IMAGE_SIZE = (224, 224)


def epoch_rate(dataset: tf.data.Dataset) -> tuple[float, float, int]:
    """Images per second and CPU milliseconds per image over one pass, and the count.

    CPU time (all threads of this process) varies far less than wall time when
    other processes share the cores, so it shows a pipeline's cost more steadily.
    """
    start, start_cpu = time.perf_counter(), time.process_time()
    count = 0
    for images, _ in dataset:
        count += int(images.shape[0])
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    return count / wall, 1000 * cpu / count, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default=str(DEFAULT_FOLDER))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--output",
        default=os.path.join(tempfile.gettempdir(), "keras_resnet_data_pipeline.json"),
    )
    args = parser.parse_args()

    baseline = keras.utils.image_dataset_from_directory(
        args.folder,
        image_size=IMAGE_SIZE,
        batch_size=args.batch_size,
        seed=0,
        verbose=False,
    ).prefetch(tf.data.AUTOTUNE)

    def ours(**kwargs) -> tf.data.Dataset:
        # No validation split, so that every pipeline reads the same images.
        return load_data(
            args.folder,
            image_size=IMAGE_SIZE,
            batch_size=args.batch_size,
            validation_split=0,
            **kwargs,
        ).train

    pipelines = {
        "image_dataset_from_directory, no augmentation": baseline,
        "ours: train, crop + flip, cached": ours(),
        "ours: train, crop + flip, cache=False": ours(cache=False),
        "ours: eval transform, cached": ours(augment=None),
        "ours: eval transform, cache=False": ours(augment=None, cache=False),
    }
    baseline_name = next(iter(pipelines))

    warmup, counts = {}, {}
    rates = {name: [] for name in pipelines}
    cpu_ms = {name: [] for name in pipelines}
    for name, dataset in pipelines.items():
        warmup[name], _, counts[name] = epoch_rate(dataset)
    for _ in range(args.repeats):
        for name, dataset in pipelines.items():
            rate, cpu, _ = epoch_rate(dataset)
            rates[name].append(rate)
            cpu_ms[name].append(cpu)

    medians = {name: statistics.median(values) for name, values in rates.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu_ms.items()}
    width = max(map(len, pipelines))
    print(
        f"\n{args.folder}: {counts[baseline_name]} images at {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}, "
        f"batch {args.batch_size}, {os.cpu_count()} CPUs; median of {args.repeats} epochs "
        "after a warm-up epoch"
    )
    print(
        f"{'pipeline':<{width}}  {'warm-up':>7}  {'images/s':>8}  {'ratio':>5}  "
        f"{'CPU ms/image':>12}  {'ratio':>5}"
    )
    for name in pipelines:
        print(
            f"{name:<{width}}  {warmup[name]:7.0f}  {medians[name]:8.0f}  "
            f"{medians[name] / medians[baseline_name]:5.2f}  {cpu_medians[name]:12.3f}  "
            f"{cpu_medians[baseline_name] / cpu_medians[name]:5.2f}"
        )
    print("(ratios: how many times the baseline's images/s, and its CPU cost over ours)")

    result = {
        "folder": args.folder,
        "image_size": IMAGE_SIZE,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "machine": describe_machine(),
        "pipelines": {
            name: {
                "images": counts[name],
                "warmup_images_per_s": warmup[name],
                "median_images_per_s": medians[name],
                "images_per_s": rates[name],
                "ratio_to_baseline": medians[name] / medians[baseline_name],
                "median_cpu_ms_per_image": cpu_medians[name],
                "cpu_ms_per_image": cpu_ms[name],
            }
            for name in pipelines
        },
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
