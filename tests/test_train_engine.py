"""The engine's new guarantees: run-folder safety, refused resume changes, config limits, the auto speed
choices, a caller's own network, and the shape of the code (no long functions in train/)."""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from ilsvrc.errors import RunError, UserError
from ilsvrc.locks import folder_lock
from ilsvrc.train import TrainConfig, train
from ilsvrc.train.checkpoint import load
from ilsvrc.train.precision import choose_channels_last, choose_precision, cpu_bf16_native
from test_train import tiny_config, tiny_dataset

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")
CPU = torch.device("cpu")


def _stopped_run(tmp_path: Path, **kw):
    """A 2-step run of a 4-step schedule, stopped as if interrupted: a resumable folder (~1 s)."""
    cfg = tiny_config(tmp_path, epochs=1, stop_at_step=2, model="cifar_convnet", checkpoint_every=0, **kw)
    return train(cfg, tiny_dataset(64, size=8), tiny_dataset(8, size=8))


# ------------------------------------------------------------------------------------------- resume and folders


def test_resume_refuses_a_changed_flag_naming_it(tmp_path):
    _stopped_run(tmp_path)
    with pytest.raises(UserError, match=r"--lr 0.01 differs from 0.05") as err:
        train(
            tiny_config(tmp_path, epochs=1, model="cifar_convnet", checkpoint_every=0, resume=True, lr=0.01),
            tiny_dataset(64, size=8),
            tiny_dataset(8, size=8),
        )
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="a changed model"):
        train(
            tiny_config(tmp_path, epochs=1, model="resnet20", checkpoint_every=0, resume=True),
            tiny_dataset(64, size=8),
            tiny_dataset(8, size=8),
        )


def test_resume_refuses_changed_data(tmp_path):
    _stopped_run(tmp_path)
    cfg = tiny_config(tmp_path, epochs=1, model="cifar_convnet", checkpoint_every=0, resume=True)
    with pytest.raises(UserError, match=r"data changed .*train_images: 64 then, 48 now"):
        train(cfg, tiny_dataset(48, size=8), tiny_dataset(8, size=8))


def test_cli_resume_takes_the_saved_config_and_refuses_a_new_lr(tmp_path, capsys):
    from ilsvrc.cli import main

    _stopped_run(tmp_path)
    out = str(tmp_path / "run")
    assert main(["train", "--resume", "--out", out, "--lr", "0.3", "--no-progress"]) == 2
    assert "--lr 0.3 differs" in capsys.readouterr().err


def test_a_finished_run_folder_is_refused_without_overwrite_and_cleared_with_it(tmp_path):
    data, val = tiny_dataset(32, size=8), tiny_dataset(8, size=8)
    train(tiny_config(tmp_path, epochs=2, model="cifar_convnet"), data, val)
    with pytest.raises(UserError, match=r"already holds a run .*--overwrite"):
        train(tiny_config(tmp_path, epochs=1, model="cifar_convnet"), data, val)
    train(tiny_config(tmp_path, epochs=1, model="cifar_convnet", overwrite=True), data, val)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [1]  # not mixed with the first run's two


def test_a_run_folder_in_use_is_refused(tmp_path):
    with folder_lock(tmp_path / "run", "run folder"), pytest.raises(UserError, match="in use by another"):
        train(
            tiny_config(tmp_path, max_steps=1, model="cifar_convnet"), tiny_dataset(16, size=8), tiny_dataset(4, size=8)
        )


def test_best_checkpoint_holds_weights_not_the_optimizer(tmp_path):
    result = train(
        tiny_config(tmp_path, epochs=1, model="cifar_convnet"), tiny_dataset(32, size=8), tiny_dataset(8, size=8)
    )
    best = load(result.out / "checkpoints" / "best.pt")
    assert "optimizer" not in best and "rng" not in best
    assert {"model", "classes", "mean", "std", "input_size", "config"} <= set(best)
    assert "optimizer" in load(result.out / "checkpoints" / "last.pt")


# ------------------------------------------------------------------------------------------- config limits


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--epochs", "1e308"], "epochs must be"),
        (["--seed", "-1"], "seed must be >= 0"),
        (["--input-size", "1000000"], "input_size must be"),
        (["--threads", "100000"], "threads must be"),
        (["--option", "num_classes=5"], "num_classes is set from the data"),
        (["--option", "shortcut=[B"], "not a plain YAML value"),
        (["--option", "x=!!python/object/apply:os.system [ls]"], "not a plain YAML value"),
        (["--option", "x=!!binary aGVsbG8="], "must be a number, string"),
        (["--lr", "nan"], "lr must be"),
        (["--resume", "--overwrite", "--out", "x"], "contradict"),
    ],
)
def test_bad_train_values_are_one_line_errors(tmp_path, capsys, flags, words):
    from ilsvrc.cli import main

    assert main(["train", *flags] + ([] if "--out" in flags else ["--out", str(tmp_path / "o")])) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o" / "config.yaml").exists()


def test_help_lists_every_recipe_and_is_generated_from_the_fields(capsys, monkeypatch):
    from ilsvrc.cli import main
    from ilsvrc.train import RECIPES

    monkeypatch.setenv("COLUMNS", "400")  # no line breaks inside hyphenated names

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in RECIPES:
        assert name in text
    assert "--precision" in text and "--warmup-kind" in text and "--threads N" in text


def test_old_switches_still_work():
    cfg = TrainConfig(amp=True, channels_last=True)
    assert (cfg.precision, cfg.channels_last, cfg.amp) == ("bf16", "on", False)
    assert TrainConfig.from_dict({"channels_last": False, "amp": False}).channels_last == "off"


# ------------------------------------------------------------------------------------------- speed choices


def test_auto_precision_follows_the_device(tmp_path):
    assert choose_precision("auto", CPU, cpu_probe=lambda: False).name == "fp32"
    assert choose_precision("auto", CPU, cpu_probe=lambda: True).name == "bf16"
    assert choose_precision("fp32", CPU, cpu_probe=lambda: True).name == "fp32"
    flags = tmp_path / "cpuinfo"
    flags.write_text("flags\t\t: fpu sse avx2 avx512f\n")
    assert not cpu_bf16_native(flags) or "AMX" in torch.backends.cpu.get_cpu_capability()
    flags.write_text("flags\t\t: fpu avx512f avx512_bf16\n")
    assert cpu_bf16_native(flags)


def test_auto_channels_last_is_on_for_convnets_only():
    from ilsvrc.models import create_model

    assert choose_channels_last("auto", create_model("resnet20"), CPU)[0]
    assert not choose_channels_last("auto", create_model("vit_tiny", num_classes=10), CPU)[0]
    assert not choose_channels_last("auto", nn.Sequential(nn.Flatten(), nn.Linear(12, 3)), CPU)[0]
    assert not choose_channels_last("off", create_model("resnet20"), CPU)[0]


def test_a_cpu_without_native_bf16_trains_in_fp32_and_says_so(tmp_path, monkeypatch):
    import ilsvrc.train.precision as precision

    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: False)
    result = train(
        tiny_config(tmp_path, max_steps=1, model="cifar_convnet"), tiny_dataset(16, size=8), tiny_dataset(4, size=8)
    )
    s = json.loads((result.out / "summary.json").read_text())
    assert s["precision"] == "fp32" and "no native bf16" in s["precision_reason"]
    assert s["channels_last"] is True and s["threads"] == 1
    assert (result.out / "config.yaml").read_text().count("precision: fp32") == 1


def test_a_resumed_run_keeps_the_reasons_of_its_first_start(tmp_path, monkeypatch):
    import ilsvrc.train.precision as precision

    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: False)
    _stopped_run(tmp_path)
    # the saved config now says fp32 and channels_last on: without the saved reasons both would read "asked for"
    cfg = tiny_config(tmp_path, epochs=1, model="cifar_convnet", checkpoint_every=0, resume=True)
    result = train(cfg, tiny_dataset(64, size=8), tiny_dataset(8, size=8))
    s = json.loads((result.out / "summary.json").read_text())
    assert "no native bf16" in s["precision_reason"] and s["channels_last_reason"] == "auto: convolutional net"


# ------------------------------------------------------------------------------------------- structure


def test_the_engine_trains_a_network_it_does_not_know(tmp_path):
    net = nn.Sequential(nn.Flatten(), nn.Linear(8 * 8 * 3, 4))
    result = train(
        tiny_config(tmp_path, epochs=1, augment="none"), tiny_dataset(32, size=8), tiny_dataset(8, size=8), model=net
    )
    assert result.model is net and result.summary["params"] == 8 * 8 * 3 * 4 + 4
    assert result.summary["channels_last"] is False


def test_no_function_in_train_is_longer_than_80_lines_and_the_engine_imports_no_registry():
    for path in sorted((REPO / "src" / "ilsvrc" / "train").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 80, f"{path.name}:{node.name}"
    for name in ("engine.py", "setup.py", "state.py"):
        assert "ilsvrc.models" not in (REPO / "src" / "ilsvrc" / "train" / name).read_text(), name


# ------------------------------------------------------------------------------------------- phase 2: fit, divergence


def test_epochs_fit_the_recipes_warmup_to_the_run_and_the_summary_has_the_final_lr(tmp_path):
    # 'quick' is 6 epochs with a 1-epoch warm-up: a 2-epoch run warms up for 1/3 epoch, not half the run
    result = train(
        tiny_config(tmp_path, epochs=2, model="cifar_convnet"), tiny_dataset(96, size=8), tiny_dataset(8, size=8)
    )  # 6 steps per epoch: 12 steps, warm-up 2
    assert result.history[0]["lr"] == pytest.approx(
        0.05 * 0.5 * (1 + math.cos(math.pi * 3 / 10))
    )  # step 5: 3 of 10 steps after warm-up
    assert result.summary["final_lr"] == result.history[-1]["lr"] < 0.01  # the old 6-step warm-up ended at 0.05


def test_a_hand_set_warmup_is_kept_when_the_run_is_shortened():
    from ilsvrc.train.optim import Schedule, length_fit

    cfg = TrainConfig(epochs=2, warmup_epochs=0.5).resolve()
    s = Schedule.from_config(cfg, 20, 10, length_fit(cfg, 20, 10))
    assert s.warmup == 5  # 0.5 epochs as given; the recipe's own 1 epoch would have become 1/3 epoch


def test_a_diverging_loss_stops_in_one_line_naming_the_lr(tmp_path):
    net = nn.Sequential(nn.Flatten(), nn.Linear(8 * 8 * 3, 4))
    cfg = tiny_config(
        tmp_path,
        max_steps=30,
        lr=1e4,
        warmup_epochs=0,
        schedule="constant",
        momentum=0.0,
        label_smoothing=0.0,
        log_every=1,
        augment="none",
        precision="fp32",
    )
    with pytest.raises(RunError, match=r"diverged.*try --lr") as err:
        train(cfg, tiny_dataset(64, size=8), tiny_dataset(8, size=8), model=net)
    assert "\n" not in str(err.value)


def _cli_values(argv: list[str]) -> dict:
    from ilsvrc.cli import build_parser
    from ilsvrc.commands.train import _values

    return _values(build_parser().parse_args(["train", *argv]))


def test_a_named_model_trains_with_its_papers_recipe_and_no_model_keeps_the_main_job():
    assert _cli_values(["alexnet", "--max-steps", "30"])["recipe"] == "alexnet"
    assert _cli_values(["resnet50"])["recipe"] == "resnet-imagenet"
    assert _cli_values(["speedrun_cifar"])["recipe"] == "cifar-fast"
    assert _cli_values(["cifar_convnet"])["recipe"] == "quick"  # experiments have no paper recipe
    assert _cli_values(["alexnet", "--recipe", "modern"])["recipe"] == "modern"
    assert "recipe" not in _cli_values([]) and TrainConfig().recipe == "quick"  # `ilsvrc train`: the main job


_HOLDER = """
import sys, time
from ilsvrc.locks import folder_lock
with folder_lock(sys.argv[1], "run folder"):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_process_cannot_train_into_a_run_folder_in_use(tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match=f"in use by another ilsvrc process \\(pid {holder.pid}\\)"):
            train(
                tiny_config(tmp_path, max_steps=1, model="cifar_convnet"),
                tiny_dataset(16, size=8),
                tiny_dataset(4, size=8),
            )
        assert not (out / "config.yaml").exists()
    finally:
        holder.kill()
        holder.wait()


# ------------------------------------------------------------------------------------------- allocator

_FAULTS = """
import json, resource, sys, torch
from ilsvrc.train.allocator import keep_freed_memory
used = keep_freed_memory() if sys.argv[1] == "keep" else "untouched"
for step in range(20):  # what a training step does: a 64 MiB activation allocated, written and freed
    if step == 10:  # the first few reuses still fault while glibc's bins settle
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(16, 1024, 1024)
print(json.dumps({"used": used, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def _faults(mode: str, **env: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, env={**os.environ, **env}, check=True
    )
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the setting is glibc's")
def test_kept_memory_spares_the_page_faults_of_reallocating_each_step():
    kept, plain = _faults("keep"), _faults("plain")
    if not kept["used"].startswith("freed memory kept"):
        pytest.skip(f"not glibc here: {kept['used']}")
    # glibc unmaps each freed 64 MiB block, so each of the last 10 loops faults its 16,384 pages in again; kept, none
    assert plain["faults"] > 9 * 16_384 and kept["faults"] < 16_384, (plain, kept)
    assert _faults("keep", ILSVRC_KEEP_MEMORY="0")["used"] == "glibc default (ILSVRC_KEEP_MEMORY=0)"
