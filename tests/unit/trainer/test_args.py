"""Argument parsing: defaults from AIP_* variables, YAML config, CLI overrides, clear errors."""

from __future__ import annotations

import pytest

from llmops_trainer.args import ArgumentError, load_config_file, parse_args

BASE = ["--base_model", "/m", "--train_data", "/d/train"]


def test_aip_env_gives_output_checkpoint_and_tensorboard_defaults(monkeypatch):
    monkeypatch.setenv("AIP_MODEL_DIR", "gs://b/run/model")
    monkeypatch.setenv("AIP_CHECKPOINT_DIR", "gs://b/run/checkpoints")
    monkeypatch.setenv("AIP_TENSORBOARD_LOG_DIR", "gs://b/run/logs")
    cfg = parse_args(BASE)
    assert cfg.training.output_dir == "gs://b/run/model"
    assert cfg.training.checkpoint_dir == "gs://b/run/checkpoints"
    assert cfg.training.tensorboard_dir == "gs://b/run/logs"


def test_yaml_sections_then_cli_flags_override(tmp_path, monkeypatch):
    monkeypatch.delenv("AIP_MODEL_DIR", raising=False)
    config = tmp_path / "c.yaml"
    config.write_text(
        "model: {gradient_checkpointing: true}\n"
        "lora: {lora_r: 4, lora_target_modules: [q_proj, v_proj]}\n"
        "training: {learning_rate: 0.001, output_dir: /out, max_steps: 7}\n"
        "max_seq_length: 128\n"
    )
    cfg = parse_args(["--config", str(config), *BASE, "--lora_r", "16", "--lora_target_modules", "o_proj"])
    assert cfg.lora.lora_r == 16  # CLI beats YAML
    assert cfg.lora.lora_alpha == 16  # default kept
    assert cfg.lora.lora_target_modules == ["o_proj"]
    assert cfg.training.learning_rate == 0.001 and cfg.training.max_steps == 7
    assert cfg.data.max_seq_length == 128
    assert cfg.model.gradient_checkpointing is True
    assert cfg.flat()["output_dir"] == "/out"


def test_boolean_flags_parse_false(monkeypatch):
    monkeypatch.setenv("AIP_MODEL_DIR", "/out")
    cfg = parse_args([*BASE, "--packing", "false", "--merge_adapter", "false"])
    assert cfg.data.packing is False and cfg.training.merge_adapter is False


def test_unknown_yaml_key_names_key_and_file(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("training: {learnin_rate: 0.1}\n")
    with pytest.raises(ArgumentError, match=r"bad\.yaml: unknown key\(s\) learnin_rate"):
        load_config_file(config)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--train_data", "/d"], "--base_model is required"),
        (["--base_model", "/m"], "--train_data is required"),
        ([*BASE, "--lora_r", "0"], "lora_r=0"),
        ([*BASE, "--lora_dropout", "1.5"], "lora_dropout=1.5"),
        ([*BASE, "--tracking", "wandb"], "--tracking='wandb'"),
        ([*BASE, "--max_seq_length", "2"], "max_seq_length=2"),
    ],
)
def test_invalid_values_are_rejected_with_their_name(argv, message, monkeypatch):
    monkeypatch.setenv("AIP_MODEL_DIR", "/out")
    with pytest.raises(ArgumentError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_args(argv)


def test_missing_output_dir_without_aip_env(monkeypatch):
    monkeypatch.delenv("AIP_MODEL_DIR", raising=False)
    with pytest.raises(ArgumentError, match="--output_dir is required"):
        parse_args(BASE)


def test_shipped_configs_parse(monkeypatch):
    from pathlib import Path

    monkeypatch.setenv("AIP_MODEL_DIR", "/out")
    configs = sorted((Path(__file__).resolve().parents[3] / "trainer" / "configs").glob("*.yaml"))
    assert {c.name for c in configs} >= {"local-cpu.yaml", "a100.yaml"}
    for config in configs:
        flat = load_config_file(config)
        assert flat, config
        if flat.get("load_in_4bit"):
            continue
        parse_args(["--config", str(config), *BASE])
