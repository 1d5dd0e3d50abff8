"""The target is read in one place: the platform adapter (and the step dispatch that asks it).

Everything else receives a platform and uses its services, so adding a target or a step never means
hunting for ``if target`` branches.
"""

from __future__ import annotations

import re

from tests.dags.helpers import REPO

#: the only files allowed to look at which target is active
DISPATCH = {
    "include/llmops_factory/settings.py",  # defines and validates the target
    "plugins/llmops_plugins/platform/__init__.py",  # picks the adapter
    "plugins/llmops_plugins/stages/base.py",  # picks the body of a step
}
TARGET_TESTS = re.compile(
    r"current_target\(|\.target\s*(==|!=|in\b)|getattr\([^)]*\.target\b|\[[^]]*\.target\]"
    r"|environ(\.get)?\(\s*[\"']LLMOPS_TARGET|[\"'](gcp|local)[\"']\s*(==|!=)|(==|!=)\s*[\"'](gcp|local)[\"']"
)


def _sources():
    for folder in ("dags", "plugins", "include", "beam_jobs", "trainer"):
        yield from sorted((REPO / folder).rglob("*.py"))


def test_no_target_test_outside_the_dispatch():
    offenders = []
    for path in _sources():
        relative = str(path.relative_to(REPO))
        if relative in DISPATCH:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if TARGET_TESTS.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "target tested outside the platform adapter / step dispatch:\n" + "\n".join(offenders)


def test_the_pattern_catches_a_target_branch(tmp_path):
    for line in ('if settings.target == "gcp":', "if current_target() == 'local':",
                 'x = "a100" if platform.target != "local" else "cpu"', 'os.environ.get("LLMOPS_TARGET")',
                 "body = getattr(Bodies, platform.target)", "CONFIG[settings.target]"):
        assert TARGET_TESTS.search(line), line
    for line in ('environment_variables={"LLMOPS_TARGET": "gcp"}', "def local(self, context, platform):",
                 "target=platform.target,  # recorded in the audit row"):
        assert not TARGET_TESTS.search(line), line
