"""``python -m llmops_factory.prompts``: the prompts command line (see ``cli``)."""

from __future__ import annotations

from llmops_factory.prompts.cli import main

if __name__ == "__main__":
    main()
