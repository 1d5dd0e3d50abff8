"""The ``train`` entrypoint end to end on a tiny model: outputs, tracking, bad input, resume, two processes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from llmops_trainer.__main__ import main as entrypoint

from .conftest import PYTHON, subprocess_env

TINY_TRAIN = [
    "--max_seq_length",
    "512",
    "--per_device_train_batch_size",
    "2",
    "--per_device_eval_batch_size",
    "8",
    "--learning_rate",
    "1e-2",
    "--lora_r",
    "4",
    "--lora_alpha",
    "8",
    "--logging_steps",
    "2",
    "--lora_target_modules",
    "q_proj",
    "v_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
    "--num_threads",
    "1",
    "--nproc_per_node",
    "1",
]


def _args(snapshot: Path, base: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--train_data",
        str(snapshot / "train"),
        "--eval_data",
        str(snapshot / "eval"),
        "--base_model",
        str(base),
        "--prompt",
        "support_assistant@1.0.0",
        *TINY_TRAIN,
        *extra,
    ]


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "llmops_trainer", *args],
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_end_to_end_outputs_tracking_and_held_out_gain(tmp_path, snapshot, tiny_base):
    out, ckpt, tb = tmp_path / "model", tmp_path / "ckpt", tmp_path / "tb"
    mlflow_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = _run(
        _args(
            snapshot,
            tiny_base,
            "--max_steps",
            "16",
            "--save_steps",
            "8",
            "--tracking",
            "mlflow",
            "--run_name",
            "e2e",
        ),
        AIP_MODEL_DIR=str(out),
        AIP_CHECKPOINT_DIR=str(ckpt),
        AIP_TENSORBOARD_LOG_DIR=str(tb),
        MLFLOW_TRACKING_URI=mlflow_uri,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "eval_loss",
        "base_eval_loss",
        "train_loss",
        "train_tokens",
        "tokens_per_second",
        "wall_time_s",
        "cost_usd",
    ):
        assert key in metrics
    assert metrics["eval_loss"] < metrics["base_eval_loss"]
    assert metrics["cost_usd"] == 0.0 and metrics["train_tokens"] > 0
    card = json.loads((out / "model_card.json").read_text())
    assert card["dataset"]["snapshot_version"] == "snap-test" and len(card["dataset"]["train_sha256"]) == 64
    assert card["prompt"]["name"] == "support_assistant" and card["prompt"]["version"] == "1.0.0"
    assert len(card["prompt"]["hash"]) == 64
    assert card["hyperparameters"]["lora_r"] == 4 and card["base_model"]["uri"] == str(tiny_base)
    assert card["base_model"]["build_key"] and card["metrics"] == metrics
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert list(tb.rglob("events.out.tfevents.*"))
    assert [p.name for p in ckpt.glob("checkpoint-*")] == ["checkpoint-00000008"]

    from mlflow import MlflowClient
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = AutoModelForCausalLM.from_pretrained(out / "merged")
    tokenizer = AutoTokenizer.from_pretrained(out / "merged")
    generated = merged.generate(
        **tokenizer("The Plus plan", return_tensors="pt"), max_new_tokens=3, do_sample=False
    )
    assert generated.shape[1] > 3
    client = MlflowClient(mlflow_uri)
    run = client.get_run(card["tracking"]["run_id"])
    assert run.data.params["lora_r"] == "4" and run.data.params["dataset_version"] == "snap-test"
    assert run.data.metrics["eval_loss"] == pytest.approx(metrics["eval_loss"])
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert sorted(m.step for m in history if m.step > 0) == [2, 4, 6, 8, 10, 12, 14, 16]
    assert run.info.artifact_uri.startswith((tmp_path / "artifacts").as_uri())
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {
        "model_card.json",
        "metrics.json",
        "adapter",
    }


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_snapshot", "datasets/gone/train does not exist"),
        ("empty_snapshot", "is empty"),
        ("missing_base", "does not exist"),
        ("not_causal_lm", "is a 'bert' model, not a causal LM"),
        ("bad_target_modules", "LoRA target module(s) query_key_value do not exist"),
        ("unknown_prompt", "support_assistant@9.9.9 not found"),
    ],
)
def test_bad_input_fails_fast_with_a_clear_message(
    case, message, tmp_path, snapshot, tiny_base, capsys, monkeypatch
):
    monkeypatch.setenv("AIP_MODEL_DIR", str(tmp_path / "out"))
    train, base, extra = snapshot / "train", tiny_base, []
    if case == "missing_snapshot":
        train = tmp_path / "datasets" / "gone" / "train"
    elif case == "empty_snapshot":
        (snapshot / "train" / "part-00000.jsonl").write_text("")
    elif case == "missing_base":
        base = tmp_path / "no-model"
    elif case == "not_causal_lm":
        base = tmp_path / "bert"
        base.mkdir()
        (base / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    elif case == "bad_target_modules":
        extra = ["--lora_target_modules", "q_proj", "query_key_value"]
    elif case == "unknown_prompt":
        extra = ["--prompt", "support_assistant@9.9.9"]
    args = _args(snapshot, base, *extra)
    args[args.index("--train_data") + 1] = str(train)
    started = time.perf_counter()
    assert entrypoint(args) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not (tmp_path / "out").exists()
    assert time.perf_counter() - started < 60


def test_kill_after_first_checkpoint_then_resume(tmp_path, snapshot, tiny_base):
    out, ckpt = tmp_path / "model", tmp_path / "ckpt"
    env = subprocess_env(AIP_MODEL_DIR=str(out), AIP_CHECKPOINT_DIR=str(ckpt))
    args = _args(snapshot, tiny_base, "--max_steps", "40", "--save_steps", "3", "--save_total_limit", "5")
    proc = subprocess.Popen(
        [PYTHON, "-m", "llmops_trainer", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 180
    while not list(ckpt.glob("checkpoint-*/COMPLETE.json")):
        assert proc.poll() is None, "training ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "metrics.json").exists()
    killed_at = max(int(p.parent.name.split("-")[1]) for p in ckpt.glob("checkpoint-*/COMPLETE.json"))

    result = subprocess.run(
        [PYTHON, "-m", "llmops_trainer", *args], env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = re.search(r"resuming from \S+checkpoint-(\d+) \(step (\d+)\)", result.stderr)
    assert resumed, result.stderr[-3000:]
    resumed_step = int(resumed.group(2))
    assert resumed_step >= killed_at  # at most one checkpoint interval (3 steps) of work was lost
    assert f"training 40 steps from step {resumed_step}" in result.stderr
    first_logged = re.search(r"step (\d+)/40", result.stderr.split("training 40 steps", 1)[1])
    assert int(first_logged.group(1)) > resumed_step
    card = json.loads((out / "model_card.json").read_text())
    assert card["compute"]["resumed_from"].endswith(f"checkpoint-{resumed_step:08d}")
    assert json.loads((out / "metrics.json").read_text())["eval_loss"] > 0


def test_two_processes_through_torchrun(tmp_path, snapshot, tiny_base):
    out = tmp_path / "model"
    cmd = [
        PYTHON,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "llmops_trainer",
        *_args(snapshot, tiny_base, "--max_steps", "4", "--save_steps", "2"),
    ]
    result = subprocess.run(
        cmd,
        env=subprocess_env(AIP_MODEL_DIR=str(out), AIP_CHECKPOINT_DIR=str(tmp_path / "c")),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    card = json.loads((out / "model_card.json").read_text())
    assert card["compute"]["world_size"] == 2
    assert (out / "merged" / "config.json").is_file() and (
        out / "adapter" / "adapter_model.safetensors"
    ).is_file()
    assert "[rank 0]" in result.stderr and "step 4/4" in result.stderr
