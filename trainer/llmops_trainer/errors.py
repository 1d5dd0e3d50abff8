"""The errors that mean bad input (reported in one line, exit status 2) rather than a bug."""

from __future__ import annotations

from llmops_factory.prompts.errors import PromptError
from llmops_factory.settings import SettingsError
from llmops_trainer.args import ArgumentError
from llmops_trainer.base_model import BaseModelBuildError
from llmops_trainer.data import DataError
from llmops_trainer.modeling import ModelError
from llmops_trainer.serve_engine import ModelLoadError
from llmops_trainer.serve_schema import ServeConfigError

USER_ERRORS: tuple[type[BaseException], ...] = (
    ArgumentError,
    DataError,
    ModelError,
    BaseModelBuildError,
    SettingsError,
    PromptError,
    ServeConfigError,
    ModelLoadError,
)
