"""Train a ResNet on several devices or hosts with keras_resnet.

Run it as it is: without GPUs, ``--devices 2`` splits the CPU into two devices and
trains ResNet20 on the embedded digits for 10 epochs (offline, about a minute on two
CPU cores)::

    python examples/distributed_training.py --devices 2
    KERAS_BACKEND=jax python examples/distributed_training.py --devices 2

Each device takes ``--batch-size`` images of every step, so the global batch is
``--batch-size`` times the devices; the learning rate follows the global batch
(0.8 per 256 images for the digits with SGD).

Several GPUs on one machine (TensorFlow ``MirroredStrategy``; on JAX,
``keras.distribution.DataParallel``)::

    python examples/distributed_training.py --devices 4        # the first 4 GPUs
    python examples/distributed_training.py                    # every GPU

Several machines (TensorFlow ``MultiWorkerMirroredStrategy``): start the same command
on every host, each with its own task index in ``TF_CONFIG``. Worker 0 is the chief:
it alone writes ``saved_models/<run>``; the others write to temporary folders they
remove. Every worker uses all its GPUs (choose them with ``CUDA_VISIBLE_DEVICES``)::

    # on host1
    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}' \\
        python examples/distributed_training.py --strategy multiworker
    # on host2: the same, with "index": 1

JAX on several processes or hosts: every process names the coordinator (process
0's address and a free port), the process count and its own index, which this
script passes to ``keras_resnet.distribute.initialize_multi_process`` before anything
touches a device::

    # on host1
    KERAS_BACKEND=jax python examples/distributed_training.py \\
        --coordinator host1:1234 --num-processes 2 --process-id 0
    # on host2
    KERAS_BACKEND=jax python examples/distributed_training.py \\
        --coordinator host1:1234 --num-processes 2 --process-id 1

To resume an interrupted run, run the same command again with ``--resume``: every
worker continues from the chief's last finished epoch (the chief's run folder must be
visible to all of them: one host or a shared file system).

A smoke run that finishes in seconds: ``--epochs 1 --image-size 8``, or
``KERAS_RESNET_SMOKE=1`` (as for the notebooks).
"""

from __future__ import annotations

import argparse
import os
import sys

SMOKE = bool(os.environ.get("KERAS_RESNET_SMOKE"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--strategy",
        choices=("auto", "mirrored", "multiworker", "dataparallel", "none"),
        default="auto",
        help="default auto: several devices when there are several, else one",
    )
    parser.add_argument(
        "--devices", type=int, help="devices per host (without GPUs: split the CPU)"
    )
    parser.add_argument(
        "--model", help="default: ResNet20 with stochastic depth 0.1, as keras-resnet train"
    )
    parser.add_argument("--epochs", type=int, default=1 if SMOKE else 10)
    parser.add_argument("--batch-size", type=int, default=64, help="images per device")
    parser.add_argument("--image-size", type=int, default=8 if SMOKE else 16)
    parser.add_argument("--output", default="saved_models")
    parser.add_argument("--run-name", default="distributed-digits")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--coordinator", help="JAX multi-process: host:port of process 0")
    parser.add_argument("--num-processes", type=int, help="JAX multi-process: processes")
    parser.add_argument("--process-id", type=int, help="JAX multi-process: this one's index")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # keras_resnet imports Keras, which reads KERAS_BACKEND; no device is touched
    # until get_distribution (inside train) has split the CPU where asked.
    from keras_resnet import distribute, training

    if args.coordinator:
        if args.devices:
            distribute.use_cpu_devices(args.devices)  # a no-op where GPUs train
        distribute.initialize_multi_process(
            args.coordinator, num_processes=args.num_processes, process_id=args.process_id
        )
    result = training.train(
        "digits",
        args.model,
        image_size=args.image_size,
        batch_size=args.batch_size,
        epochs=args.epochs,
        run_name=args.run_name,
        output=args.output,
        resume=args.resume,
        strategy=args.strategy,
        devices=args.devices,
        verbose=2,
    )
    metrics = result.metrics
    if not result.is_chief:
        print(f"worker done; the chief writes {result.run_dir}")
        return 0
    print(
        f"{metrics['strategy']} on {metrics['num_replicas']} replica(s), global batch "
        f"{metrics['batch_size']}: test accuracy {metrics['test_accuracy']:.2%} after "
        f"{metrics['epochs_run']} epochs in {metrics['train_seconds']:.0f} s"
    )
    print(f"model: {result.model_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
