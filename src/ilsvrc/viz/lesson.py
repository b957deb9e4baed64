"""One offline HTML lesson per model or checkpoint, and an index of the zoo.

A page is plain HTML with inline CSS and no script; its pictures are PNG files in `img/` beside it,
so a folder of lessons opens from disk, without a network. `lessons.json` in the folder records the
pages written so far, so the index links every page there.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ilsvrc.errors import UserError
from ilsvrc.safety import write_error

CSS = """
body{font:15px/1.45 system-ui,sans-serif;max-width:1060px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.1em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12.5px;margin:.5em 0}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
img{max-width:100%;border:1px solid #eee}
.card td{text-align:left}.note{color:#555;font-size:13px}
.warn{background:#fff4e0;border-left:4px solid #e69500;padding:.4em .8em}
details{margin:.5em 0}summary{cursor:pointer;font-weight:600}
.pair{display:flex;gap:1em;flex-wrap:wrap}.pair>div{flex:1;min-width:300px}
"""


@dataclass
class Page:
    file: str  # "resnet50.html"
    title: str
    model: str
    trained: bool


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _num(x: Any) -> str:
    return f"{x:,}" if isinstance(x, int) else _esc(x)


def table(rows: list[dict], cols: list[tuple[str, str]], left: tuple[str, ...] = ()) -> str:
    """An HTML table of dict rows; `cols` are (key, heading); keys in `left` are left-aligned."""
    head = "".join(f"<th class='{'l' if k in left else ''}'>{_esc(h)}</th>" for k, h in cols)
    body = "".join(
        "<tr>" + "".join(f"<td class='{'l' if k in left else ''}'>{_num(r.get(k, ''))}</td>" for k, _ in cols) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


FOOTER = (
    "Written by <code>ilsvrc lesson</code>. The card's facts (paper, result) come from the model registry; every "
    "shape, count and picture is computed from the model itself (<code>ilsvrc summary</code>, "
    "<code>ilsvrc explain</code>, <code>ilsvrc draw</code>, <code>ilsvrc show</code>)."
)


def page_html(title: str, sections: list[str], footer: str = FOOTER) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>{_esc(title)}</title>"
        f"<style>{CSS}</style></head><body>{''.join(sections)}<p class='note'>{footer}</p></body></html>"
    )


def card_section(name: str) -> str:
    from ilsvrc.models import get_card

    card = get_card(name)
    rows = [
        ("paper", card.paper if str(card.year) in card.paper else f"{card.paper} ({card.year})"),
        ("ILSVRC result", card.ilsvrc or "did not compete"),
        ("this variant", card.variant or "as in the paper"),
        ("same layout in torchvision", card.torchvision or "none"),
        ("input", f"{card.input_size}x{card.input_size}, {card.num_classes} classes"),
    ]
    if card.params:
        rows.append(("reference parameters", f"{card.params:,}" + ("" if card.params_exact else " (rounded)")))
    body = "".join(f"<tr><th class='l'>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<h2>The card</h2><table class='card'>{body}</table>"


def layers_section(summary, model, plain: bool) -> str:
    """The full per-layer table (folded), and the lecture's CONV/POOL/FC table for plain stacks (VGG)."""
    from ilsvrc.analysis.report import kernel_sizes, layer_rows, lecture_rows, lecture_totals, totals_lines

    rows = layer_rows(summary)
    cols = [("name", "layer"), ("type", "type"), ("output_shape", "output"), ("activations", "activations")]
    cols += [("params", "params"), ("macs", "MACs"), ("note", "note")]
    out = "<h2>Layer by layer</h2><ul>" + "".join(f"<li>{_esc(t)}</li>" for t in totals_lines(summary)) + "</ul>"
    if plain:
        lrows = lecture_rows(summary, kernel_sizes(model), no_bias=True)
        lcols = [("layer", "layer"), ("shape", "shape"), ("memory_formula", ""), ("memory", "memory")]
        lcols += [("weights_formula", ""), ("weights", "weights")]
        notes = "".join(f"<p class='note'>{_esc(t)}</p>" for t in lecture_totals(lrows, summary, no_bias=True))
        out += "<h3>The lecture's table (CONV, POOL and FC layers, weights without biases)</h3>"
        out += table(lrows, lcols, left=("layer", "shape", "memory_formula", "weights_formula")) + notes
    out += f"<details><summary>Every layer ({len(rows)} rows)</summary>"
    out += table(rows, cols, left=("name", "type", "output_shape", "note")) + "</details>"
    return out


def receptive_section(model, size: int) -> str:
    from ilsvrc.analysis.explain import receptive_fields

    rows = receptive_fields(model, size)
    if not rows:
        return ""
    last = next((r for r in reversed(rows) if r["receptive_field"] != "whole input"), rows[-1])
    cols = [("name", "layer"), ("type", "type"), ("kernel", "k"), ("stride", "s"), ("output_size", "output")]
    cols += [("receptive_field", "receptive field"), ("jump", "jump")]
    return (
        "<h2>Receptive fields</h2>"
        f"<p>The last spatial layer ({_esc(last['name'])}) sees {_esc(last['receptive_field'])} x "
        f"{_esc(last['receptive_field'])} input pixels; neighbouring units are {_esc(last['jump'])} pixels apart. "
        "r' = r + (k-1)·j, j' = j·stride; where paths join the largest field is kept.</p>"
        f"<details><summary>Per layer ({len(rows)} rows)</summary>"
        + table(rows, cols, left=("name", "type", "output_size"))
        + "</details>"
    )


def cost_section(arch) -> str:
    """The lecture's cost arguments that apply to this net: Inception's 1x1 bottlenecks, stacks of 3x3 filters."""
    from ilsvrc.analysis.explain import filter_stacks, inception_report
    from ilsvrc.viz.structure import Box, Stage

    out = []
    if any(isinstance(u, Stage) and len(u.first.branches) > 1 for u in arch.units):
        rep = inception_report(28, 28, 256, [128, 192, 96], [128, 64, 192, 64, 96, 64])
        rows = [{"module": k, **rep[k]["totals"]} for k in ("naive", "bottleneck")]
        out.append(
            "<h3>Why the Inception module has 1x1 reductions</h3><p>The lecture's module on a 28x28x256 input:</p>"
            + table(
                rows,
                [("module", "module"), ("macs", "MACs"), ("params", "params"), ("output_depth", "depth")],
                left=("module",),
            )
            + "".join(f"<p class='note'>{_esc(n)}</p>" for n in rep["notes"])
        )
    convs = [u for u in arch.units if isinstance(u, Box) and u.kind == "conv"]
    run = max((len(g) for g in _runs(arch.units)), default=0)
    if run >= 2:
        channels = max(u.channels for u in convs)
        rows = filter_stacks(channels=channels, size=14)
        cols = [("filters", "filters"), ("weights", "weights"), ("macs", "MACs on 14x14"), ("receptive_field", "RF")]
        cols.append(("nonlinearities", "non-linearities"))
        out.append(
            f"<h3>Why stacks of 3x3 filters</h3><p>This net stacks up to {run} 3x3 convolutions. With C = {channels} "
            "channels in and out:</p>"
            + table(rows, cols, left=("filters",))
            + "<p class='note'>Same receptive field, fewer weights and more non-linearities (VGG, Sec. 2.3).</p>"
        )
    return "<h2>The cost arguments</h2>" + "".join(out) if out else ""


def _runs(units):
    """Runs of consecutive 3x3 convolutions in the unit list (a pool or any other layer ends a run)."""
    group: list = []
    for u in units:
        if getattr(u, "kind", "") == "conv" and u.label.startswith("3x3 conv"):
            group.append(u)
            continue
        if group:
            yield group
        group = []
    if group:
        yield group


def _img(src: str, alt: str) -> str:
    return f"<img src='{_esc(src)}' alt='{_esc(alt)}' loading='lazy'>"


def model_sections(name: str, out_dir: Path, stem: str, dpi: int) -> tuple[list[str], Any]:
    """Card, diagram, tables, receptive fields and costs of a registered model; also returns its architecture."""
    from ilsvrc.models import get_card
    from ilsvrc.viz.diagram import draw
    from ilsvrc.viz.inspect import summary_of
    from ilsvrc.viz.structure import Stage, architecture

    card = get_card(name)
    summary, model = summary_of(name)
    arch = architecture(summary, model)
    diagram = draw(arch, out_dir / "img" / f"{stem}-diagram.png", dpi=dpi)
    plain = not any(isinstance(u, Stage) for u in arch.units)
    return [
        card_section(name),
        "<h2>The architecture</h2>",
        f"<p class='note'>Drawn by <code>ilsvrc draw {_esc(name)}</code> from the summary rows.</p>",
        _img(diagram.relative_to(out_dir).as_posix(), f"{name} diagram"),
        layers_section(summary, model, plain),
        receptive_section(model, card.input_size),
        cost_section(arch),
    ], arch


def run_dir(source: str) -> Path:
    """The run folder of a checkpoint: the folder given, or the one above checkpoints/."""
    p = Path(source)
    if p.is_dir():
        return p
    return p.parent.parent if p.parent.name == "checkpoints" else p.parent


def training_section(subject, out_dir: Path, stem: str) -> str:
    """The run's curves and its final validation numbers, as recorded by `ilsvrc train`."""
    import shutil

    run = run_dir(subject.source)
    parts = ["<h2>How it was trained</h2>"]
    info_file = run / "summary.json"
    if info_file.is_file():
        info = json.loads(info_file.read_text())
        err = info.get("val_top1_error")
        if err is not None:
            parts.append(
                f"<p class='warn'>Validation: <b>{100 * (1 - err):.1f}% top-1 accuracy</b> "
                f"({100 * err:.1f}% error; top-5 error {100 * info.get('val_top5_error', float('nan')):.1f}%) on "
                f"{info.get('val_images', '?')} images after {info.get('steps')} steps "
                f"({info.get('epochs', 0):.2f} epochs, recipe {_esc(info.get('recipe'))}, {_esc(info.get('device'))}, "
                f"{info.get('wall_s', 0) / 60:.1f} min). The pictures below are of this checkpoint; the paper's "
                "result is on the card above.</p>"
            )
    if (run / "curves.png").is_file():
        dest = out_dir / "img" / f"{stem}-curves.png"
        shutil.copyfile(run / "curves.png", dest)
        parts.append(_img(dest.relative_to(out_dir).as_posix(), "training curves"))
    return "".join(parts) if len(parts) > 1 else ""


def validation_images(subject, data: str | None, count: int):
    """[(uint8 (H, W, C) image, label)]: the first `count` validation images of distinct classes, or []."""
    from ilsvrc.data import load_dataset

    source = data or (subject.checkpoint or {}).get("config", {}).get("data")
    if not source:
        return []
    ds = load_dataset(source, "val")
    picked, seen = [], set()
    for i in range(len(ds)):
        label = int(ds.labels[i])
        if label not in seen:
            seen.add(label)
            picked.append((torch.as_tensor(ds.images[i]), label))
        if len(picked) == count:
            break
    return picked


@torch.no_grad()
def _top(subject, image, k: int = 3) -> str:
    from ilsvrc.viz.inspect import to_input

    probs = subject.model(to_input(subject, image)).float().softmax(-1)[0]
    values, idx = probs.topk(min(k, probs.numel()))
    return ", ".join(f"{subject.classes[i]} {100 * v:.1f}%" for v, i in zip(values.tolist(), idx.tolist(), strict=True))


def inside_section(subject, out_dir: Path, stem: str, data: str | None, count: int) -> str:
    """Filters, feature maps, and Grad-CAM with occlusion on a few validation images with their predictions."""
    from ilsvrc.viz.cam import show_cam
    from ilsvrc.viz.pictures import show_features, show_filters

    img = out_dir / "img"
    parts = ["<h2>What it learned</h2><h3>First-layer filters</h3>"]
    parts.append(_img(show_filters(subject, img / f"{stem}-filters.png").relative_to(out_dir).as_posix(), "filters"))
    images = validation_images(subject, data, count)
    if not images:
        return "".join(parts) + "<p class='note'>No validation data found (pass --data) for the maps below.</p>"
    feats = show_features(subject, images[0][0], img / f"{stem}-features.png")
    parts += ["<h3>Feature maps, stage by stage</h3>", _img(feats.relative_to(out_dir).as_posix(), "feature maps")]
    parts.append("<h3>Where it looks: Grad-CAM and occlusion</h3><table>")
    parts.append("<tr><th class='l'>true class</th><th class='l'>predicted (top 3)</th></tr>")
    pictures = []
    for k, (image, label) in enumerate(images):
        parts.append(
            f"<tr><td class='l'>{_esc(subject.classes[label])}</td><td class='l'>{_esc(_top(subject, image))}</td></tr>"
        )
        cam = show_cam(subject, image, img / f"{stem}-cam{k}.png", label=label)
        pictures.append(_img(cam.relative_to(out_dir).as_posix(), f"Grad-CAM {k}"))
    return "".join(parts) + "</table>" + "".join(pictures)


def _stem(source: str, subject) -> str:
    if not subject.trained:
        return subject.name
    return f"{subject.name}-{run_dir(source).name}".replace(" ", "_")


def write_lesson(source: str, out_dir: str | Path, *, data: str | None = None, images: int = 3, dpi: int = 110) -> Path:
    """Write DIR/NAME.html (+ DIR/img/...) for a model name or a checkpoint, record it, rewrite the index."""
    from ilsvrc.viz.inspect import load_subject

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file; give a folder for the lessons")
    try:
        (out_dir / "img").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_error(out_dir, err) from None
    subject = load_subject(source)
    stem = _stem(source, subject)
    sections, _ = model_sections(subject.name, out_dir, stem, dpi)
    head = f"<p><a href='index.html'>all lessons</a></p><h1>{_esc(subject.name)}</h1>"
    head += f"<p class='note'>{_esc(subject.note)}</p>"
    if subject.trained:
        sections = [
            sections[0],
            training_section(subject, out_dir, stem),
            inside_section(subject, out_dir, stem, data, images),
            *sections[1:],
        ]
    else:
        sections.append(
            "<p class='note'>No trained weights here: run <code>ilsvrc lesson CKPT</code> on a checkpoint of "
            f"<code>ilsvrc train {_esc(subject.name)}</code> for its filters, feature maps and Grad-CAM.</p>"
        )
    path = out_dir / f"{stem}.html"
    _write(path, page_html(f"{subject.name}: lesson", [head, *sections]))
    _record(
        out_dir,
        Page(
            path.name,
            subject.name + (f" ({run_dir(source).name})" if subject.trained else ""),
            subject.name,
            subject.trained,
        ),
    )
    write_index(out_dir)
    return path


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise write_error(path, err) from None


def _manifest(out_dir: Path) -> dict[str, dict]:
    f = out_dir / "lessons.json"
    if not f.is_file():
        return {}
    try:
        pages = json.loads(f.read_text())
    except json.JSONDecodeError:
        raise UserError(f"{f} is not valid JSON; delete it and write the lessons again") from None
    return {k: v for k, v in pages.items() if (out_dir / k).is_file()}


def _record(out_dir: Path, page: Page) -> None:
    pages = _manifest(out_dir)
    pages[page.file] = {"title": page.title, "model": page.model, "trained": page.trained}
    _write(out_dir / "lessons.json", json.dumps(pages, indent=2, sort_keys=True) + "\n")


def write_index(out_dir: str | Path) -> Path:
    """DIR/index.html: the whole zoo (year, params, GMACs, result) linking the lessons written in DIR."""
    from ilsvrc.models import get_card, list_models

    out_dir = Path(out_dir)
    pages = _manifest(out_dir)
    by_model: dict[str, list[tuple[str, dict]]] = {}
    for file, info in sorted(pages.items()):
        by_model.setdefault(info["model"], []).append((file, info))
    rows = []
    for name in list_models():
        card = get_card(name)
        links = " ".join(
            f"<a href='{_esc(f)}'>{'trained' if i['trained'] else 'lesson'}</a>" for f, i in by_model.get(name, [])
        )
        rows.append(
            f"<tr><td class='l'>{_esc(name)}</td><td>{card.year}</td><td>{_num(card.params or '')}</td>"
            f"<td class='l'>{links}</td><td class='l'>{_esc(card.ilsvrc or 'did not compete')}</td></tr>"
        )
    body = (
        "<h1>The ILSVRC lineage, one lesson per net</h1><p>Each page: the paper's card, the architecture drawn "
        "from the model, its layer table, receptive fields and cost arguments; pages of trained checkpoints add "
        "curves, filters, feature maps, Grad-CAM and occlusion maps.</p>"
        "<table><tr><th class='l'>model</th><th>year</th><th>reference params</th><th class='l'>pages</th>"
        f"<th class='l'>result</th></tr>{''.join(rows)}</table>"
    )
    path = out_dir / "index.html"
    footer = "Written by <code>ilsvrc lesson</code>; years, parameter counts and results are the model cards' "
    footer += "reference figures (<code>ilsvrc models</code>); blank where a card has none."
    _write(path, page_html("ilsvrc lessons", [body], footer))
    return path
