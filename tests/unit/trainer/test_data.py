"""Snapshot reading, response-only labels, packing and bad input."""

from __future__ import annotations

import json

import pytest

from llmops_trainer import data
from llmops_trainer.data import IGNORE_INDEX, DataError, TokenizedExample

from .conftest import qa_row


def _examples(lengths, prompt_len=3):
    return [
        TokenizedExample(tuple(range(1, n + 1)), min(prompt_len, n - 1), f"e{i}")
        for i, n in enumerate(lengths)
    ]


def test_labels_mask_bos_and_prompt_and_keep_response_and_eos(tiny_base, snapshot):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_base)
    split = data.read_split(str(snapshot / "train"), "train")
    prompt, texts = data.render_prompts(split.examples[:2], "support_assistant@1.0.0")
    assert prompt.name == "support_assistant" and texts[0].endswith("### Response:\n")
    assert split.examples[0].instruction in texts[0]
    tokenized, stats = data.tokenize_examples(split.examples[:2], texts, tok, 1024)
    assert stats.truncated == stats.dropped == 0
    ex = tokenized[0]
    batch = data.collate([[0]], tokenized, tok.pad_token_id)
    labels = batch["labels"][0].tolist()
    prompt_ids = tok(texts[0], add_special_tokens=False)["input_ids"]
    assert ex.prompt_len == 1 + len(prompt_ids)
    assert ex.input_ids[0] == tok.bos_token_id and ex.input_ids[-1] == tok.eos_token_id
    assert all(x == IGNORE_INDEX for x in labels[: ex.prompt_len])
    response = labels[ex.prompt_len : len(ex.input_ids)]
    assert tok.decode(response[:-1]) == split.examples[0].output
    assert response[-1] == tok.eos_token_id


def test_packing_places_every_example_once_within_capacity():
    lengths = [50, 400, 120, 300, 7, 90, 256, 256, 33, 500, 12]
    rows = data.pack(lengths, 512)
    flat = sorted(i for r in rows for i in r)
    assert flat == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in r) <= 512 for r in rows)
    assert data.pack(lengths, 512) == rows  # deterministic
    with pytest.raises(ValueError, match="capacity"):
        data.pack([600], 512)


def test_packed_positions_restart_per_example_and_padding_is_its_own_segment():
    examples = _examples([5, 4])
    batch = data.collate([[0, 1]], examples, pad_token_id=0, pad_to=12)
    assert batch["position_ids"][0].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 0, 1, 2]
    labels = batch["labels"][0].tolist()
    assert labels[:3] == [IGNORE_INDEX] * 3 and labels[3:5] == [4, 5]
    assert labels[5:8] == [IGNORE_INDEX] * 3 and labels[8] == 4
    assert labels[9:] == [IGNORE_INDEX] * 3
    assert batch["real_tokens"] == 9 and batch["total_tokens"] == 12


def test_packed_loss_equals_the_losses_of_examples_run_alone(tiny_base):
    """Block-diagonal attention: packing must not change any example's loss."""
    import torch
    from transformers import AutoModelForCausalLM

    from llmops_trainer.loop import batch_loss_sum

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_base, attn_implementation="sdpa").eval()
    examples = [
        TokenizedExample(tuple(torch.randint(3, 300, (n,)).tolist()), p, f"e{n}")
        for n, p in ((17, 6), (9, 4), (23, 10))
    ]
    device = torch.device("cpu")
    with torch.no_grad():
        packed, n_packed = batch_loss_sum(
            model, data.collate([[0, 1, 2]], examples, 0, pad_to=64), device, None
        )
        alone = [batch_loss_sum(model, data.collate([[i]], examples, 0), device, None) for i in range(3)]
    assert n_packed == sum(n for _, n in alone) == sum(e.response_tokens for e in examples)
    assert packed.item() == pytest.approx(sum(x.item() for x, _ in alone), rel=1e-4)


def test_useful_token_fraction_with_packing_beats_padding():
    import random

    rng = random.Random(0)
    lengths = [rng.randint(40, 300) for _ in range(400)]
    examples = _examples(lengths)
    packed = data.build_rows(examples, 512, packing=True)
    unpacked = data.build_rows(examples, 512, packing=False)
    packed_fraction = data.useful_fraction(packed, examples, 4)
    assert packed_fraction >= 0.95
    assert packed_fraction > data.useful_fraction(unpacked, examples, 4)


def test_long_examples_are_truncated_or_dropped_and_counted(tiny_base, snapshot, caplog):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_base)
    split = data.read_split(str(snapshot / "train"), "train")
    exs = split.examples[:2]
    texts = ["short prompt ", "a much longer prompt " * 40]
    out, stats = data.tokenize_examples(exs, texts, tok, max_seq_length=12)
    assert stats.examples == 2 and stats.dropped == 1 and stats.truncated == 1
    assert stats.dropped_ids == [exs[1].example_id]
    assert len(out) == 1 and len(out[0].input_ids) == 12
    assert exs[1].example_id in caplog.text


def test_missing_snapshot_names_the_folder(tmp_path):
    with pytest.raises(DataError, match=r"nope/train does not exist"):
        data.read_split(str(tmp_path / "nope" / "train"))


def test_empty_snapshot_is_rejected(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    with pytest.raises(DataError, match="has no part-"):
        data.read_split(str(folder))
    (folder / "part-00000.jsonl").write_text("\n")
    with pytest.raises(DataError, match="is empty"):
        data.read_split(str(folder))


def test_bad_rows_name_file_line_and_field(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    part = folder / "part-00000.jsonl"
    good = json.dumps(qa_row(0, "train"))
    part.write_text(good + "\n{not json\n")
    with pytest.raises(DataError, match=r"part-00000\.jsonl:2: not valid JSON"):
        data.read_split(str(folder))
    row = qa_row(1, "train")
    del row["output"]
    part.write_text(good + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataError, match=r"part-00000\.jsonl:2: field 'output' is missing"):
        data.read_split(str(folder))
    part.write_text(json.dumps(qa_row(2, "eval")) + "\n")
    with pytest.raises(DataError, match=r":1: field 'split' is 'eval'"):
        data.read_split(str(folder), "train")


def test_group_in_both_splits_is_a_leak(tmp_path):
    from .conftest import write_snapshot

    snap = write_snapshot(tmp_path)
    row = qa_row(0, "eval")
    row["group_key"] = "train-conv-3"
    (snap / "eval" / "part-00001.jsonl").write_text(json.dumps(row) + "\n")
    train = data.read_split(str(snap / "train"), "train")
    eval_ = data.read_split(str(snap / "eval"), "eval")
    with pytest.raises(DataError, match="train-conv-3 appear in both"):
        data.check_disjoint(train, eval_)


def test_manifest_and_hash_are_read(snapshot):
    assert data.read_manifest(str(snapshot / "train"))["snapshot_version"] == "snap-test"
    a = data.read_split(str(snapshot / "train"))
    b = data.read_split(data.split_uri(str(snapshot), "train"))
    assert a.sha256 == b.sha256 and len(a.sha256) == 64


def test_unpadded_segment_attention_gives_the_padded_losses(tiny_base):
    """The CPU fast path (one unpadded row, SDPA per example) changes no loss, packed or not."""
    import torch
    from transformers import AutoModelForCausalLM

    from llmops_trainer import fastpath
    from llmops_trainer.loop import batch_loss_sum

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_base, attn_implementation="sdpa").eval()
    examples = [
        TokenizedExample(tuple(torch.randint(3, 300, (n,)).tolist()), p, f"e{n}")
        for n, p in ((17, 6), (9, 4), (23, 10), (2, 1))
    ]
    rows = [[0, 1], [2], [3]]
    device = torch.device("cpu")
    flat = data.collate_flat(rows, examples)
    assert flat["input_ids"].shape == (1, sum(len(e.input_ids) for e in examples))
    assert flat["segments"] == [(0, 17), (17, 26), (26, 49), (49, 51)]
    assert flat["position_ids"][0, 17:19].tolist() == [0, 1]
    with torch.no_grad():
        padded, n_padded = batch_loss_sum(model, data.collate(rows, examples, 0), device, None)
        fastpath.set_implementation(model, fastpath.SEGMENT_ATTENTION)
        assert fastpath.enabled(model)
        unpadded, n_unpadded = batch_loss_sum(model, flat, device, None)
        fastpath.set_implementation(model, "sdpa")
    assert n_padded == n_unpadded == sum(e.response_tokens for e in examples)
    assert unpadded.item() == pytest.approx(padded.item(), rel=1e-5)


def test_sparse_dropout_has_the_dropout_distribution():
    import torch

    from llmops_trainer.fastpath import SparseDropout, sparse_dropout_positions

    torch.manual_seed(0)
    p, n, draws = 0.05, 400, 5000
    counts = torch.zeros(n)
    for _ in range(draws):
        positions = sparse_dropout_positions(n, p, "cpu")
        assert positions.unique().numel() == positions.numel()
        assert positions.numel() == 0 or int(positions.max()) < n
        counts[positions] += 1
    rates = counts / draws
    assert rates.mean().item() == pytest.approx(p, abs=0.002)  # every position dropped with rate p
    assert (rates - p).abs().max().item() < 0.02
    drop = SparseDropout.module(p)
    x = torch.ones(50_000)
    y = drop.train()(x)
    assert torch.all((y == 0) | torch.isclose(y, torch.tensor(1 / (1 - p))))
    assert (y == 0).float().mean().item() == pytest.approx(p, abs=0.005)
    assert torch.equal(drop.eval()(x), x)
