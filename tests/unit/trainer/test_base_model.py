"""The local base model builder: HF format, deterministic for a seed, cached by build key, clear errors."""

from __future__ import annotations

import json

import pytest

from llmops_trainer.base_model import BaseModelBuildError, build_base_model, parse_args

from .conftest import TINY_MODEL_FLAGS


def _build(corpus, out, *extra):
    return build_base_model(
        parse_args(["--corpus", str(corpus), "--output", str(out), *TINY_MODEL_FLAGS, *extra])
    )


def test_builds_a_loadable_causal_lm_that_learned_something(tiny_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    build = json.loads((tiny_base / "build.json").read_text())
    assert build["final_train_loss"] < build["initial_train_loss"]
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 2
    assert tokenizer.decode(tokenizer("Plus plan, 11.99 EUR", add_special_tokens=False)["input_ids"]) == (
        "Plus plan, 11.99 EUR"
    )
    assert tokenizer.bos_token_id is not None and tokenizer.eos_token_id is not None


def test_same_seed_same_weights_and_cache_hit(tmp_path, corpus_dir, tiny_base):
    other = tmp_path / "again"
    built = _build(corpus_dir, other)
    assert built["cached"] is False
    assert (other / "model.safetensors").read_bytes() == (tiny_base / "model.safetensors").read_bytes()
    assert (other / "tokenizer.json").read_bytes() == (tiny_base / "tokenizer.json").read_bytes()
    before = (other / "model.safetensors").stat().st_mtime_ns
    again = _build(corpus_dir, other)
    assert again["cached"] is True and again["build_key"] == built["build_key"]
    assert (other / "model.safetensors").stat().st_mtime_ns == before


def test_build_key_changes_with_seed_and_corpus(tmp_path, corpus_dir):
    from llmops_trainer.base_model import build_key, load_documents

    args = parse_args(["--corpus", str(corpus_dir), "--output", str(tmp_path / "x"), *TINY_MODEL_FLAGS])
    docs = load_documents(args)
    key = build_key(docs, args)
    args.seed += 1
    assert build_key(docs, args) != key
    args.seed -= 1
    assert build_key([*docs, "one more article"], args) != key
    assert build_key(list(reversed(docs)), args) == key


def test_bad_corpus_is_rejected(tmp_path):
    with pytest.raises(BaseModelBuildError, match="matches no"):
        _build(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "a.md").write_text("too short")
    with pytest.raises(BaseModelBuildError, match="fewer than two blocks"):
        _build(tmp_path / "tiny", tmp_path / "out")
    assert not (tmp_path / "out").exists()
