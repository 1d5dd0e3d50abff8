"""Package of the data-preparation pipeline for Dataflow workers (``--setup_file beam_jobs/setup.py``).

Ships two packages: ``llmops_beam`` (beside this file) and ``llmops_factory`` (the shared prompt
renderer, storage layout, warehouse schemas and PII recognisers). ``llmops_factory`` is found either
beside this file (a bundle layout, and the layout inside the sdist this file builds) or in the
repository's ``include/`` folder. Beam builds an sdist of this project (``python -m build --sdist``)
and workers ``pip install`` it; the sdist always carries ``llmops_factory`` beside ``llmops_beam``.
"""

from __future__ import annotations

import os
import shutil

import setuptools
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLED = os.path.join(HERE, "llmops_factory")
IN_REPO = os.path.join(os.path.dirname(HERE), "include", "llmops_factory")
FACTORY = BUNDLED if os.path.isdir(BUNDLED) else IN_REPO
if not os.path.isdir(FACTORY):
    raise SystemExit(f"llmops_factory not found beside {HERE} nor in {os.path.dirname(IN_REPO)}")
FACTORY_DIR = os.path.relpath(FACTORY, HERE)
#: test/demo-only packages of llmops_factory that Dataflow workers never run (the data generator)
NOT_SHIPPED = ("datagen",)

REQUIREMENTS = [
    "datasketch==2.0.0",
    "scipy==1.17.1",
    "phonenumbers==9.0.43",
    "python-stdnum==2.2",
    "py3langid==0.4.0",
    "alt-profanity-check==1.9.1",
    "scikit-learn==1.9.1",
    "joblib==1.6.0",
    "Jinja2==3.1.6",
    "PyYAML==6.0.4",
    "pydantic==2.14.4",
]


def _packages() -> list[str]:
    factory = ["llmops_factory"] + [
        "llmops_factory." + p for p in setuptools.find_packages(FACTORY, exclude=["*.tests", "*.tests.*", *NOT_SHIPPED, *(f"{n}.*" for n in NOT_SHIPPED)])
    ]
    return setuptools.find_packages(HERE, include=["llmops_beam", "llmops_beam.*"]) + factory


class BundlingSdist(sdist):
    """An sdist whose ``llmops_factory`` sits beside ``llmops_beam`` even when built from the repository."""

    def make_release_tree(self, base_dir, files):
        inside = [f for f in files if not os.path.relpath(os.path.join(HERE, f), HERE).startswith("..")]
        super().make_release_tree(base_dir, inside)
        target = os.path.join(base_dir, "llmops_factory")
        if not os.path.isdir(target):
            shutil.copytree(FACTORY, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", *NOT_SHIPPED))


setuptools.setup(
    name="llmops-beam",
    version="1.0.0",
    description="LLMOps Factory data preparation: raw conversations and documents to instruction examples.",
    packages=_packages(),
    package_dir={"llmops_factory": FACTORY_DIR},
    package_data={"llmops_factory": ["**/*.json", "**/*.yaml", "**/*.sql"]},
    include_package_data=False,
    install_requires=REQUIREMENTS,
    python_requires=">=3.10",
    cmdclass={"sdist": BundlingSdist},
    py_modules=["data_prep"],
)
