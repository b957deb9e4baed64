"""Every bad input we try, what the user sees, and the table in docs/reliability.md generated from the same runs.

Each case builds one bad input in a temporary folder and runs it the way a user would (the `ilsvrc` command
in-process, or the data loader). The checks: a bad input exits 2 (or is skipped and reported / converted) with
one line that names the file or argument, never a traceback, never a wrong label. The doc is compared with what
the cases produce; regenerate it with `ILSVRC_REGEN_DOCS=1 python -m pytest tests/test_reliability_table.py`.
"""

from __future__ import annotations

import contextlib
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


@dataclass
class Case:
    area: str
    what: str
    run: Callable[[Path, dict], Outcome]
    rc: int = 2  # expected exit status: 2 user error, 1 run error, 0 accepted (converted or skipped)
    needles: tuple[str, ...] = ()  # must appear in the message ({tmp} = the case's folder)


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


def bad_file_case(name: str, write: Callable[[Path], None], good: int = 6) -> Callable[[Path, dict], Outcome]:
    def run(tmp: Path, ctx: dict) -> Outcome:
        root = image_tree(tmp / "tree")
        write(root / "a" / name)
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
    ),
    Case(
        CK,
        "pickle that runs a shell command, `ilsvrc predict`",
        lambda t, c: cli("predict", evil_checkpoint(t / "evil.pt"), c["image"]),
        2,
        ("{tmp}/evil.pt", "refusing"),
    ),
    Case(
        CK,
        "pickle that runs a shell command, `ilsvrc train --resume`",
        _evil_resume,
        2,
        ("{tmp}/run/checkpoints/last.pt", "refusing"),
    ),
    Case(
        CK,
        "pickle that runs a shell command, `ilsvrc export`",
        lambda t, c: cli("export", evil_checkpoint(t / "evil.pt"), "--to", "torchscript", "--out", t / "m.pt"),
        2,
        ("{tmp}/evil.pt", "refusing"),
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
        ("fc.weight", "[2, 64]", "[5, 64]"),
    ),
    Case(
        CK,
        "weights of resnet20 under the name resnet32",
        lambda t, c: cli("predict", tampered(c, t, _other_model), c["image"]),
        2,
        ("missing keys", "layer1.3"),
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
    ),
    Case(
        "images",
        "16-bit greyscale PNG (top 8 bits kept, not clipped to white)",
        _png16_case,
        0,
    ),
    Case(
        "images",
        "palette PNG (converted to RGB)",
        bad_file_case("pal.png", lambda p: solid(RED).convert("P").save(p), good=7),
        0,
    ),
    Case(
        "images", "RGBA PNG with alpha (alpha dropped)", bad_file_case("rgba.png", lambda p: _with_alpha(p), good=7), 0
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
    ),
    Case(
        "cifar",
        "negative label",
        lambda t, c: api(lambda: _load(cifar_dir(t / "cifar", [0, -1, 2]))),
        2,
        ("data_batch_1", "label -1"),
    ),
    Case(
        "cifar",
        "batch that pickles os.system",
        lambda t, c: api(lambda: _load(_evil_cifar(t))),
        2,
        ("data_batch_1", "refusing"),
    ),
    Case(
        "cifar",
        "batch of 3 images with 2 labels",
        lambda t, c: api(lambda: _load(_short_labels(t))),
        2,
        ("data_batch_1",),
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
    ),
    Case(
        "packed",
        "meta.json without classes",
        lambda t, c: api(lambda: _load(_packed(t, "meta"))),
        2,
        ("meta.json", "classes"),
    ),
]


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
    results = []
    for i, case in enumerate(CASES):
        tmp = tmp_path_factory.mktemp(f"case{i:02d}")
        results.append((case, case.run(tmp, ctx), tmp))
    return results


def _shown(outcome: Outcome, tmp: Path) -> str:
    if isinstance(outcome.rc, str):  # a crash: show it, so a stale doc cannot hide it
        return _clean(outcome.rc, tmp)
    text = " / ".join(line for line in outcome.stderr.strip().splitlines() if line.strip())
    if outcome.note:
        text = f"{text} -> {outcome.note}" if text else outcome.note
    return _clean(text, tmp)


def _clean(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp), "<tmp>").replace(str(tmp.parent), "<base>")
    return re.sub(r"-[0-9a-f]{16}\b", "-<hash>", text).replace("|", "\\|")


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.what[:40] for c in CASES])
def test_bad_input_gets_a_clear_answer(outcomes, index):
    case, outcome, tmp = outcomes[index]
    assert outcome.rc == case.rc, f"{case.what}: exit {outcome.rc}, stderr {outcome.stderr!r}"
    assert "Traceback" not in outcome.stderr
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    if case.rc:
        assert len(lines) == 1 or all("skipped" in line for line in lines[:-1]), lines
    for needle in case.needles:
        assert needle.format(tmp=tmp) in outcome.stderr, f"{case.what}: {needle!r} not in {outcome.stderr!r}"
    assert not list(tmp.rglob(MARKER)), "a pickled command ran"


def render(outcomes) -> str:
    rows = [
        f"| {i} | {case.area} | {case.what} | {outcome.rc if isinstance(outcome.rc, int) else 'crash'} | "
        f"{_shown(outcome, tmp)} |"
        for i, (case, outcome, tmp) in enumerate(outcomes, 1)
    ]
    return "\n".join(
        [
            "# Reliability: bad inputs and what the user sees",
            "",
            "Generated by `tests/test_reliability_table.py` from the cases it runs; do not edit by hand.",
            "Regenerate with `ILSVRC_REGEN_DOCS=1 python -m pytest tests/test_reliability_table.py`.",
            "",
            f"**{len(outcomes)} bad inputs tried.** Exit 2 is a user error (one line on stderr, no traceback unless",
            "`--debug`); exit 0 means the input was converted, or skipped and reported by path while the rest loaded.",
            "`<tmp>` stands for the test's temporary folder. Code in a pickle never runs: each case also checks that",
            f"the marker file a malicious pickle would create (`{MARKER}`) does not exist.",
            "",
            "| # | area | bad input | exit | what the user sees |",
            "|---|------|-----------|------|--------------------|",
            *rows,
            "",
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
