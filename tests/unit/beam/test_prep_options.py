"""The pipeline's filter options come from the settings' ``dataprep`` block unless a flag overrides them."""

from __future__ import annotations

import pytest

from llmops_beam.pipeline import InvalidOptionsError, parse_args
from llmops_beam.quality import LanguageIdentifier, check_quality

BASE = ["--storage_root", "file:///tmp/x", "--ds", "2026-03-01"]
FRENCH = {
    "kind": "conversation",
    "texts": [
        ["user", "Bonjour, je voudrais résilier mon abonnement. Comment faire et est-ce que je vais payer ?"],
        ["assistant", "Vous pouvez résilier à tout moment depuis votre compte, sans aucuns frais du tout."],
    ],
}


def test_languages_default_to_the_settings_and_drive_the_language_filter(monkeypatch):
    lid = LanguageIdentifier()
    config, _ = parse_args(BASE)
    assert config.languages == ("en",)
    reason, _ = check_quality(FRENCH, 20, 20_000, frozenset(config.languages), lid, None)
    assert reason == "other_language"

    monkeypatch.setenv("LLMOPS_DATAPREP__LANGUAGES", '["fr", "EN"]')
    config, _ = parse_args(BASE)
    assert config.languages == ("en", "fr")
    assert config.summary()["languages"] == ["en", "fr"]  # recorded in the manifest's options
    assert check_quality(FRENCH, 20, 20_000, frozenset(config.languages), lid, None) == (None, "fr")

    config, _ = parse_args([*BASE, "--languages", "de"])  # the flag wins over the settings
    assert config.languages == ("de",)


def test_toxicity_scope_and_threshold_come_from_the_settings(monkeypatch):
    config, _ = parse_args(BASE)
    assert (config.toxicity_scope, config.toxicity_threshold) == ("except_input", 0.8)
    monkeypatch.setenv("LLMOPS_DATAPREP__TOXICITY_SCOPE", "all")
    monkeypatch.setenv("LLMOPS_DATAPREP__TOXICITY_THRESHOLD", "0.9")
    config, _ = parse_args(BASE)
    assert (config.toxicity_scope, config.toxicity_threshold) == ("all", 0.9)
    with pytest.raises(InvalidOptionsError, match="--toxicity_scope='input'"):
        type(config)(storage_root="x", ds="2026-03-01", toxicity_scope="input")
