"""The machine a benchmark ran on: CPU model and the flags that decide its speed, GPUs.

Machines of the same kind come with AVX-512 and bfloat16 on one day and AVX2 only on
another, and with the same flags can run several times slower on one day than on another,
so every figure records the flags and a short speed probe taken on the day.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from functools import cache
from importlib import metadata

import numpy as np

# The instruction sets that change which kernels oneDNN, XLA and torch pick.
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")
PACKAGES = ("keras", "tensorflow", "jax", "torch")
# Caps on the instruction sets each library dispatches to, which let an AVX-512 machine
# stand in for an AVX2-only one: oneDNN (TensorFlow's convolutions), torch, and XLA.
ISA_LIMITS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "XLA_FLAGS")


def cpu_model_and_flags() -> tuple[str, list[str]]:
    """The CPU's model name and its flags, as lscpu and /proc/cpuinfo report them."""
    model, flags = platform.processor() or platform.machine(), []
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = value.split()
                if model and flags:
                    break
    except OSError:
        pass
    return model, flags


def gpu_names() -> list[str]:
    """Names of the NVIDIA GPUs that nvidia-smi lists; empty without any."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [name.strip() for name in out.splitlines() if name.strip()]


@cache
def speed_probe() -> dict:
    """How fast this CPU runs today, in about a second: best of three of each.

    ``python_loop_ms``: two million additions in the interpreter, one core; small models
    are bound by this kind of dispatch. ``matmul_gflops``: a 1024x1024 float32 matrix
    product through NumPy's BLAS on every core; large models are bound by this.
    """

    def best_of_three(work) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return min(times)

    def python_loop() -> None:
        total = 0
        for i in range(2_000_000):
            total += i

    matrix = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    matrix @ matrix  # the first product loads and warms the BLAS threads
    products = 4
    matmul = best_of_three(lambda: [matrix @ matrix for _ in range(products)])
    return {
        "python_loop_ms": round(best_of_three(python_loop) * 1000),
        "matmul_gflops": round(products * 2 * 1024**3 / matmul / 1e9, 1),
    }


def describe_machine() -> dict:
    """A JSON-ready record of the machine: CPU model, speed flags, cores, GPUs, versions.

    Example:
        >>> describe_machine()["cpu_flags"]
        ['avx2', 'fma']
    """
    model, flags = cpu_model_and_flags()
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu_model": model,
        "cpu_flags": [flag for flag in SPEED_FLAGS if flag in flags],
        "cpu_count": os.cpu_count(),
        "gpus": gpu_names(),
        "speed_probe": speed_probe(),
        "isa_limits": {name: os.environ[name] for name in ISA_LIMITS if name in os.environ},
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def one_line(machine: dict) -> str:
    """``"AMD EPYC, 2 cores (avx2 fma; python loop 270 ms, matmul 34 GFLOP/s)"``."""
    where = ", ".join(machine["gpus"]) or f"{machine['cpu_model']}, {machine['cpu_count']} cores"
    limits = "".join(f"; {name}={value}" for name, value in machine.get("isa_limits", {}).items())
    probe = machine.get("speed_probe")
    speed = (
        f"; python loop {probe['python_loop_ms']} ms, matmul {probe['matmul_gflops']} GFLOP/s"
        if probe
        else ""
    )
    return f"{where} ({' '.join(machine['cpu_flags']) or 'no AVX2'}{limits}{speed})"
