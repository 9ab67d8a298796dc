"""A hand-written PyTorch ResNet on the same CIFAR-10 images, split and schedule.

The question it answers: is the gap between the small_images preset's held-out accuracy
and the paper's table the library's, or the images' and the 40 epochs'? It trains the
paper's network (``torch_resnet.cifar_resnet``: option-A shortcuts, last batch-norm scale
at one) with the recipe most PyTorch CIFAR code uses, in a plain loop that shares nothing
with the library but the list of held-out files:

- the same 45,000 / 5,000 images as ``keras-resnet train --seed N`` (the library's own
  stratified 10% split of the folder, by the same seed);
- decoded once with PIL, normalised with the ImageNet mean and deviation (as the
  library's models do inside);
- 4 black pixels padded on each side, a random 32x32 crop and a horizontal flip per image
  (torchvision's ``RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip``);
- ``torch.optim.SGD`` at 0.1 per 128 images, momentum 0.9 (Nesterov, as the library's),
  weight decay 5e-4 in torch's coupled form (the preset's 5e-3 decoupled), the learning
  rate rising linearly over 4 epochs and falling on a cosine to 0 at the end of the
  last, per step;
- batch norm's moving statistics for evaluation (``net.eval()``).

After each epoch it writes the JSON (per-epoch training loss and accuracy on the
augmented images, held-out accuracy, seconds, the machine) and a checkpoint, so a run cut
off resumes from its last finished epoch with the same command.

Usage (from the repository root):

    PYTHONPATH=$PWD python benchmarks/cifar10_reference.py --data /tmp/cifar10 --seed 0 \
        --output benchmarks/results/cpu2_cifar10_torch_reference_resnet20_s0_validation.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# torch's OpenMP threads spin while they wait, which starves other jobs on a small CPU.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch._dynamo  # noqa: E402, F401  (before TensorFlow, which keras_resnet.data imports)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe_machine, one_line  # noqa: E402
from torch_resnet import cifar_resnet  # noqa: E402

from keras_resnet.models import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402

PAD, SIZE, BATCH = 4, 32, 128
# Raw-pixel mean and deviation per channel, shaped for NCHW batches.
MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255
STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255


def held_out_split(data: Path, fraction: float, seed: int):
    """The library's training and held-out files of ``data`` for ``seed``, with labels."""
    from keras_resnet.data.folders import class_folders, folder_layout, list_images
    from keras_resnet.data.splits import stratified_split

    train_folder = folder_layout(data)["train"]
    names = class_folders(train_folder)
    paths, labels = list_images(train_folder, names, "train")
    paths, labels = np.array(paths), np.array(labels)
    kept, held = stratified_split(labels, fraction, seed)
    return (paths[kept], labels[kept]), (paths[held], labels[held])


def decode(paths: np.ndarray) -> np.ndarray:
    """Every image as uint8 pixels, (N, 32, 32, 3)."""
    from PIL import Image

    return np.stack([np.asarray(Image.open(path).convert("RGB")) for path in paths])


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC to float NCHW with the ImageNet mean and deviation, as the library's models."""
    return (pixels.permute(0, 3, 1, 2).float() - MEAN) / STD


def augment(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Pad 4 black pixels each side, crop 32x32 at random, flip half: uint8 NHWC."""
    count = len(pixels)
    padded = torch.nn.functional.pad(pixels, (0, 0, PAD, PAD, PAD, PAD))
    rows, cols = torch.randint(0, 2 * PAD + 1, (2, count), generator=generator)
    flips = torch.rand(count, generator=generator) < 0.5
    out = torch.empty_like(pixels)
    for i in range(count):
        crop = padded[i, rows[i] : rows[i] + SIZE, cols[i] : cols[i] + SIZE]
        out[i] = crop.flip(1) if flips[i] else crop
    return out


def learning_rate(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` steps, then a cosine to 0 at ``total``."""
    if step < warmup:
        return peak * step / warmup
    return 0.5 * peak * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


def evaluate(net: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    net.eval()
    with torch.no_grad():
        correct = sum(
            int((net(normalise(x)).argmax(1) == y).sum())
            for x, y in zip(images.split(500), labels.split(500), strict=True)
        )
    return correct / len(labels)


def main() -> None:
    args = _parse_args()
    torch.set_num_threads(args.threads or os.cpu_count())
    (train_paths, train_labels), (held_paths, held_labels) = held_out_split(
        Path(args.data), 0.1, args.seed
    )
    started = time.perf_counter()
    train_x, held_x = torch.from_numpy(decode(train_paths)), torch.from_numpy(decode(held_paths))
    train_y, held_y = torch.from_numpy(train_labels), torch.from_numpy(held_labels)
    print(
        f"{len(train_y)} training, {len(held_y)} held out; decoded in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )

    torch.manual_seed(args.seed)
    net = cifar_resnet(args.blocks_per_stage)
    optimizer = torch.optim.SGD(
        net.parameters(),
        args.lr,
        momentum=0.9,
        nesterov=args.nesterov,
        weight_decay=args.weight_decay,
    )
    generator = torch.Generator().manual_seed(args.seed)
    steps_per_epoch = math.ceil(len(train_y) / BATCH)
    total, warmup = args.epochs * steps_per_epoch, args.warmup_epochs * steps_per_epoch
    machine = describe_machine()
    report = {
        "network": f"ResNet-{6 * args.blocks_per_stage + 2}, torch.nn, option-A shortcuts",
        "recipe": {
            key: getattr(args, key)
            for key in ("epochs", "lr", "weight_decay", "warmup_epochs", "nesterov", "seed")
        },
        "batch_size": BATCH,
        "num_train": len(train_y),
        "num_held_out": len(held_y),
        "parameters": sum(p.numel() for p in net.parameters()),
        "machine": machine,
        "epochs": [],
    }
    output, checkpoint = Path(args.output), Path(args.output).with_suffix(".pt")
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        report["epochs"] = state["epochs"]
        print(f"resumed after epoch {len(report['epochs'])}", flush=True)
    print(f"{report['network']}, {report['parameters']} parameters; {one_line(machine)}")

    for epoch in range(len(report["epochs"]), args.epochs):
        net.train()
        started, loss_sum, correct = time.perf_counter(), 0.0, 0
        order = torch.randperm(len(train_y), generator=generator)
        for index, batch in enumerate(order.split(BATCH)):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(epoch * steps_per_epoch + index, total, warmup, args.lr)
            logits = net(normalise(augment(train_x[batch], generator)))
            loss = torch.nn.functional.cross_entropy(logits, train_y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(batch)
            correct += int((logits.argmax(1) == train_y[batch]).sum())
        seconds = time.perf_counter() - started
        row = {
            "epoch": epoch + 1,
            "loss": round(loss_sum / len(train_y), 4),
            "accuracy": round(correct / len(train_y), 4),
            "val_accuracy": round(evaluate(net, held_x, held_y), 4),
            "seconds": round(seconds, 1),
            "load": round(os.getloadavg()[0], 2),
        }
        report["epochs"].append(row)
        report["final_val_accuracy"] = row["val_accuracy"]
        print(json.dumps(row), flush=True)
        torch.save(
            {
                "net": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "epochs": report["epochs"],
            },
            checkpoint,
        )
        output.write_text(json.dumps(report, indent=2) + "\n")
    checkpoint.unlink(missing_ok=True)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with train/ (class folders)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--blocks-per-stage", type=int, default=3, help="3: ResNet-20, 9: -56")
    parser.add_argument("--lr", type=float, default=0.1, help="peak, per 128 images")
    parser.add_argument("--weight-decay", type=float, default=5e-4, help="torch's coupled form")
    parser.add_argument("--warmup-epochs", type=int, default=4)
    parser.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", required=True, help="the JSON report (and a .pt checkpoint)")
    return parser.parse_args()


if __name__ == "__main__":
    main()
