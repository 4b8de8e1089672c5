"""Benchmark: time and peak memory of the weight comparison as checkpoints grow.

For each size it writes a Llama-shaped float32 checkpoint A and B = A + N(0, 1e-3^2) (one
tensor in memory at a time), then runs `compare_artifacts` in a fresh child process and prints
the child's wall time and peak RSS. The files were just written, so they are in the page cache:
the figures are for a warm cache (a cold 16 GB read is bound by the disk instead).

    python tests/benchmarks/weights.py                      # 64 MB, 256 MB, 1 GB per checkpoint
    python tests/benchmarks/weights.py --sizes 64 256 1024 4096 --sample 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HIDDEN = 1024
VOCAB = 8192
SIGMA = 1e-3


def layout(megabytes: int) -> list[tuple[str, tuple[int, ...]]]:
    """Tensor names and shapes of a checkpoint of about `megabytes` MB in float32."""
    h = HIDDEN
    per_layer = 16 * h * h * 4  # q, k, v, o (h x h) + gate, up, down (4h x h) in bytes
    layers = max(1, round((megabytes * 2**20 - VOCAB * h * 4) / per_layer))
    shapes: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (VOCAB, h))]
    for i in range(layers):
        p = f"model.layers.{i}"
        shapes += [(f"{p}.self_attn.{n}_proj.weight", (h, h)) for n in "qkvo"]
        shapes += [(f"{p}.mlp.{n}_proj.weight", (4 * h, h)) for n in ("gate", "up")]
        shapes += [(f"{p}.mlp.down_proj.weight", (h, 4 * h))]
        shapes += [
            (f"{p}.input_layernorm.weight", (h,)),
            (f"{p}.post_attention_layernorm.weight", (h,)),
        ]
    shapes.append(("model.norm.weight", (h,)))
    return shapes


def write_streaming(path: Path, shapes: list[tuple[str, tuple[int, ...]]], noise: bool) -> None:
    """Write a safetensors file tensor by tensor; values depend only on the tensor's index."""
    header: dict[str, object] = {}
    offset = 0
    for name, shape in shapes:
        nbytes = int(np.prod(shape)) * 4
        header[name] = {
            "dtype": "F32",
            "shape": list(shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(blob)) + blob)
        for i, (name, shape) in enumerate(shapes):
            rng = np.random.default_rng([0, i])
            if name.endswith("norm.weight"):
                values = 1.0 + rng.normal(0, 0.05, shape)
            else:
                values = rng.normal(0, 0.02, shape)
            if noise:
                values += np.random.default_rng([1, i]).normal(0, SIGMA, shape)
            fh.write(values.astype("<f4").tobytes())


def child(a: str, b: str, sample: int) -> None:
    from plagiarism.artifacts.compare import compare_artifacts

    start = time.perf_counter()
    section, _ = compare_artifacts(Path(a), Path(b), sample=sample)
    elapsed = time.perf_counter() - start
    assert section is not None
    w = section["weights"]
    assert isinstance(w, dict)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": round(elapsed, 2),
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "verdict": w["verdict"],
                "noise_std": w["noise_std"],
                "tensors": w["tensors_paired"],
                "subsampled": w["sampling"]["tensors_subsampled"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024], help="MB each")
    parser.add_argument("--sample", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.sample)
        return
    head = ("size/ckpt", "tensors", "subsampled", "seconds", "peak RSS")
    print(f"{head[0]:>10} {head[1]:>8} {head[2]:>10} {head[3]:>8} {head[4]:>10}  verdict")
    for mb in args.sizes:
        work = Path(tempfile.mkdtemp(prefix="plagiarism-bench-"))
        try:
            shapes = layout(mb)
            for side, noise in (("a", False), ("b", True)):
                (work / side).mkdir()
                write_streaming(work / side / "model.safetensors", shapes, noise)
            real_mb = (work / "a" / "model.safetensors").stat().st_size / 2**20
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(work / "a"), str(work / "b"),
                 "--sample", str(args.sample)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{real_mb:>8.0f}MB {r['tensors']:>8} {r['subsampled']:>10} {r['seconds']:>8.2f} "
                f"{r['peak_rss_mb']:>8.0f}MB  {r['verdict']} (sigma {r['noise_std']})"
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
