from __future__ import annotations

import datetime as dt

import pytest

from llmops_factory import layout


def test_fixed_layout():
    assert layout.raw_partition("support_chats", "2026-01-03") == "raw/support_chats/dt=2026-01-03/"
    assert layout.raw_partition("faq", dt.date(2026, 1, 3)) == "raw/faq/dt=2026-01-03/"
    assert layout.dataset_split("daily-2026-01-03", "train") == "datasets/daily-2026-01-03/train/"
    assert layout.dataset_dead_letter("snap-abc") == "datasets/snap-abc/dead_letter/"
    assert layout.prompt_bundle("support_assistant", "1.0.0") == "prompts/support_assistant/1.0.0/"
    assert layout.model_adapter("m1") == "models/m1/adapter/"
    assert layout.model_merged("m1") == "models/m1/merged/"
    assert layout.eval_dir("m1") == "eval/m1/"
    assert layout.daily_dataset_version("2026-01-03") == "daily-2026-01-03"
    assert layout.join("gs://b/", "/raw/x/") == "gs://b/raw/x/"


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x y"])
def test_unsafe_segments_are_refused(bad):
    with pytest.raises(layout.LayoutError, match="not a valid storage path segment"):
        layout.model(bad)


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday", "2026/01/01", None])
def test_bad_dates_are_refused(bad):
    with pytest.raises(layout.LayoutError, match="YYYY-MM-DD"):
        layout.raw_partition("faq", bad)


def test_bad_split():
    with pytest.raises(layout.LayoutError, match="split"):
        layout.dataset_split("v", "test")
