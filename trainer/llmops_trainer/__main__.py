"""``python -m llmops_trainer <command> [flags]``: the container's one entrypoint.

Commands: ``train`` (LoRA fine-tuning, see ``train.py``), ``build-base`` (the local base model, see
``base_model.py``) and ``serve`` (the Vertex AI serving container, see ``serve.py``). Bad input exits with status 2 and a one-line error that names the problem.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS = {
    "train": "llmops_trainer.train",
    "build-base": "llmops_trainer.base_model",
    "serve": "llmops_trainer.serve",
}
USAGE = "usage: python -m llmops_trainer {" + ",".join(COMMANDS) + "} [flags] (--help per command)"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"unknown command {command!r}; {USAGE}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command])
    from llmops_trainer.errors import USER_ERRORS

    try:
        return int(module.main(rest) or 0)
    except USER_ERRORS as exc:
        print(f"llmops_trainer {command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
