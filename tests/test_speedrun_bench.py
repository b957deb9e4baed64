"""The cifar-fast recipe's pieces (whitening net, linear schedule, mirror TTA) and the bench suites' plumbing.

The airbench pieces (lookahead, alternating flips, translate TTA, ...) are tested in test_cifar_fast_pieces.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ilsvrc.bench.models import Case, run_models
from ilsvrc.data import EvalTransform, load_dataset
from ilsvrc.models import create_model
from ilsvrc.train import TrainConfig, train
from ilsvrc.train.optim import Schedule

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_whitening_layer_decorrelates_real_image_patches():
    data = load_dataset(None, "train")  # the bundled Fashion-MNIST: real pixels
    x = EvalTransform(28, data.mean, data.std)(data.images[:500])
    net = create_model("speedrun_cifar", in_chans=1).eval()
    net.init_from_data(x)
    with torch.no_grad():
        y = net.whiten(x) - net.whiten.bias.view(1, -1, 1, 1)
    half = y[:, :4].permute(0, 2, 3, 1).reshape(-1, 4)  # the eigenvector filters; the rest are their negatives
    cov = torch.cov(half.T)
    assert torch.allclose(cov, torch.eye(4), atol=0.05), cov
    assert torch.allclose(y[:, 4:], -y[:, :4], atol=1e-5)
    assert not net.whiten.weight.requires_grad  # frozen: the optimiser never sees it


def test_speedrun_net_starts_near_identity_and_counts_its_costs():
    from ilsvrc.models.costs import model_costs

    net = create_model("speedrun_cifar", widths=(16, 32, 32))
    conv = net.groups[0][0]
    assert torch.equal(conv.weight[:16, :, 1, 1], torch.eye(16, 24))  # Dirac filters for the first 16 outputs
    assert create_model("speedrun_cifar")(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert model_costs("speedrun_cifar", 32)["macs"] == pytest.approx(118.1e6, rel=0.01)


def test_linear_schedule_warms_up_then_decays_to_zero():
    # cifar-fast's shape before issue 17 (it now uses the triangle): 2 warm-up epochs of 10, then down to zero
    cfg = TrainConfig(recipe="cifar-fast", schedule="linear", warmup_epochs=2, lr=0.75, lr_batch=0).resolve()
    s = Schedule.from_config(cfg, total_steps=100, steps_per_epoch=10)
    lrs = [s.lr_at(t) for t in range(101)]
    assert lrs[19] == pytest.approx(0.75) and max(lrs) == pytest.approx(0.75)
    assert lrs[0] < lrs[10] < lrs[19] and lrs[20] > lrs[60] > lrs[99] > 0
    assert lrs[100] == 0.0


def test_bias_lr_scale_multiplies_the_lr_of_1d_parameters_only():
    from ilsvrc.train.optim import build_optimizer, set_lr

    net = create_model("speedrun_cifar", widths=(8, 16, 16))
    cfg = TrainConfig(recipe="cifar-fast", whiten_bias_epochs=0).resolve()  # no early-only group
    opt = build_optimizer(net, cfg, torch.device("cpu"))
    set_lr(opt, 0.5)
    weights, flat = opt.param_groups
    assert weights["lr"] == 0.5 and flat["lr"] == 0.5 * 64
    assert all(p.ndim > 1 for p in weights["params"]) and all(p.ndim == 1 for p in flat["params"])
    assert flat["weight_decay"] * flat["lr"] == pytest.approx(weights["weight_decay"] * weights["lr"])


def test_mirror_tta_gives_the_image_and_its_flip():
    images = torch.randint(0, 255, (3, 32, 32, 3), dtype=torch.uint8)
    views = EvalTransform(32, (0.5,) * 3, (0.2,) * 3, crops=2)(images)
    assert views.shape == (3, 2, 3, 32, 32)
    assert torch.equal(views[:, 1], views[:, 0].flip(-1))


def test_engine_initialises_from_data_and_records_step_times(tmp_path):
    data = load_dataset(None, "train").subset(torch.arange(256))
    cfg = TrainConfig(
        model="speedrun_cifar",
        recipe="cifar-fast",
        model_options={"widths": [8, 16, 16]},
        batch_size=32,
        max_steps=6,
        out=str(tmp_path / "run"),
        progress=False,
        tensorboard=False,
    )
    result = train(cfg, data, data.subset(torch.arange(64)))
    assert len(result.step_times) == 6 and result.step_times == sorted(result.step_times)
    assert result.summary["val_top1_error"] is not None
    assert result.model.whiten.weight.abs().sum() > 0  # set from the data (the constructor leaves it random)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 6


def test_models_suite_times_both_loops_on_real_cifar(shared_data):
    cifar = shared_data / "cifar10" / "cifar-10-batches-py"
    case = Case("resnet20", 32, 16, "cifar", steps=2, warmup=1)
    res = run_models([case], cifar=str(cifar), repeats=1, log=lambda *a: None)
    (row,) = res["rows"]
    assert row["ilsvrc_images_per_s"] > 0 and row["plain_images_per_s"] > 0
    assert row["speedup"] == pytest.approx(row["ilsvrc_images_per_s"] / row["plain_images_per_s"])
    assert res["machine"]["cores"] >= 1 and "commit" in res["machine"]


def test_models_suite_without_data_is_a_one_line_error(capsys):
    from ilsvrc.cli import main  # in-process: a second interpreter importing torch costs 5-10 s on a busy machine

    assert main(["bench", "--suite", "models"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "--cifar" in err


def test_time_to_accuracy_reports_every_target_over_seeds_and_ablations(shared_data, tmp_path):
    bench = _script("time_to_accuracy")
    cifar = shared_data / "cifar10" / "cifar-10-batches-py"
    argv = ["--cifar", str(cifar), "--widths", "8", "16", "16", "--train-subset", "128", "--val-subset", "64"]
    argv += ["--batch-size", "64", "--epochs", "2", "--seeds", "2", "--targets", "0.05", "0.99", "--threads", "1"]
    argv += ["--ablate", "lookahead", "--ablate", "translate-tta", "--at-seconds", "1000"]
    argv += ["--out", str(tmp_path / "runs"), "--json", str(tmp_path / "tta.json")]
    assert bench.main(argv) == 0
    res = json.loads((tmp_path / "tta.json").read_text())
    assert res["seeds"] == [0, 1] and len(res["runs"]) == 2 and (tmp_path / "tta.png").is_file()
    assert res["runs"][0]["config"]["lookahead_every"] == 0 and res["tta"] == "mirror"  # the pieces were removed
    easy, hard = res["summary"]["targets"]["0.05"], res["summary"]["targets"]["0.99"]
    assert easy["reached"] == 2 and hard["reached"] == 0 and hard["time_s"]["mean"] is None
    first = res["runs"][0]["reached"]["0.05"]
    assert first == res["runs"][0]["curve"][0] and first["wall_s"] > res["prep_s"] > 0  # the first eval above it
    assert first["train_flops"] == 6 * res["runs"][0]["macs_per_image"] * 2 * 64  # 2 steps of 64 images
    assert res["summary"]["accuracy_at_s"]["1000.0"]["n"] == 2


def test_time_to_accuracy_counts_low_res_steps_at_their_own_cost():
    from ilsvrc.models.costs import model_costs
    from ilsvrc.train import TrainConfig

    bench = _script("time_to_accuracy")
    widths = {"widths": [8, 16, 16]}
    cfg = TrainConfig(model="speedrun_cifar", recipe="cifar-muon", low_res=24, low_res_epochs=1.5, model_options=widths)
    low, low_steps = bench._low_res_costs(cfg.resolve(), steps_per_epoch=4)
    full = model_costs("speedrun_cifar", 32, num_classes=10, **widths)["macs"]
    assert low == model_costs("speedrun_cifar", 24, num_classes=10, **widths)["macs"] and 0.4 < low / full < 0.6
    assert low_steps == 6  # steps 0-5 train at 24 px (the engine's rule: step < 1.5 x 4)
    assert bench._low_res_costs(TrainConfig(model="speedrun_cifar").resolve(), 4) == (0, 0)
    # 8 steps of 64 images: 6 at the low side, 2 at the full one; before the switch, low-res steps only
    assert bench.train_flops(8, 64, full, low, low_steps) == 6 * 64 * (6 * low + 2 * full)
    assert bench.train_flops(3, 64, full, low, low_steps) == 6 * 64 * 3 * low
    assert bench.train_flops(8, 64, full) == 6 * 64 * 8 * full


def test_holdout_trains_without_the_held_out_images_and_evaluates_on_them(shared_data, tmp_path, capsys):
    from ilsvrc.data.dataset import ArrayDataset

    bench = _script("time_to_accuracy")
    # each image's pixels carry its index, so the split can be checked image by image
    index = torch.arange(300)
    images = torch.stack([index % 256, index // 256, torch.zeros_like(index)], 1).to(torch.uint8)
    data = ArrayDataset(
        images[:, None, None, :].expand(-1, 2, 2, -1).contiguous(),
        index % 10,
        list("abcdefghij"),
        (0.5,) * 3,
        (0.25,) * 3,
    )
    train, held = bench.hold_out(data, 50)

    def image_ids(part):  # each image's index, read back from its pixels
        return [int(im[0, 0, 0]) + 256 * int(im[0, 0, 1]) for im in part.images]

    ids, held_ids = set(image_ids(train)), image_ids(held)
    assert len(train) == 250 and len(held) == 50 and not ids & set(held_ids) and ids | set(held_ids) == set(range(300))
    assert held.labels.tolist() == [i % 10 for i in held_ids]  # labels travel with their images
    assert torch.equal(bench.hold_out(data, 50)[1].images, held.images)  # the same images every time
    for n in (0, 300):
        with pytest.raises(SystemExit, match=f"--holdout {n}"):
            bench.hold_out(data, n)

    cifar = shared_data / "cifar10" / "cifar-10-batches-py"
    with pytest.raises(SystemExit, match="--holdout 0"):  # refused, not taken for "evaluate on the test set"
        bench.main(["--cifar", str(cifar), "--holdout", "0"])
    argv = ["--cifar", str(cifar), "--widths", "8", "16", "16", "--train-subset", "128", "--holdout", "96"]
    argv += ["--batch-size", "64", "--epochs", "1", "--targets", "0.05", "--threads", "1"]
    argv += ["--out", str(tmp_path / "runs"), "--json", str(tmp_path / "held.json")]
    assert bench.main(argv) == 0
    res = json.loads((tmp_path / "held.json").read_text())
    assert res["test_images"] == 96 and res["evaluated_on"] == "96 held-out training images"
    assert "final accuracy on the 96 held-out training images" in capsys.readouterr().out


def _script(name: str):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _result(ablate: list[str], curves: list[list[tuple[float, float]]]) -> dict:
    """A time_to_accuracy JSON with one run per curve of (wall_s, accuracy) points."""
    runs = [{"curve": [{"wall_s": t, "test_accuracy": a} for t, a in c]} for c in curves]
    return {"ablate": ablate, "runs": runs}


def test_ablation_table_compares_each_piece_at_a_fixed_time(tmp_path, capsys):
    table = _script("ablation_table")
    full = _result([], [[(100, 0.80), (590, 0.90), (700, 0.95)], [(100, 0.80), (600, 0.92)]])
    no_la = _result(["lookahead"], [[(300, 0.85), (610, 0.99)], [(550, 0.87)]])
    late = _result(["tta"], [[(650, 0.9)]])
    rows = table.rows([full, no_la, late], 600)
    assert rows[0]["mean"] == pytest.approx(91.0) and rows[0]["std"] == pytest.approx(1.4142, rel=1e-3)
    assert rows[1]["mean"] == pytest.approx(86.0) and rows[1]["minus_full"] == pytest.approx(-5.0)  # 610 s is late
    assert rows[2]["mean"] is None and rows[2]["evaluated"] == 0
    md = table.markdown([full, no_la, late], 600)
    assert "| without lookahead | 2/2 | 86.00% +- 1.41 | -5.00 points |" in md and "no evaluation by then" in md
    paths = []
    for i, r in enumerate([full, no_la]):
        paths.append(tmp_path / f"r{i}.json")
        paths[-1].write_text(json.dumps(r))
    assert table.main([*map(str, paths), "--at-seconds", "600"]) == 0
    assert "| full cifar-fast | 2/2 | 91.00% +- 1.41 | (reference) |" in capsys.readouterr().out
    assert table.main([str(paths[1]), "--at-seconds", "600"]) == 2  # no full-recipe result to compare with
    assert table.main([str(tmp_path / "missing.json"), "--at-seconds", "600"]) == 2
    held = [{**r, "evaluated_on": "5000 held-out training images"} for r in (full, no_la)]
    assert "| recipe | seeds | held-out accuracy at 600 s |" in table.markdown(held, 600)
    paths.append(tmp_path / "held.json")
    paths[-1].write_text(json.dumps(held[1]))
    capsys.readouterr()
    assert table.main([str(paths[0]), str(paths[2]), "--at-seconds", "600"]) == 2  # test and held-out mixed
    assert "evaluated on different images" in capsys.readouterr().err


def test_ablation_table_shows_how_late_arms_ended_and_keeps_to_one_recipe(tmp_path, capsys):
    table = _script("ablation_table")
    full = {**_result([], [[(560, 0.895)], [(561, 0.90)]]), "recipe": "cifar-muon"}
    for seed, run in enumerate(full["runs"]):
        run.update(seed=seed, final_test_accuracy=run["curve"][-1]["test_accuracy"], wall_s=565.0, images_per_s=470)
    no_tta = {**_result(["tta"], [[(500, 0.885)]]), "recipe": "cifar-muon"}
    no_tta["runs"][0]["seed"] = 0  # seed 0 only: paired with the full recipe's seed 0
    slow = {**_result(["batch1024"], [[(640, 0.90)], [(660, 0.89)]]), "recipe": "cifar-muon"}
    for run, (acc, wall) in zip(slow["runs"], [(0.90, 645.0), (0.89, 665.0)], strict=True):
        run.update(final_test_accuracy=acc, wall_s=wall, images_per_s=400.0)
    md = table.markdown([full, slow, no_tta], 600)
    assert "| full cifar-muon | 2/2 | 89.75% +- 0.35 | (reference) | (reference) | 89.75% | 565 s | 470 |" in md
    # finished after 600 s: nothing to compare at the fixed time, but the row says what it reached and when
    assert "| without batch1024 | 0/2 | no evaluation by then |  |  | 89.50% | 655 s | 400 |" in md
    # -1.25 points from the mean of both full seeds, -1.00 from the seed it shares
    assert "| without tta | 1/1 | 88.50% | -1.25 points | -1.00 points (n=1) |" in md
    paths = [tmp_path / "muon.json", tmp_path / "fast.json"]
    paths[0].write_text(json.dumps(full))
    paths[1].write_text(json.dumps(_result(["tta"], [[(500, 0.88)]])))  # no "recipe": an older cifar-fast result
    assert table.main([*map(str, paths), "--at-seconds", "600"]) == 2
    assert "different recipes (cifar-fast and cifar-muon)" in capsys.readouterr().err
    paths[1].write_text(json.dumps(no_tta))
    assert table.main([*map(str, paths), "--at-seconds", "600", "--png", str(tmp_path / "a.png")]) == 0
    assert (tmp_path / "a.png").stat().st_size > 10_000
    assert table._diff(table.rows([full, no_tta], 600)[1]) == pytest.approx(-1.0)


def _record(accs_at: list[list[tuple[float, float]]], epochs: float = 10) -> dict:
    """A time_to_accuracy JSON with the fields the record table reads; one run per (wall_s, accuracy) curve."""
    runs = []
    for curve in accs_at:
        points = [{"wall_s": t, "test_accuracy": a, "train_flops": 1e14 * t / 600} for t, a in curve]
        runs.append(
            {
                "curve": points,
                "config": {"epochs": epochs},
                "images_per_s": 500.0,
                "final_test_accuracy": curve[-1][1],
                "wall_s": curve[-1][0] + 5,
            }
        )
    machine = {"cpu": "AMD EPYC", "cpu_capability": "AVX2", "date": "2026-12-02 19:00 UTC"}
    return {"widths": [64, 256, 256], "overrides": {"pad": 4}, "ablate": [], "runs": runs, "machine": machine}


def test_record_table_meets_a_goal_only_on_the_mean_over_seeds_at_its_time(tmp_path, capsys):
    table = _script("record_table")
    ok = _record([[(300, 0.85), (590, 0.905)], [(300, 0.84), (595, 0.899)], [(580, 0.90)]])
    assert table.goal_result(ok, 0.90, 600) == {"mean": pytest.approx(90.133, abs=1e-3), "seeds": 3, "met": True}
    short = _record([[(590, 0.93)], [(590, 0.86)]])  # mean 89.5: one fast seed does not carry the goal
    assert table.goal_result(short, 0.90, 600)["met"] is False
    late = _record([[(590, 0.95)], [(610, 0.99)]])  # the second seed had no evaluation by 600 s
    assert table.goal_result(late, 0.90, 600) == {"mean": None, "seeds": 2, "met": False}
    md = table.markdown([ok, late], [(0.90, 600.0)])
    assert "widths 64-256-256, 10 epochs, pad=4" in md and "AMD EPYC (AVX2), 2026-12-02 19:00 UTC" in md
    assert "90.13%: **met**" in md and "no evaluation by then: not met" in md
    assert "90.13 +- 0.32" in md  # final accuracy, mean +- std over the three seeds, in points
    with pytest.raises(Exception, match="ACCURACY:SECONDS"):
        table.parse_goal("90%")
    held = tmp_path / "held.json"  # a --holdout run chose a recipe: it is no record
    held.write_text(json.dumps({**ok, "evaluated_on": "5000 held-out training images"}))
    capsys.readouterr()
    assert table.main([str(held)]) == 2 and "held-out training images, not the test set" in capsys.readouterr().err


def test_record_table_reads_a_committed_cifar_fast_result(capsys):
    table = _script("record_table")
    result = Path(__file__).resolve().parents[1] / "benchmarks/results/time_to_accuracy_cifar_fast_18ep.json"
    assert table.main([str(result), "--goal", "0.90:1800", "--goal", "0.935:1800"]) == 0
    out = capsys.readouterr().out
    # the 18-epoch run's last evaluation by 1,800 s is epoch 16 at 1,719 s: 91.04%, over 90% and under 93.5%
    assert "91.04%: **met**" in out and "91.04%: not met" in out and "| 1 |" in out
    assert table.main([str(result).replace("18ep", "nope")]) == 2


def _small_cifar(source: Path, dest: Path, train: int, test: int) -> Path:
    """A CIFAR-10 folder holding the first `train` and `test` real images of `source` (quick to load)."""
    import pickle

    dest.mkdir()
    for name, n in (("data_batch_1", train), ("test_batch", test)):
        with open(source / name, "rb") as f:
            batch = pickle.load(f, encoding="latin1")  # the shared copy is trusted data, not a user's file
        with open(dest / name, "wb") as f:
            pickle.dump({"data": batch["data"][:n], "labels": list(batch["labels"][:n])}, f)
    (dest / "batches.meta").write_bytes((source / "batches.meta").read_bytes())
    return dest


def test_speed_record_script_runs_both_attempts_and_writes_the_table(shared_data, tmp_path):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "speed_record.sh"
    tiny = "--widths 8 8 8 --batch-size 32 --threads 1"
    env = dict(os.environ, OUT=str(tmp_path / "results"), RUNS=str(tmp_path / "runs"), PYTHON=sys.executable)
    env.update(SHORT=f"--recipe cifar-muon --epochs 1 {tiny}", LONG=f"--epochs 2 --set pad=4 {tiny}")
    cifar = _small_cifar(shared_data / "cifar10" / "cifar-10-batches-py", tmp_path / "cifar", 64, 32)
    table = tmp_path / "results" / "record_table.md"

    def record(attempts: str) -> str:
        done = subprocess.run(
            ["bash", str(script), "1", str(cifar)],
            env={**env, "ATTEMPTS": attempts},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0 and "failed" not in done.stdout, done.stdout + done.stderr
        return done.stdout

    # one attempt: only it runs, and the table has its row alone
    assert "== 30min" not in record("10min") and table.read_text().count("not met") == 2
    assert not (tmp_path / "results" / "record_30min.json").exists()
    # the other one: the table lists every attempt with a JSON in OUT, the earlier one included
    assert "== 10min" not in record("30min")
    rows = table.read_text()
    assert "cifar-muon, widths 8-8-8, 1 epochs" in rows and "| widths 8-8-8, 2 epochs, pad=4" in rows
    assert rows.count("not met") == 4  # 32 test images after 2 and 4 steps: no goal is met
    long = json.loads((tmp_path / "results" / "record_30min.json").read_text())
    assert long["runs"][0]["config"]["pad"] == 4 and long["overrides"] == {"pad": 4}
    short = json.loads((tmp_path / "results" / "record_10min.json").read_text())
    assert short["recipe"] == "cifar-muon" and short["runs"][0]["config"]["optimizer"] == "muon"


def _mini_cifar(src: Path, dst: Path, per_batch: int = 12) -> None:
    """The first `per_batch` real images of each CIFAR batch, in the same python-batches format."""
    import pickle
    import shutil

    from ilsvrc.data.sources import read_cifar_batch

    dst.mkdir()
    shutil.copy(src / "batches.meta", dst / "batches.meta")
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = read_cifar_batch(src / name)
        d = {**d, "data": d["data"][:per_batch], "labels": list(d["labels"][:per_batch])}
        with open(dst / name, "wb") as f:
            pickle.dump({k.encode("latin1"): v for k, v in d.items()}, f, protocol=2)


def test_jpeg_quality_copy_is_readable_keeps_labels_and_loses_more_at_lower_quality(shared_data, tmp_path, capsys):
    bench = _script("jpeg_quality")
    _mini_cifar(shared_data / "cifar10" / "cifar-10-batches-py", tmp_path / "src")
    loss = {}
    for q in (30, 90):
        assert bench.main([str(tmp_path / "src"), str(tmp_path / f"q{q}"), "--quality", str(q)]) == 0
        loss[q] = json.loads((tmp_path / f"q{q}" / "reencode.json").read_text())["overall"]
        original, coded = load_dataset(str(tmp_path / "src"), "val"), load_dataset(str(tmp_path / f"q{q}"), "val")
        assert torch.equal(original.labels, coded.labels) and original.images.shape == coded.images.shape
        mae = (original.images.float() - coded.images.float()).abs().mean().item()
        assert mae == pytest.approx(loss[q]["mae"], rel=0.2)  # the report describes the pixels the loader reads
    assert loss[30]["mae"] > loss[90]["mae"] > 0 and loss[30]["psnr_db"] < loss[90]["psnr_db"]
    before = sorted(p.name for p in (tmp_path / "q30").iterdir())
    assert bench.main([str(tmp_path / "src"), str(tmp_path / "q30"), "--quality", "50"]) == 2  # never overwrites
    assert sorted(p.name for p in (tmp_path / "q30").iterdir()) == before
    assert bench.main([str(tmp_path), str(tmp_path / "new"), "--quality", "50"]) == 2
    assert "not a CIFAR python batches folder" in capsys.readouterr().err and not (tmp_path / "new").exists()
