"""Every bad input we try, what the user sees, and the table in docs/reliability.md generated from the same runs.

Each case builds one bad input in a temporary folder and runs it the way a user would (the `ilsvrc` command
in-process, or the data loader). The checks: a bad input exits 2 (or is skipped and reported / converted) with
one line that names the file or argument, never a traceback, never a wrong label. The doc is compared with what
the cases produce; regenerate it with `ILSVRC_REGEN_DOCS=1 python -m pytest tests/test_reliability_table.py`.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import pickle
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import hostile_inputs as H
from hostile_inputs import reseal
from ilsvrc.cli import main as cli_main
from ilsvrc.data import load_dataset
from ilsvrc.errors import UserError

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "reliability.md"
MARKER = "PWNED"  # the file a malicious pickle would create if it ever ran


# ---------------------------------------------------------------------------------------------- running a case


@dataclass
class Outcome:
    rc: int | str  # exit status, or "crash: ..." when an exception escaped
    stderr: str  # what the user sees on stderr (skip reports, the error line)
    note: str = ""  # what happened when the input was accepted (e.g. "loaded 7 images")


# The classes of failure the cases are grouped by in docs/reliability.md, in this order.
G_CODE = "Code inside a file never runs"
G_BOUND = "A small file never costs unbounded memory or time"
G_SILENT = "No silent wrong results: refused, or converted and said so"
G_WRITE = "Write failures: one line, earlier files intact"
G_LOST = "Nothing is lost: one process per folder, no mixing of data sets"
G_SKIP = "Unreadable files in an image tree: skipped by path, the rest loads"
G_LINE = "Every other bad input: one line naming the file or argument"
GROUPS = (G_CODE, G_BOUND, G_SILENT, G_WRITE, G_LOST, G_SKIP, G_LINE)


@dataclass
class Case:
    area: str
    what: str
    run: Callable[[Path, dict], Outcome]
    rc: int = 2  # expected exit status: 2 user error, 1 run error, 0 accepted (converted or skipped)
    needles: tuple[str, ...] = ()  # must appear in the message ({tmp} = the case's folder)
    group: str = ""  # one of GROUPS; empty: skipped files for accepted image cases, else G_LINE

    def __post_init__(self) -> None:
        if not self.group:
            self.group = G_SKIP if (self.area == "images" and self.rc == 0) else G_LINE
        assert self.group in GROUPS, self.group


def cli(*args: str) -> Outcome:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc: int | str = cli_main([str(a) for a in args])
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 2
        except Exception as e:
            rc = f"crash: {type(e).__name__}: {e}"
    return Outcome(rc, err.getvalue())


def api(fn: Callable[[], str]) -> Outcome:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            note = fn()
            rc: int | str = 0
        except UserError as e:
            return Outcome(2, err.getvalue() + f"error: {e}\n")
        except Exception as e:
            return Outcome(f"crash: {type(e).__name__}: {e}", err.getvalue())
    return Outcome(rc, err.getvalue(), note)


# ---------------------------------------------------------------------------------------------- inputs


def solid(color: tuple[int, int, int], size: int = 12) -> Image.Image:
    return Image.fromarray(np.full((size, size, 3), color, dtype=np.uint8))


RED, BLUE = (220, 30, 30), (30, 30, 220)


def image_tree(root: Path, per_class: int = 3) -> Path:
    """root/a (red images, label 0) and root/b (blue images, label 1)."""
    for cls, color in (("a", RED), ("b", BLUE)):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            solid(color).save(root / cls / f"{i}.png")
    return root


def split_tree(root: Path) -> Path:
    for split, n in (("train", 8), ("val", 4)):
        image_tree(root / split, n)
    return root


def load_tree(root: Path, good: int) -> str:
    """Load the tree, check every label against its colour, and say what was loaded."""
    ds = load_dataset(root, "train", size=8)
    x = ds.images.float().mean(dim=(1, 2))  # (N, 3) mean colour
    labels = ds.labels.tolist()
    for (r, _, b), y in zip(x.tolist(), labels, strict=True):
        assert (r > b) == (y == 0), f"wrong label {y} for an image of mean colour r={r:.0f} b={b:.0f}"
    assert len(labels) == good, f"expected {good} images, got {len(labels)}"
    return f"loaded {len(labels)} images, every label right"


def png_header_only(path: Path, w: int, h: int) -> None:
    """A PNG that claims w x h pixels: what a decompression bomb looks like before it is decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def bad_file_case(
    name: str, write: Callable[[Path], None], good: int = 6, cls: str = "a"
) -> Callable[[Path, dict], Outcome]:
    """The red/blue tree with one more file written into class `cls` (a grey image belongs in "b", not red)."""

    def run(tmp: Path, ctx: dict) -> Outcome:
        root = image_tree(tmp / "tree")
        write(root / cls / name)
        return api(lambda: load_tree(root, good))

    return run


class Evil:
    """Unpickling this runs a shell command that creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def evil_checkpoint(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "ilsvrc-checkpoint", "format_version": 1, "model": Evil(path.parent / MARKER)}, path)
    return path


def tampered(ctx: dict, tmp: Path, edit: Callable[[dict], None]) -> Path:
    ckpt = torch.load(ctx["ckpt"], weights_only=True)
    edit(ckpt)
    if "checksum" not in ckpt:  # an edit that re-seals: the checksum catches accidents, it is no signature
        reseal(ckpt)
    path = tmp / "tampered.pt"
    torch.save(ckpt, path)
    return path


def write_idx(path: Path, array: np.ndarray, magic: bytes | None = None) -> None:
    header = (magic or bytes([0, 0, 0x08, array.ndim])) + np.asarray(array.shape, dtype=">i4").tobytes()
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def cifar_dir(root: Path, labels: list[int]) -> Path:
    root.mkdir(parents=True)
    x = np.zeros((len(labels), 3072), dtype=np.uint8)
    for name in ("data_batch_1", "test_batch"):
        with open(root / name, "wb") as f:
            pickle.dump({"labels": labels, "data": x}, f)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["ant", "bee", "cow"]}, f)
    return root


def first_half(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def flipped(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


def _run_train(*extra: str) -> Callable[[Path, dict], Outcome]:
    return lambda tmp, ctx: cli("train", "--data", ctx["data"], "--max-steps", "1", "--batch-size", "4", *extra)


def _evil_resume(t: Path, c: dict) -> Outcome:
    evil_checkpoint(t / "run" / "checkpoints" / "last.pt")
    return cli("train", "--resume", "--out", t / "run", "--data", c["data"])


def _small_alexnet(t: Path, c: dict) -> Outcome:
    return cli(
        "train",
        "alexnet",
        "--data",
        c["data"],
        "--input-size",
        "8",
        "--out",
        t / "r",
        "--max-steps",
        "1",
        "--batch-size",
        "4",
    )


def _flat(t: Path) -> Path:
    root = t / "flat"
    root.mkdir()
    solid(RED).save(root / "0.png")
    return root


def _touch(p: Path) -> Path:
    p.write_bytes(b"")
    return p


def _text(p: Path, text: str = "hello\n") -> Path:
    p.write_text(text)
    return p


def _foreign(p: Path) -> Path:
    torch.save(torch.nn.Linear(2, 2).state_dict(), p)
    return p


def _nudge_weight(ckpt: dict) -> None:
    key = next(iter(ckpt["model"]))
    ckpt["model"][key] = ckpt["model"][key] + 1


def _more_classes(ckpt: dict) -> None:
    ckpt["num_classes"] = 5
    ckpt["classes"] = list("vwxyz")
    ckpt.pop("checksum", None)


def _other_model(ckpt: dict) -> None:
    ckpt["config"]["model"] = "resnet32"
    ckpt.pop("checksum", None)


def _truncated_jpeg(p: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def _png16_case(t: Path, c: dict) -> Outcome:
    root = image_tree(t / "tree")
    Image.fromarray(np.full((12, 12), 0x6000, dtype=np.uint16)).save(root / "b" / "g16.png")  # grey 96 of 255

    def check() -> str:
        ds = load_dataset(root, "train", size=8)
        grey = ds.images[ds.labels == 1].float().mean(dim=(1, 2, 3))
        assert len(grey) == 4 and any(abs(g - 96) < 1 for g in grey.tolist()), grey
        return load_tree(root, 7) + "; the 16-bit grey 0x6000 reads as 96"

    return api(check)


def _with_alpha(p: Path) -> None:
    img = solid(RED).convert("RGBA")
    img.putalpha(100)
    img.save(p)


def _empty_class(t: Path) -> Path:
    root = image_tree(t / "tree")
    (root / "c").mkdir()
    return root


def _all_bad(t: Path) -> Path:
    root = t / "tree"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        (root / cls / "x.png").write_text("not a png")
    return root


def _load(root: Path) -> str:
    ds = load_dataset(root, "train")
    return f"loaded {len(ds)} images"


def _evil_cifar(t: Path) -> Path:
    root = cifar_dir(t / "cifar", [0, 1, 2])
    with open(root / "data_batch_1", "wb") as f:
        pickle.dump({"labels": [0], "data": Evil(t / MARKER)}, f)
    return root


def _short_labels(t: Path) -> Path:
    root = cifar_dir(t / "cifar", [0, 1, 2])
    with open(root / "data_batch_1", "wb") as f:
        pickle.dump({"labels": [0, 1], "data": np.zeros((3, 3072), dtype=np.uint8)}, f)
    return root


def _idx_dir(t: Path, magic: bytes | None = None, label: int = 1, cut: int = 0) -> Path:
    root = t / "fashion"
    root.mkdir()
    for split in ("train", "t10k"):
        write_idx(root / f"{split}-images-idx3-ubyte", np.zeros((3, 6, 6), dtype=np.uint8), magic)
        write_idx(root / f"{split}-labels-idx1-ubyte", np.array([0, label, 2], dtype=np.uint8))
    if cut:
        f = root / "train-images-idx3-ubyte"
        f.write_bytes(f.read_bytes()[:-cut])
    return root


def _packed(t: Path, broken: str) -> Path:
    import json

    from ilsvrc.data import pack

    out = t / "packed"
    pack(image_tree(t / "tree"), out, size=8, progress=False)
    if broken == "label":
        np.save(out / "labels.npy", np.array([0, 0, 0, 1, 1, 2], dtype=np.int64))
    else:
        meta = json.loads((out / "meta.json").read_text())
        del meta["classes"]
        (out / "meta.json").write_text(json.dumps(meta))
    return out


# ---------------------------------------------------------------------------------------------- the cases

CK = "checkpoint"
CASES: list[Case] = [
    # -- checkpoints: code in pickles, corrupt, foreign, mismatched
    Case(
        CK,
        "pickle that runs a shell command, `ilsvrc evaluate`",
        lambda t, c: cli("evaluate", evil_checkpoint(t / "evil.pt"), "--data", c["data"]),
        2,
        ("{tmp}/evil.pt", "refusing"),
        group=G_CODE,
    ),
    Case(
        CK,
        "pickle that runs a shell command, `ilsvrc predict`",
        lambda t, c: cli("predict", evil_checkpoint(t / "evil.pt"), c["image"]),
        2,
        ("{tmp}/evil.pt", "refusing"),
        group=G_CODE,
    ),
    Case(
        CK,
        "pickle that runs a shell command, `ilsvrc train --resume`",
        _evil_resume,
        2,
        ("{tmp}/run/checkpoints/last.pt", "refusing"),
        group=G_CODE,
    ),
    Case(
        CK,
        "pickle that runs a shell command, `ilsvrc export`",
        lambda t, c: cli("export", evil_checkpoint(t / "evil.pt"), "--to", "torchscript", "--out", t / "m.pt"),
        2,
        ("{tmp}/evil.pt", "refusing"),
        group=G_CODE,
    ),
    Case(
        CK,
        "zero-byte checkpoint file",
        lambda t, c: cli("evaluate", _touch(t / "zero.pt"), "--data", c["data"]),
        2,
        ("{tmp}/zero.pt", "empty"),
    ),
    Case(
        CK,
        "text file",
        lambda t, c: cli("evaluate", _text(t / "notes.pt"), "--data", c["data"]),
        2,
        ("{tmp}/notes.pt",),
    ),
    Case(
        CK,
        "truncated checkpoint (first half)",
        lambda t, c: cli("evaluate", first_half(c["ckpt"], t / "half.pt"), "--data", c["data"]),
        2,
        ("{tmp}/half.pt",),
    ),
    Case(
        CK,
        "corrupt checkpoint (64 bytes flipped)",
        lambda t, c: cli("evaluate", flipped(c["ckpt"], t / "flip.pt"), "--data", c["data"]),
        2,
        ("{tmp}/flip.pt",),
    ),
    Case(
        CK,
        "foreign file: a bare nn.Linear state_dict",
        lambda t, c: cli("evaluate", _foreign(t / "linear.pt"), "--data", c["data"]),
        2,
        ("{tmp}/linear.pt",),
    ),
    Case(
        CK,
        "weights edited after saving (checksum mismatch)",
        lambda t, c: cli("evaluate", tampered(c, t, _nudge_weight), "--data", c["data"]),
        2,
        ("{tmp}/tampered.pt", "checksum"),
        group=G_SILENT,
    ),
    Case(
        CK,
        "written by a newer ilsvrc (format version 99)",
        lambda t, c: cli("evaluate", tampered(c, t, lambda k: k.update(format_version=99)), "--data", c["data"]),
        2,
        ("{tmp}/tampered.pt", "newer"),
    ),
    Case(
        CK,
        "checkpoint says 5 classes but holds weights for 2",
        lambda t, c: cli("predict", tampered(c, t, _more_classes), c["image"]),
        2,
        ("{tmp}/tampered.pt", "num_classes is 5", "5 outputs"),
        group=G_SILENT,
    ),
    Case(
        CK,
        "weights of resnet20 under the name resnet32",
        lambda t, c: cli("predict", tampered(c, t, _other_model), c["image"]),
        2,
        ("missing keys", "layer1.3"),
        group=G_SILENT,
    ),
    Case(
        CK,
        "checkpoint path does not exist",
        lambda t, c: cli("evaluate", t / "nope.pt", "--data", c["data"]),
        2,
        ("{tmp}/nope.pt",),
    ),
    # -- command-line arguments
    Case(
        "cli", "unknown model `resnet5` (closest names suggested)", _run_train("resnet5"), 2, ("resnet50", "resnet56")
    ),
    Case(
        "cli",
        "batch size 0",
        lambda t, c: cli("train", "resnet20", "--data", c["data"], "--batch-size", "0"),
        2,
        ("batch_size",),
    ),
    Case(
        "cli",
        "negative epochs",
        lambda t, c: cli("train", "resnet20", "--data", c["data"], "--epochs", "-1"),
        2,
        ("epochs",),
    ),
    Case("cli", "batch size not a number", lambda t, c: cli("train", "--batch-size", "many"), 2, ("--batch-size",)),
    Case(
        "cli",
        "EMA and lookahead together",
        lambda t, c: cli("train", "--ema", "0.9", "--lookahead-every", "5"),
        2,
        ("--ema", "--lookahead-every"),
    ),
    Case(
        "cli",
        "test-time views with 10 crops",
        lambda t, c: cli("train", "--tta", "translate", "--eval-crops", "10"),
        2,
        ("--tta", "--eval-crops 1"),
    ),
    Case(
        "cli",
        "cutout larger than the training crops",
        lambda t, c: cli(
            "train", "resnet20", "--data", c["data"], "--batch-size", "4", "--cutout", "200", "--out", t / "cut"
        ),
        2,
        ("--cutout 200", "larger than"),
    ),
    Case("cli", "negative cutout", lambda t, c: cli("train", "--cutout", "-2"), 2, ("cutout must be >= 0",)),
    Case(
        "cli",
        "low-res side larger than the training crops",
        lambda t, c: cli(
            "train",
            "resnet20",
            "--data",
            c["data"],
            "--batch-size",
            "4",
            "--low-res",
            "64",
            "--low-res-epochs",
            "1",
            "--out",
            t / "low",
        ),
        2,
        ("--low-res 64", "not smaller than"),
    ),
    Case(
        "cli",
        "low-res side without its epochs",
        lambda t, c: cli("train", "--low-res", "24"),
        2,
        ("--low-res 24", "set both"),
    ),
    Case("cli", "input size 8 for alexnet (needs 67)", _small_alexnet, 2, ("alexnet", "67")),
    Case(
        "cli",
        "training data folder missing",
        lambda t, c: cli("train", "resnet20", "--data", t / "nodata"),
        2,
        ("{tmp}/nodata",),
    ),
    Case(
        "cli",
        "output folder under a regular file",
        lambda t, c: cli(
            "train",
            "resnet20",
            "--data",
            c["data"],
            "--out",
            _text(t / "file") / "run",
            "--max-steps",
            "1",
            "--batch-size",
            "4",
        ),
        2,
        ("{tmp}/file",),
    ),
    Case(
        "cli",
        "`--resume` with nothing to resume",
        lambda t, c: cli("train", "--resume", "--out", t / "empty", "--data", c["data"]),
        2,
        ("{tmp}/empty",),
    ),
    Case(
        "cli",
        "config file missing",
        lambda t, c: cli("train", "--config", t / "missing.yaml"),
        2,
        ("{tmp}/missing.yaml",),
    ),
    Case(
        "cli",
        "config file is not YAML",
        lambda t, c: cli("train", "--config", _text(t / "c.yaml", "a: [1,\n")),
        2,
        ("{tmp}/c.yaml",),
    ),
    Case(
        "cli",
        "config file with an unknown field",
        lambda t, c: cli("train", "--config", _text(t / "c.yaml", "modle: resnet20\n")),
        2,
        ("modle",),
    ),
    Case(
        "cli",
        "evaluate: data folder missing",
        lambda t, c: cli("evaluate", c["ckpt"], "--data", t / "nodata"),
        2,
        ("{tmp}/nodata",),
    ),
    Case(
        "cli", "predict: image missing", lambda t, c: cli("predict", c["ckpt"], t / "nope.jpg"), 2, ("{tmp}/nope.jpg",)
    ),
    Case(
        "cli",
        "predict: a text file as the image",
        lambda t, c: cli("predict", c["ckpt"], _text(t / "x.jpg")),
        2,
        ("{tmp}/x.jpg",),
    ),
    Case("cli", "pack: size 0", lambda t, c: cli("pack", c["data"], t / "out", "--size", "0"), 2, ("size",)),
    Case(
        "cli",
        "pack: output under a regular file",
        lambda t, c: cli("pack", c["data"], _text(t / "file") / "out", "--size", "8"),
        2,
        ("{tmp}/file",),
    ),
    Case("cli", "predict: --top -3", lambda t, c: cli("predict", c["ckpt"], c["image"], "--top", "-3"), 2, ("--top",)),
    Case(
        "cli",
        "export: output under a regular file",
        lambda t, c: cli("export", c["ckpt"], "--to", "torchscript", "--out", _text(t / "file") / "m.pt"),
        2,
        ("{tmp}/file",),
    ),
    Case("cli", "train: --threads -1", _run_train("resnet20", "--threads", "-1"), 2, ("threads",)),
    Case("cli", "summary: unknown model `resnt50`", lambda t, c: cli("summary", "resnt50"), 2, ("resnet50",)),
    Case("cli", "unknown subcommand", lambda t, c: cli("trian"), 2, ("trian",)),
    # -- image folders
    Case(
        "images",
        "corrupt JPEG",
        bad_file_case("bad.jpg", lambda p: p.write_bytes(b"\xff\xd8\xff\xe0junk" * 9)),
        0,
        ("{tmp}/tree/a/bad.jpg",),
    ),
    Case("images", "truncated JPEG", bad_file_case("cut.jpg", _truncated_jpeg), 0, ("{tmp}/tree/a/cut.jpg",)),
    Case(
        "images",
        "zero-byte file",
        bad_file_case("zero.png", lambda p: p.write_bytes(b"")),
        0,
        ("{tmp}/tree/a/zero.png", "empty"),
    ),
    Case(
        "images",
        "text file named .png",
        bad_file_case("notes.png", lambda p: p.write_text("hello")),
        0,
        ("{tmp}/tree/a/notes.png",),
    ),
    Case(
        "images",
        "image 100000 x 100000 (decompression bomb)",
        bad_file_case("bomb.png", lambda p: png_header_only(p, 100_000, 100_000)),
        0,
        ("{tmp}/tree/a/bomb.png",),
        group=G_BOUND,
    ),
    Case(
        "images", "folder named x.jpg", bad_file_case("x.jpg", lambda p: p.mkdir()), 0, ("{tmp}/tree/a/x.jpg", "folder")
    ),
    Case(
        "images",
        "dangling symlink",
        bad_file_case("gone.jpg", lambda p: p.symlink_to(p.parent / "missing.jpg")),
        0,
        ("{tmp}/tree/a/gone.jpg",),
    ),
    Case("images", "symlink loop", bad_file_case("loop.jpg", lambda p: p.symlink_to(p)), 0, ("{tmp}/tree/a/loop.jpg",)),
    Case(
        "images",
        "CMYK JPEG (converted to RGB)",
        bad_file_case("cmyk.jpg", lambda p: solid(RED).convert("CMYK").save(p), good=7),
        0,
        group=G_SILENT,
    ),
    Case(
        "images",
        "16-bit greyscale PNG (top 8 bits kept, not clipped to white)",
        _png16_case,
        0,
        group=G_SILENT,
    ),
    Case(
        "images",
        "palette PNG (converted to RGB)",
        bad_file_case("pal.png", lambda p: solid(RED).convert("P").save(p), good=7),
        0,
        group=G_SILENT,
    ),
    Case(
        "images",
        "RGBA PNG with alpha (alpha dropped)",
        bad_file_case("rgba.png", lambda p: _with_alpha(p), good=7),
        0,
        group=G_SILENT,
    ),
    Case("images", "empty class folder", lambda t, c: api(lambda: load_tree(_empty_class(t), 6)), 2, ("{tmp}/tree/c",)),
    Case(
        "images",
        "folder without class folders",
        lambda t, c: api(lambda: load_tree(_flat(t), 0)),
        2,
        ("{tmp}/flat",),
    ),
    Case("images", "every image unreadable", lambda t, c: api(lambda: load_tree(_all_bad(t), 0)), 2, ("{tmp}/tree",)),
    # -- CIFAR and IDX files
    Case(
        "cifar",
        "label 7 with 3 class names",
        lambda t, c: api(lambda: _load(cifar_dir(t / "cifar", [0, 1, 7]))),
        2,
        ("data_batch_1", "label 7"),
        group=G_SILENT,
    ),
    Case(
        "cifar",
        "negative label",
        lambda t, c: api(lambda: _load(cifar_dir(t / "cifar", [0, -1, 2]))),
        2,
        ("data_batch_1", "label -1"),
        group=G_SILENT,
    ),
    Case(
        "cifar",
        "batch that pickles os.system",
        lambda t, c: api(lambda: _load(_evil_cifar(t))),
        2,
        ("data_batch_1", "refusing"),
        group=G_CODE,
    ),
    Case(
        "cifar",
        "batch of 3 images with 2 labels",
        lambda t, c: api(lambda: _load(_short_labels(t))),
        2,
        ("data_batch_1",),
        group=G_SILENT,
    ),
    Case(
        "idx",
        "wrong magic number",
        lambda t, c: api(lambda: _load(_idx_dir(t, magic=b"\x00\x00\x09\x03"))),
        2,
        ("train-images-idx3-ubyte",),
    ),
    Case(
        "idx",
        "Fashion-MNIST label 12 (10 classes)",
        lambda t, c: api(lambda: _load(_idx_dir(t, label=12))),
        2,
        ("train-labels-idx1-ubyte", "label 12"),
        group=G_SILENT,
    ),
    Case(
        "idx",
        "truncated images file",
        lambda t, c: api(lambda: _load(_idx_dir(t, cut=10))),
        2,
        ("train-images-idx3-ubyte", "truncated"),
    ),
    Case(
        "packed",
        "labels.npy with a label past the class list",
        lambda t, c: api(lambda: _load(_packed(t, "label"))),
        2,
        ("labels.npy", "out of range"),
        group=G_SILENT,
    ),
    Case(
        "packed",
        "meta.json without classes",
        lambda t, c: api(lambda: _load(_packed(t, "meta"))),
        2,
        ("meta.json", "classes"),
    ),
]


# ------------------------------------------------------------------------------------ issue 15 and the red team


def _data(t: Path, c: dict, *args: str) -> Outcome:
    """`ilsvrc evaluate` of the shared checkpoint on a data source: every reader behind one command."""
    return cli("evaluate", c["ckpt"], "--data", *args)


def _ckpt(edit: Callable[[dict], None], seal: bool = True, cmd: str = "evaluate") -> Callable[[Path, dict], Outcome]:
    def run(t: Path, c: dict) -> Outcome:
        path = H.edited_checkpoint(c["ckpt"], t / "edited.pt", edit, seal)
        if cmd == "predict":
            return cli("predict", path, c["image"])
        if cmd == "resume":
            run_dir = t / "run" / "checkpoints"
            run_dir.mkdir(parents=True)
            path.rename(run_dir / "last.pt")
            return cli("train", "--resume", "--out", t / "run", "--data", c["data"], "--no-progress")
        return cli("evaluate", path, "--data", c["data"])

    return run


def _set(key: str, value: object) -> Callable[[dict], None]:
    return lambda k: k.__setitem__(key, value)


def _fifo(p: Path) -> Path:
    os.mkfifo(p)
    return p


def _packed_folder(t: Path) -> Path:
    from ilsvrc.data import pack

    return Path(pack(image_tree(t / "tree"), t / "packed", size=8, progress=False) and t / "packed")


def _packed_edit(edit: Callable[[dict], object]) -> Callable[[Path, dict], Outcome]:
    return lambda t, c: api(lambda: _load(H.packed_meta_edit(_packed_folder(t), edit)))


def _packed_file(name: str, write: Callable[[Path], object]) -> Callable[[Path, dict], Outcome]:
    def run(t: Path, c: dict) -> Outcome:
        folder = _packed_folder(t)
        (folder / name).unlink()
        write(folder / name)
        return api(lambda: _load(folder))

    return run


def _jpeg_packed_edit(edit: Callable[[dict], object]) -> Callable[[Path, dict], Outcome]:
    def run(t: Path, c: dict) -> Outcome:
        from ilsvrc.data.packing import pack_jpeg_tree

        pack_jpeg_tree(image_tree(t / "tree"), t / "jpeg", size=8, progress=False)
        return api(lambda: _load(H.packed_meta_edit(t / "jpeg", edit)))

    return run


def _idx(images: bytes, gz: bool = False) -> Callable[[Path, dict], Outcome]:
    return lambda t, c: api(lambda: _load(H.idx_folder(t / "idx", images, gz)))


def _cifar(**fields) -> Callable[[Path, dict], Outcome]:
    return lambda t, c: api(lambda: _load(H.cifar(t / "cifar", **fields)))


def _two_class_tree(root: Path, classes: tuple[str, ...], per_class: int = 2) -> Path:
    colors = {"a": RED, "b": BLUE, "c": (30, 220, 30)}
    for cls in classes:
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            solid(colors[cls]).save(root / cls / f"{i}.png")
    return root


def _val_tree(t: Path, val_classes: tuple[str, ...]) -> Path:
    _two_class_tree(t / "tree" / "train", ("a", "b"), 3)
    _two_class_tree(t / "tree" / "val", val_classes)
    return t / "tree"


def _val_labels(t: Path, val_classes: tuple[str, ...]) -> str:
    ds = load_dataset(_val_tree(t, val_classes), "val", size=8)
    reds = ds.images.float().mean(dim=(1, 2))[:, 0] > 128
    assert ds.classes == ["a", "b"], ds.classes
    assert all((ds.labels[i] == 0) == bool(reds[i]) for i in range(len(ds))), ds.labels
    return f"val labelled by the train split's classes {ds.classes}: labels {ds.labels.tolist()}, every one right"


def _packed_val_other_order(t: Path, c: dict) -> Outcome:
    from ilsvrc.data import pack

    pack(_two_class_tree(t / "tr", ("a", "b"), 3), t / "p" / "train", size=8, progress=False)
    pack(_two_class_tree(t / "va", ("b", "c"), 2), t / "p" / "val", size=8, progress=False)
    return api(lambda: str(len(load_dataset(t / "p", "val"))))


def _fsize_limit(limit: int, fn: Callable[[], Outcome]) -> Outcome:
    """fn() under `ulimit -f` (RLIMIT_FSIZE; Python ignores SIGXFSZ, so a write past it fails with EFBIG)."""
    import resource

    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old[1]))
    try:
        return fn()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)


def _train_fsize(t: Path, c: dict) -> Outcome:
    out = t / "run"
    args = ("train", "resnet20", "--data", c["data"], "--out", out, "--max-steps", "1", "--batch-size", "4")
    got = _fsize_limit(300_000, lambda: cli(*args, "--no-progress"))  # a resnet20 checkpoint is ~1.1 MB
    left = sorted(p.name for p in (out / "checkpoints").iterdir()) if (out / "checkpoints").is_dir() else []
    assert not [n for n in left if ".tmp" in n], left
    return Outcome(got.rc, got.stderr, f"no partial checkpoint left ({left or 'none written'})")


def _pack_fsize(t: Path, c: dict) -> Outcome:
    tree = image_tree(t / "tree", 40)
    return _fsize_limit(20_000, lambda: cli("pack", tree, t / "out", "--size", "16", "--quiet"))


def _pack_twice_different(t: Path, c: dict) -> Outcome:
    first = cli("pack", image_tree(t / "tree"), t / "out", "--size", "8", "--quiet")
    assert first.rc == 0, first
    return cli("pack", image_tree(t / "tree"), t / "out", "--size", "16", "--quiet")


def _pack_into_busy(t: Path, c: dict) -> Outcome:
    from ilsvrc.locks import folder_lock

    with folder_lock(t / "out", "pack folder"):  # another open file description: flock conflicts like a process
        return cli("pack", image_tree(t / "tree"), t / "out", "--size", "8", "--quiet")


def _pack_into_home(t: Path, c: dict) -> Outcome:
    (t / "out").mkdir()
    (t / "out" / "thesis.tex").write_text("months of work")
    got = cli("pack", image_tree(t / "tree"), t / "out", "--size", "8", "--quiet")
    assert (t / "out" / "thesis.tex").read_text() == "months of work"
    return got


def _evaluate_other_names(t: Path, c: dict) -> Outcome:
    data = split_tree(t / "data")
    for split in ("train", "val"):
        (data / split / "b").rename(data / split / "z")
    return cli("evaluate", c["ckpt"], "--data", data)


def _predict(write: Callable[[Path], object], name: str) -> Callable[[Path, dict], Outcome]:
    return lambda t, c: cli("predict", c["ckpt"], write(t / name) or t / name)


def _imagenet_text_meta(t: Path, c: dict) -> Outcome:
    root = t / "imagenet"
    image_tree(root / "train")
    (root / "meta.bin").write_text("n01440764 tench\n")
    return api(lambda: _load(root))


def _exif_case(t: Path, c: dict) -> Outcome:
    root = image_tree(t / "tree")
    H.exif_rotated(root / "a" / "rot.jpg")

    def check() -> str:
        from ilsvrc.data.decode import decode_image

        x = decode_image(root / "a" / "rot.jpg", 8).astype(int)
        left, right = x[:, :4, 0].mean(), x[:, 4:, 0].mean()
        assert right > 200 > 50 > left, (left, right)
        return load_tree(root, 7).replace("loaded", "upright (red half on the right as displayed); loaded")

    return api(check)


def _non_utf8_tree(t: Path, c: dict) -> Outcome:
    base = os.fsencode(t / "tree")
    for cls, color in ((b"caf\xe9", RED), (b"z\xff", BLUE)):
        d = os.path.join(base, cls)
        os.makedirs(d)
        for i in range(3):
            solid(color).save(os.fsdecode(os.path.join(d, b"\xfe%d.png" % i)))
    Path(os.fsdecode(os.path.join(base, b"caf\xe9", b"bad\xfd.png"))).write_bytes(b"junk")
    got = cli("pack", t / "tree", t / "out", "--size", "8", "--quiet")
    if got.rc == 0:
        ds = load_dataset(t / "out")
        direct = load_dataset(t / "tree", size=8)  # what `train --data` does: the decoded-tree cache, keyed by name
        assert direct.classes == ds.classes and torch.equal(direct.images, ds.images)
        got.note = f"packed {len(ds)} images of classes {[c.encode('utf-8', 'backslashreplace') for c in ds.classes]}"
        got.note += "; loading the tree directly gives the same"
    return got


def _verify(folder_edit: Callable[[dict], object]) -> Callable[[Path, dict], Outcome]:
    from ilsvrc.data import verify_packed

    return lambda t, c: api(lambda: str(verify_packed(H.packed_meta_edit(_packed_folder(t), folder_edit))))


def _ema_inf(ckpt: dict) -> None:
    ema = ckpt["ema"] if ckpt.get("ema") is not None else dict(ckpt["model"])
    w = ema["fc.weight"].clone()
    w[0, 0] = float("inf")
    ckpt["ema"] = {**ema, "fc.weight": w}


def _deep_optimizer(ckpt: dict) -> None:
    ckpt["optimizer"]["state"][0] = {"momentum_buffer": H.nested(5000)}


def _idx_mismatch(t: Path, c: dict) -> Outcome:
    root = H.idx_folder(t / "idx")
    (root / "train-labels-idx1-ubyte").write_bytes(H.idx_header(2, data=bytes([0, 1])))
    return api(lambda: _load(root))


def _cifar_sparse(t: Path, c: dict) -> Outcome:
    root = H.cifar(t / "cifar")
    with open(root / "data_batch_1", "r+b") as f:
        f.truncate(2 << 30)
    return api(lambda: _load(root))


def _imagenet(t: Path, meta: object, val_files: int = 0) -> Path:
    root = t / "imagenet"
    image_tree(root / "train")
    (root / "val").mkdir()
    for i in range(val_files):
        solid(RED).save(root / "val" / f"v{i}.png")
    torch.save(meta, root / "meta.bin")
    return root


def _imagenet_meta_list(t: Path, c: dict) -> Outcome:
    return api(lambda: _load(_imagenet(t, [1, 2, 3])))


def _imagenet_unknown_wnid(t: Path, c: dict) -> Outcome:
    root = _imagenet(t, ({"a": ("ant",), "b": ("bee",)}, ["a", "n99999999"]), val_files=2)
    return api(lambda: str(len(load_dataset(root, "val", size=8))))


def _cifar100_fifo(t: Path, c: dict) -> Outcome:
    root = t / "cifar-100-python"
    root.mkdir()
    with open(root / "meta", "wb") as f:
        pickle.dump({"fine_label_names": ["a", "b"]}, f)
    os.mkfifo(root / "train")
    return api(lambda: _load(root))


def _fifo_idx(t: Path) -> Path:
    root = H.idx_folder(t / "idx")
    (root / "train-images-idx3-ubyte").unlink()
    os.mkfifo(root / "train-images-idx3-ubyte")
    return root


def _symlink(p: Path, target: str) -> Path:
    p.symlink_to(target)
    return p


def _relink(root: Path, name: str, target: str) -> Path:
    (root / name).unlink()
    (root / name).symlink_to(target)
    return root


BOMB_HEADER = H.idx_header(3, 6, 6)
# fmt: off
CASES += [
    # -- bounded memory and time
    Case("cifar", "`data` a 441-byte self-referencing list (10^10 elements)", _cifar(data=H.self_referencing_list()),
         2, ("data_batch_1", "flat list"), G_BOUND),
    Case("cifar", "`data_batch_2` a symlink to /dev/zero",
         lambda t, c: api(lambda: _load(H.cifar_symlink(t / "cifar", "/dev/zero"))), 2, ("data_batch_2", "device"),
         G_BOUND),
    Case("cifar", "`data_batch_2` a FIFO (no writer: open() would block forever)",
         lambda t, c: api(lambda: _load(H.cifar_fifo(t / "cifar"))), 2, ("data_batch_2", "FIFO"), G_BOUND),
    Case("cifar", "numpy `_reconstruct` asking for a 10^10-element array", _cifar(data=H._HugeReconstruct()),
         2, ("data_batch_1",), G_BOUND),
    Case("idx", ".gz of 4 MB whose stream decompresses to 4 GB after a 3x6x6 header",
         _idx(H.gzip_bomb(BOMB_HEADER + bytes(108)), gz=True), 2, ("train-images-idx3-ubyte",), G_BOUND),
    Case("idx", "header claims 2^31 x 2^31 x 2^31 images", _idx(H.idx_header(2**31 - 1, 2**31 - 1, 2**31 - 1)),
         2, ("impossible",), G_BOUND),
    Case("idx", "a FIFO named train-images-idx3-ubyte",
         lambda t, c: api(lambda: _load(_fifo_idx(t))), 2, ("FIFO",), G_BOUND),
    Case("images", "16-bit greyscale PNG of 12000 x 12000 (under Pillow's own limit)",
         bad_file_case("g16.png", lambda p: H.png(p, 12000, 12000, depth=16, color=0)), 0,
         ("{tmp}/tree/a/g16.png", "MiB"), G_BOUND),
    Case("images", "16-bit RGB PNG of 9000 x 9000", bad_file_case("rgb16.png", lambda p: H.png(p, 9000, 9000, 16)),
         0, ("{tmp}/tree/a/rgb16.png", "budget"), G_BOUND),
    Case("images", "a FIFO named x.png", bad_file_case("fifo.png", _fifo), 0, ("{tmp}/tree/a/fifo.png",), G_BOUND),
    Case("images", "a symlink to /dev/zero named z.png",
         bad_file_case("z.png", lambda p: p.symlink_to("/dev/zero")), 0, ("{tmp}/tree/a/z.png",), G_BOUND),
    Case(CK, "stride-0 tensor: 4 bytes claiming 2^30 elements", _ckpt(H.stride_zero, seal=False), 2,
         ("{tmp}/edited.pt", "storage"), G_BOUND),
    Case(CK, "`history` a shared-reference list of 2^40 leaves (billion laughs)",
         _ckpt(_set("history", [{"x": H.self_referencing_list(40, 2)}])), 2, ("history",), G_BOUND),
    Case(CK, "`history` nested 5,000 deep", _ckpt(_set("history", H.nested(5000))), 2, ("history",), G_BOUND),
    Case(CK, "`num_classes` 10^8 (the model would be built first)", _ckpt(_set("num_classes", 10**8)), 2,
         ("num_classes",), G_BOUND),
    Case(CK, "`num_classes` 50,000 with 50,000 names, weights for 2",
         _ckpt(lambda k: k.update(num_classes=50_000, classes=[f"c{i}" for i in range(50_000)])), 2,
         ("50000 outputs",), G_BOUND),
    Case(CK, "checkpoint is a FIFO", lambda t, c: cli("evaluate", _fifo(t / "f.pt"), "--data", c["data"]), 2,
         ("{tmp}/f.pt", "FIFO"), G_BOUND),
    Case(CK, "checkpoint is a symlink to /dev/zero",
         lambda t, c: cli("predict", _symlink(t / "z.pt", "/dev/zero"), c["image"]), 2, ("{tmp}/z.pt",), G_BOUND),
    Case("packed", "meta.json nested 100,000 deep", _packed_edit(lambda m: H.deep_json()), 2,
         ("meta.json", "deep"), G_BOUND),
    Case("packed", "labels.npy a FIFO", _packed_file("labels.npy", _fifo), 2, ("labels.npy", "FIFO"), G_BOUND),
    Case("packed", "labels.npy header claims 10^12 labels",
         _packed_file("labels.npy", lambda p: H.npy_claiming(p, (10**12,))), 2, ("packed",), G_BOUND),
    Case("packed", "meta.json checksums name /dev/zero (`verify_packed`)",
         _verify(lambda m: m["checksums"].update({"/dev/zero": "0"})), 2, ("/dev/zero",), G_BOUND),
    Case("cli", "`--data /dev/null`", lambda t, c: _data(t, c, "/dev/null"), 2, ("/dev/null", "device"), G_BOUND),
    Case("cli", "`--data` a FIFO", lambda t, c: _data(t, c, _fifo(t / "pipe")), 2, ("{tmp}/pipe",), G_BOUND),
    # -- no silent wrong results
    Case("cifar", "pixels stored as float32 in [0, 1)", _cifar(data=np.full((3, 3072), 0.5, dtype=np.float32)), 2,
         ("data_batch_1", "floats"), G_SILENT),
    Case("cifar", "int64 pixel 300 (would wrap to 44)", _cifar(data=np.full((3, 3072), 300, dtype=np.int64)), 2,
         ("data_batch_1", "300"), G_SILENT),
    Case("cifar", "labels 0.0, 1.0, 2.0 as floats", _cifar(labels=[0.0, 1.0, 2.0]), 2, ("labels",), G_SILENT),
    Case("cifar", "labels True/False (bools are not class indices)", _cifar(labels=[True, False, True]), 2,
         ("labels",), G_SILENT),
    Case("images", "val split missing a training class (labels aligned by name)",
         lambda t, c: api(lambda: _val_labels(t, ("b",))), 0, (), G_SILENT),
    Case("images", "val split with a class the training split lacks",
         lambda t, c: api(lambda: _val_labels(t, ("a", "c"))), 2, ("{tmp}/tree/val", "'c'"), G_SILENT),
    Case("packed", "packed val with other classes than packed train", _packed_val_other_order, 2, ("'c'",), G_SILENT),
    Case("cli", "`evaluate` on data with the same class count but other names", _evaluate_other_names, 2,
         ("'z'",), G_SILENT),
    Case(CK, "NaN in the weights, checksum valid", _ckpt(H.nan_weight), 2, ("fc.weight", "NaN"), G_SILENT),
    Case(CK, "std 0 (normalising would divide by zero)", _ckpt(_set("std", [0.0, 0.2, 0.2])), 2, ("std",), G_SILENT),
    Case("images", "JPEG stored sideways with EXIF orientation 6 (turned upright)", _exif_case, 0, (), G_SILENT),
    # -- write failures
    Case("cli", "`train` under `ulimit -f` 300 kB (torch.save fails)", _train_fsize, 1,
         ("last.pt", "size limit"), G_WRITE),
    Case("cli", "`pack` under `ulimit -f` 20 kB", _pack_fsize, 1, ("{tmp}/out", "size limit"), G_WRITE),
    # -- nothing lost
    Case("cli", "`pack` into an OUT that holds another pack (other size)", _pack_twice_different, 2,
         ("{tmp}/out", "different pack"), G_LOST),
    Case("cli", "`pack` into an OUT another `pack` is writing", _pack_into_busy, 2, ("{tmp}/out", "in use"), G_LOST),
    Case("cli", "`pack` into a folder of other files", _pack_into_home, 2, ("{tmp}/out", "thesis.tex"), G_LOST),
    # -- one line for every other bad input
    Case("idx", "header cut after 2 of 3 dims", _idx(bytes([0, 0, 8, 3]) + struct.pack(">2i", 3, 6)), 2,
         ("truncated",)),
    Case("idx", "negative dimension", _idx(H.idx_header(-3, 6, 6)), 2, ("impossible",)),
    Case("idx", "0 dimensions", _idx(H.idx_header(ndim=0)), 2, ("dimensions",)),
    Case("idx", "200 dimensions", _idx(bytes([0, 0, 8, 200])), 2, ("dimensions",)),
    Case("idx", "corrupt gzip stream", _idx(gzip.compress(BOMB_HEADER + bytes(108))[:-12] + b"garbage!" * 2, gz=True),
         2, ("train-images-idx3-ubyte",)),
    Case("cifar", "`data` bytes not a whole number of images", _cifar(data=bytes(3000)), 2, ("whole number",)),
    Case("cifar", "`data` an object array", _cifar(data=np.array([[1], "x"], dtype=object)), 2, ("object",)),
    Case("cifar", "`label_names` a dict", _cifar(names={"a": 1}), 2, ("batches.meta",)),
    Case("cifar", "batches.meta a symlink to /dev/urandom",
         lambda t, c: api(lambda: _load(_relink(H.cifar(t / "cifar"), "batches.meta", "/dev/urandom"))), 2,
         ("batches.meta", "device")),
    Case("packed", "meta.json std 0", _packed_edit(lambda m: m.update(std=[0.0, 0.1, 0.1])), 2, ("std",)),
    Case("packed", "meta.json NaN mean", _packed_edit(lambda m: m.update(mean=[float("nan")] * 3)), 2, ("mean",)),
    Case("packed", "meta.json 1 mean for 3-channel images", _packed_edit(lambda m: m.update(mean=[0.5], std=[0.2])),
         2, ("mean",)),
    Case("packed", "meta.json mean `true`, no channels (found by hypothesis)",
         _packed_edit(lambda m: m.update(mean=True, channels=None)), 2, ("mean",)),
    Case("packed", "meta.json pca_eigvec [[1, 2], 'x']", _packed_edit(lambda m: m.update(pca_eigvec=[[1, 2], "x"])),
         2, ("pca_eigvec",)),
    Case("packed", "meta.json size -5", _packed_edit(lambda m: m.update(size=-5)), 2, ("size",)),
    Case("packed", "meta.json a folder", _packed_file("meta.json", lambda p: p.mkdir()), 2, ("meta.json",)),
    Case("packed", "images.npy holding pickled objects",
         _packed_file("images.npy", lambda p: np.save(p, np.array([None] * 3), allow_pickle=True)), 2,
         ("packed arrays",)),
    Case("packed", "images.npy with 2 channels",
         _packed_file("images.npy", lambda p: np.save(p, np.zeros((6, 8, 8, 2), np.uint8))), 2, ("channels",)),
    Case("imagenet", "meta.bin that is text", _imagenet_text_meta, 2, ("meta.bin",)),
    Case("images", "non-UTF-8 class and file names (pack; skip list)", _non_utf8_tree, 0, ("bad",)),
    Case("images", "1-bit PNG (converted)", bad_file_case("bw.png", lambda p: solid(RED).convert("1").save(p), 7, "b"),
         0, (), G_SILENT),
    Case("images", "32-bit float TIFF (clipped to 0-255)",
         bad_file_case("f.tif", lambda p: Image.fromarray(np.full((12, 12), 200.0, np.float32)).save(p), 7, "b"), 0, (),
         G_SILENT),
    Case(CK, "`classes` shorter than `num_classes`", _ckpt(_set("classes", ["a"])), 2, ("classes",)),
    Case(CK, "`input_size` 'big'", _ckpt(_set("input_size", "big")), 2, ("input_size",)),
    Case(CK, "`in_chans` '1'", _ckpt(_set("in_chans", "1")), 2, ("in_chans",)),
    Case(CK, "`mean` empty", _ckpt(_set("mean", [])), 2, ("mean",)),
    Case(CK, "`eval_resize` -4", _ckpt(_set("eval_resize", -4)), 2, ("eval_resize",)),
    Case(CK, "`classes` holding an int", _ckpt(_set("classes", ["a", 7])), 2, ("classes",)),
    Case(CK, "`config.model_options` a list", _ckpt(lambda k: k["config"].update(model_options=[1])), 2,
         ("model_options",)),
    Case(CK, "`model` key 7 (not a name)", _ckpt(lambda k: k["model"].update({7: torch.zeros(2)})), 2, ("model",)),
    Case(CK, "`format_version` True", _ckpt(_set("format_version", True)), 2, ("format_version",)),
    Case(CK, "checksum key deleted", _ckpt(lambda k: k.pop("checksum"), seal=False), 2,
         ("checksum",)),
    Case(CK, "checksum an int", _ckpt(_set("checksum", 7), seal=False), 2, ("checksum",)),
    Case(CK, "a sparse tensor in the weights",
         _ckpt(lambda k: k["model"].update(s=torch.eye(2).to_sparse()), seal=False), 2, ("sparse",)),
    Case(CK, "`in_chans` 2 (`predict`)", _ckpt(_set("in_chans", 2), cmd="predict"), 2, ("channel",)),
    Case(CK, "`rng` empty (`train --resume`)", _ckpt(_set("rng", []), cmd="resume"), 2, ("rng",)),
    Case(CK, "loader batch -1 (`train --resume`)", _ckpt(_set("loader", {"epoch": 0, "batch": -1}), cmd="resume"),
         2, ("loader",)),
    Case(CK, "`step` '3' (`train --resume`)", _ckpt(_set("step", "3"), cmd="resume"), 2, ("step",)),
    Case("cli", "`pack --workers -1`", lambda t, c: cli("pack", c["data"], t / "o", "--workers", "-1"), 2,
         ("--workers",)),
    Case("cli", "`pack --size 100000`", lambda t, c: cli("pack", c["data"], t / "o", "--size", "100000"), 2,
         ("--size",)),
    Case("cli", "`predict` on a PPM with maxval 0", _predict(H.ppm_maxval_zero, "m.ppm"), 2, ("{tmp}/m.ppm",)),
    Case("cli", "`predict` on a 100000 x 100000 PNG bomb", _predict(lambda p: H.png(p, 100_000, 100_000), "b.png"),
         2, ("{tmp}/b.png", "bomb"), G_BOUND),
    Case("cli", "`predict` on a FIFO", _predict(_fifo, "p.png"), 2, ("{tmp}/p.png", "regular"), G_BOUND),
    Case("cli", "`predict` on a folder", _predict(lambda p: p.mkdir(), "d.png"), 2, ("{tmp}/d.png",)),
    Case(CK, "`num_classes` an int of 5,000 digits", _ckpt(_set("num_classes", 10**5000)), 2, ("{tmp}/edited.pt",),
         G_BOUND),
    Case(CK, "infinity in the EMA weights only", _ckpt(_ema_inf), 2, ("ema", "infinite"), G_SILENT),
    Case(CK, "`mean` [nan, 0.5, 0.5]", _ckpt(_set("mean", [float("nan"), 0.5, 0.5])), 2, ("mean",), G_SILENT),
    Case(CK, "`input_size` 10^6", _ckpt(_set("input_size", 10**6)), 2, ("input_size",), G_BOUND),
    Case(CK, "optimizer state nested 5,000 deep (`train --resume`)", _ckpt(_deep_optimizer, cmd="resume"), 2,
         ("optimizer",), G_BOUND),
    Case("idx", "3 images but 2 labels", _idx_mismatch, 2, ("do not match",), G_SILENT),
    Case("cifar", "`data` a str", _cifar(data="x" * 3072), 2, ("pixels",)),
    Case("cifar", "a 2 GiB sparse data_batch_1 (4 KiB on disk)", _cifar_sparse, 2, ("data_batch_1", "bytes"),
         G_BOUND),
    Case("images", "PNG claiming 0 x 0 pixels", bad_file_case("empty.png", lambda p: H.png(p, 0, 0)), 0,
         ("{tmp}/tree/a/empty.png",)),
    Case("imagenet", "meta.bin holding a list", _imagenet_meta_list, 2, ("meta.bin",)),
    Case("imagenet", "meta.bin labels val with a wnid it does not list", _imagenet_unknown_wnid, 2,
         ("meta.bin", "n99999999")),
    Case("packed", "meta.json `skipped` a number", _packed_edit(lambda m: m.update(skipped=3)), 2, ("skipped",)),
    Case(CK, "`std` 1e-300 (finite, but every logit becomes inf)", _ckpt(_set("std", [1e-300] * 3)), 2, ("std",),
         G_SILENT),
    Case(CK, "`eval_resize` 8192 for a 32 px crop (an 80 GB eval batch)", _ckpt(_set("eval_resize", 8192)), 2,
         ("eval_resize",), G_BOUND),
    Case("packed", "meta.json mean 123.7 (0-255 scale, not [0, 1])", _packed_edit(lambda m: m.update(mean=[123.7] * 3)),
         2, ("mean",), G_SILENT),
    Case("idx", "IDX images with 2 channels", _idx(H.idx_header(3, 6, 6, 2, data=bytes(216))), 2, ("channels",)),
    Case(CK, "`config.model_options` {'num_classes': 5}",
         _ckpt(lambda k: k["config"].update(model_options={"num_classes": 5})), 2, ("model_options", "num_classes")),
    Case(CK, "`config.model_options` value nested 5,000 deep (`train --resume`)",
         _ckpt(lambda k: k["config"].update(model_options={"width": H.nested(5000)}), cmd="resume"), 2,
         ("model_options",), G_BOUND),
    Case("cli", "`pack` a tree into one of its own class folders",
         lambda t, c: cli("pack", image_tree(t / "tree"), t / "tree" / "a", "--size", "8", "--quiet"), 2,
         ("{tmp}/tree/a", "other files"), G_LOST),
    Case("cifar", "CIFAR-100 `train` file a FIFO", _cifar100_fifo, 2, ("train", "FIFO"), G_BOUND),
    Case(CK, "`scaler` {'scale': [1, 2]} (`train --resume`)", _ckpt(_set("scaler", {"scale": [1, 2]}), cmd="resume"),
         2, ("scaler",)),
    Case("packed", "JPEG pack meta.json naming a shard outside its folder",
         _jpeg_packed_edit(lambda m: m.update(shards=[{"name": "../../etc/passwd", "sha256": "0"}])), 2, ("shards",)),
    Case("packed", "meta.json payload 'webp' (one this version does not read)",
         _packed_edit(lambda m: m.update(payload="webp")), 2, ("payload 'webp'",)),
]
# fmt: on


# ---------------------------------------------------------------------------------------------- fixtures and tests


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> dict:
    """A tiny image data set and a resnet20 checkpoint trained on it for 2 steps."""
    root = tmp_path_factory.mktemp("ctx")
    old = os.environ.get("ILSVRC_CACHE")
    os.environ["ILSVRC_CACHE"] = str(root / "cache")
    data = split_tree(root / "data")
    run = root / "run"
    out = cli(
        "train", "resnet20", "--data", data, "--out", run, "--max-steps", "2", "--batch-size", "4", "--no-progress"
    )
    assert out.rc == 0, out
    yield {"data": data, "ckpt": run / "checkpoints" / "last.pt", "image": data / "val" / "a" / "0.png"}
    if old is None:
        os.environ.pop("ILSVRC_CACHE", None)
    else:
        os.environ["ILSVRC_CACHE"] = old


@pytest.fixture(scope="module")
def outcomes(ctx, tmp_path_factory) -> list[tuple[Case, Outcome, Path]]:
    """Every case run once (the parametrized checks and the doc share these runs)."""
    import signal

    def too_slow(signum, frame):
        raise TimeoutError("the case ran past 60 s (a hang)")

    results = []
    previous = signal.signal(signal.SIGALRM, too_slow)
    try:
        for i, case in enumerate(CASES):
            tmp = tmp_path_factory.mktemp(f"case{i:02d}")
            signal.alarm(60)  # a reader blocked on a FIFO becomes a failed case, not a hung suite
            try:
                results.append((case, case.run(tmp, ctx), tmp))
            except Exception as err:  # a hang, or a builder that broke: shown as a crash of that case
                results.append((case, Outcome(f"crash: {type(err).__name__}: {err}", ""), tmp))
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return results


def _shown(outcome: Outcome, tmp: Path) -> str:
    if isinstance(outcome.rc, str):  # a crash: show it, so a stale doc cannot hide it
        return _clean(outcome.rc, tmp)
    lines = [line for line in outcome.stderr.strip().splitlines() if line.strip()]
    if outcome.rc == 1:  # a failed run: its progress lines (with timings) before the failure are not the point
        lines = lines[-1:]
    text = " / ".join(lines)
    if outcome.note:
        text = f"{text} -> {outcome.note}" if text else outcome.note
    return _clean(text, tmp)


def _clean(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp), "<tmp>").replace(str(tmp.parent), "<base>")
    text = text.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")  # non-UTF-8 file names
    text = re.sub(r"\bpid \d+", "pid <pid>", text)
    return re.sub(r"-[0-9a-f]{16}\b", "-<hash>", text).replace("|", "\\|")


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.what[:40] for c in CASES])
def test_bad_input_gets_a_clear_answer(outcomes, index):
    case, outcome, tmp = outcomes[index]
    assert outcome.rc == case.rc, f"{case.what}: exit {outcome.rc}, stderr {outcome.stderr!r}"
    assert "Traceback" not in outcome.stderr
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    if case.rc == 1:  # a run that failed: its progress lines may come first, the failure is the last line
        assert lines and lines[-1].startswith("ilsvrc") and "error" in lines[-1], lines
    elif case.rc:
        assert len(lines) == 1 or all("skipped" in line for line in lines[:-1]), lines
    for needle in case.needles:
        assert needle.format(tmp=tmp) in outcome.stderr, f"{case.what}: {needle!r} not in {outcome.stderr!r}"
    assert not list(tmp.rglob(MARKER)), "a pickled command ran"


def render(outcomes) -> str:
    sections = []
    for group in GROUPS:
        rows = [
            f"| {i} | {case.area} | {case.what} | {outcome.rc if isinstance(outcome.rc, int) else 'crash'} | "
            f"{_shown(outcome, tmp)} |"
            for i, (case, outcome, tmp) in enumerate(outcomes, 1)
            if case.group == group
        ]
        sections += [
            f"## {group} ({len(rows)})",
            "",
            "| # | area | bad input | exit | what the user sees |",
            "|---|------|-----------|------|--------------------|",
            *rows,
            "",
        ]
    return "\n".join(
        [
            "# Reliability: bad inputs and what the user sees",
            "",
            "Generated by `tests/test_reliability_table.py` from the cases it runs; do not edit by hand.",
            "Regenerate with `ILSVRC_REGEN_DOCS=1 python -m pytest tests/test_reliability_table.py`.",
            "",
            f"**{len(outcomes)} bad inputs tried**, grouped below by the class of failure they probe. Exit 2 is a user",
            "error (one line on stderr, no traceback unless `--debug`), exit 1 a run that failed (a full disk); exit 0",
            "means the input was converted, or skipped and reported by path while the rest loaded. `<tmp>` stands for",
            "the test's temporary folder. Code in a pickle never runs: each case also checks that the marker file a",
            f"malicious pickle would create (`{MARKER}`) does not exist.",
            "",
            "Also tested outside this table: the same hostile files under a 2 GiB address-space limit and a timeout",
            "(`tests/test_reliability_limits.py`), a real full disk (a 1 MiB tmpfs, when run as root) and two",
            "processes writing into one folder (`tests/test_reliability_disk.py`).",
            "",
            *sections,
        ]
    )


def test_docs_reliability_table_is_current(outcomes):
    text = render(outcomes)
    if os.environ.get("ILSVRC_REGEN_DOCS"):
        DOC.write_text(text)
    assert DOC.is_file() and DOC.read_text() == text, "docs/reliability.md is stale: rerun with ILSVRC_REGEN_DOCS=1"


def test_debug_flag_shows_the_traceback_instead_of_one_line(ctx, tmp_path):
    with pytest.raises(UserError, match=r"nope\.pt"):
        cli_main(["--debug", "evaluate", str(tmp_path / "nope.pt"), "--data", str(ctx["data"])])
