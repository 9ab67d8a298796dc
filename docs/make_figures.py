"""Draws the figures of the guide from the library's own layers and profiler.

Run from the repository root; it rewrites the PNGs under docs/figures/ and prints the
stage table of ResNet18 to ResNet152 as Markdown, the table the guides quote:

    python docs/make_figures.py

The block diagrams are read off built blocks (their branch and shortcut layer lists),
and the stage table off :func:`keras_resnet.profile.profile_model`, so both follow the
code when it changes.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from keras_resnet import BasicBlock, Bottleneck, profile  # noqa: E402

FIGURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures")
TABLE_MODELS = ("ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152")
COLOURS = {
    "conv": "#cfe2f3",
    "bn": "#fff2cc",
    "relu": "#d9ead3",
    "pool": "#e6d9f2",
    "other": "#eeeeee",
}

# (title, block, input shape): a stage's first block, which subsamples and widens, so
# that every diagram shows its shortcut projection.
BLOCKS = (
    ("Basic block (ResNet18/34)", lambda: BasicBlock(128, strides=2), (None, 56, 56, 64)),
    ("Bottleneck, v1.5 (ResNet50+)", lambda: Bottleneck(128, strides=2), (None, 56, 56, 256)),
    (
        "Pre-activation bottleneck (V2)",
        lambda: Bottleneck(128, strides=2, preact=True),
        (None, 56, 56, 256),
    ),
    (
        "ResNet-D shortcut",
        lambda: Bottleneck(128, strides=2, avg_down=True),
        (None, 56, 56, 256),
    ),
)


def layer_label(layer: keras.layers.Layer) -> tuple[str, str] | None:
    """The box text and colour of one layer; None for layers the diagram leaves out."""
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        text = f"{kh}x{kw} conv, {layer.filters}"
        if layer.strides[0] > 1:
            text += f", /{layer.strides[0]}"
        if layer.groups > 1:
            text += f", {layer.groups} groups"
        return text, "conv"
    if isinstance(layer, keras.layers.BatchNormalization):
        return "BN", "bn"
    if isinstance(layer, keras.layers.ReLU):
        return "ReLU", "relu"
    if isinstance(layer, keras.layers.AveragePooling2D):
        size, stride = layer.pool_size[0], layer.strides[0]
        return f"{size}x{size} avg pool, /{stride}", "pool"
    if isinstance(layer, keras.layers.MaxPooling2D):
        return f"{layer.pool_size[0]}x{layer.pool_size[0]} max pool, /{layer.strides[0]}", "pool"
    if isinstance(layer, keras.layers.ZeroPadding2D):
        # Symmetric padding before a strided conv: an implementation detail.
        return None
    return type(layer).__name__, "other"


def _boxes(chain) -> list[tuple[str, str]]:
    return [label for label in map(layer_label, chain) if label is not None]


def draw_block(axis, title: str, block, input_shape) -> float:
    """Draws one block: the residual branch down the middle, the shortcut on the right.

    Returns:
        The lowest y coordinate drawn, so that panels can share one scale.
    """
    block.build(input_shape)
    pre = _boxes(block.preact_layers)
    branch = _boxes(block.branch_layers)
    shortcut = _boxes(block.shortcut_layers) or [("identity", "other")]
    out = _boxes([block.out_relu]) if block.out_relu is not None else []
    step, width, height = 1.0, 2.2, 0.6
    main_x, side_x = 0.0, 2.7

    def box(x, y, text, kind):
        axis.add_patch(
            FancyBboxPatch(
                (x - width / 2, y - height / 2),
                width,
                height,
                boxstyle="round,pad=0.02,rounding_size=0.1",
                facecolor=COLOURS[kind],
                edgecolor="#444444",
                linewidth=0.8,
            )
        )
        axis.text(x, y, text, ha="center", va="center", fontsize=8.5)

    def arrow(start, end, head=True, **style):
        axis.add_patch(
            FancyArrowPatch(
                start,
                end,
                arrowstyle="-|>" if head else "-",
                mutation_scale=9,
                linewidth=0.9,
                **style,
            )
        )

    y = 0.0
    channels = input_shape[-1]
    axis.text(main_x, y, f"x: {input_shape[1]}x{input_shape[2]}x{channels}", ha="center")
    split_y = y - 0.25
    for text, kind in pre:
        y -= step
        arrow((main_x, y + step - 0.3), (main_x, y + height / 2))
        box(main_x, y, text, kind)
    if block.shortcut_takes_preact and pre:
        split_y = y - height / 2
    for text, kind in branch:
        y -= step
        arrow((main_x, y + step - (0.3 if y + step == 0 else height / 2)), (main_x, y + height / 2))
        box(main_x, y, text, kind)
    sum_y = y - step
    arrow((main_x, y - height / 2), (main_x, sum_y + 0.22))
    axis.add_patch(plt.Circle((main_x, sum_y), 0.22, facecolor="white", edgecolor="#444444"))
    axis.text(main_x, sum_y, "+", ha="center", va="center", fontsize=12)

    # The shortcut: from the split point, down the right column, into the sum.
    top = split_y - 0.35
    arrow(
        (main_x + 0.05, split_y),
        (side_x, top),
        head=False,
        connectionstyle="angle,angleA=0,angleB=90",
    )
    span = top - (sum_y + 0.6)
    gap = span / (len(shortcut) + 1)
    shortcut_y = top
    for index, (text, kind) in enumerate(shortcut):
        shortcut_y = top - gap * (index + 1)
        if index:
            arrow((side_x, shortcut_y + gap - height / 2), (side_x, shortcut_y + height / 2))
        else:
            arrow((side_x, top), (side_x, shortcut_y + height / 2))
        box(side_x, shortcut_y, text, kind)
    arrow(
        (side_x, shortcut_y - height / 2),
        (main_x + 0.22, sum_y),
        connectionstyle="angle,angleA=90,angleB=0",
    )

    y = sum_y
    for text, kind in out:
        y -= step
        arrow((main_x, y + step - 0.22), (main_x, y + height / 2))
        box(main_x, y, text, kind)
    end = y - step * 0.8
    arrow((main_x, y - (height / 2 if out else 0.22)), (main_x, end + 0.15))
    out_size = -(-input_shape[1] // block.strides)
    axis.text(main_x, end, f"{out_size}x{out_size}x{block.output_channels}", ha="center")
    axis.set_title(title, fontsize=10)
    axis.set_xlim(-1.4, side_x + 1.4)
    axis.set_aspect("equal")
    axis.axis("off")
    return end


def draw_blocks(path: str) -> str:
    """The four block types side by side."""
    figure, axes = plt.subplots(1, len(BLOCKS), figsize=(4.2 * len(BLOCKS), 9.5))
    ends = [
        draw_block(axis, title, make_block(), input_shape)
        for axis, (title, make_block, input_shape) in zip(axes, BLOCKS, strict=True)
    ]
    for axis in axes:
        axis.set_ylim(min(ends) - 0.5, 0.6)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def stage_rows(names=TABLE_MODELS) -> tuple[list[str], list[list[str]]]:
    """The paper's Table 1, computed: a column per model, a row per stage."""
    profiles = profile.model_table(list(names))
    header = ["stage", "output", *names]
    stage_names = ["stem", "conv2", "conv3", "conv4", "conv5"]
    rows = []
    for stage_name in stage_names:
        cells = []
        output = ""
        for report in profiles:
            stage = next(s for s in report.stages if s.name == stage_name)
            output = "x".join(str(d) for d in stage.output_shape[:2])
            if stage_name == "stem":
                cells.append("7x7 conv, 64, /2; 3x3 max pool, /2")
            else:
                cells.append(f"[{stage.layout.replace(' ', ' | ')}] x {stage.blocks}")
        rows.append([stage_name, output, *cells])
    rows.append(["head", "1x1", *["global avg pool, 1000-d fc, softmax"] * len(profiles)])
    rows.append(["params", "", *[f"{p.trainable_params / 1e6:.2f} M" for p in profiles]])
    rows.append(["FLOPs", "", *[f"{p.gflops:.2f} G" for p in profiles]])
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def draw_stage_table(path: str, header: list[str], rows: list[list[str]]) -> str:
    """The stage table as a figure, one line per stage and a column per model."""
    wrapped = [
        [
            cell.replace("] x", "]\nx")
            .replace(" | ", "\n")
            .replace("; ", "\n")
            .replace(", 1000", "\n1000")
            for cell in row
        ]
        for row in rows
    ]
    lines = [max(cell.count("\n") + 1 for cell in row) for row in [header, *wrapped]]
    figure, axis = plt.subplots(figsize=(13, 0.32 * sum(lines) + 0.8))
    axis.axis("off")
    table = axis.table(cellText=wrapped, colLabels=header, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    unit = 1.0 / sum(lines)
    for (row, column), cell in table.get_celld().items():
        cell.set_height(unit * lines[row])
        cell.set_width(0.07 if column < 2 else 0.172)
        if row == 0 or column == 0:
            cell.set_facecolor("#dde4ee")
            cell.get_text().set_fontweight("bold")
    axis.set_title(
        "ResNet stage table at 224x224 (FLOPs: multiply-adds), computed by keras_resnet.profile",
        fontsize=10,
        pad=12,
    )
    figure.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(figure)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=FIGURES, help="folder of the PNGs")
    args = parser.parse_args()
    os.makedirs(args.output, exist_ok=True)
    print(draw_blocks(os.path.join(args.output, "blocks.png")))
    header, rows = stage_rows()
    print(draw_stage_table(os.path.join(args.output, "stage_table.png"), header, rows))
    print()
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
