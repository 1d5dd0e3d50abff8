"""Driver of the data-preparation Beam pipeline (what ``BeamRunPythonPipelineOperator(py_file=...)`` runs).

    python beam_jobs/data_prep.py --storage_root file:///abs/.llmops/storage --ds 2026-01-01 \
        --runner DirectRunner --direct_num_workers 1
    python beam_jobs/data_prep.py --storage_root gs://BUCKET --ds 2026-01-01 --runner DataflowRunner \
        --project P --region R --temp_location gs://BUCKET/tmp --setup_file beam_jobs/setup.py

Flags of the pipeline itself are listed by ``--help``; every other flag goes to ``PipelineOptions``.
The pipeline code lives in the ``llmops_beam`` package beside this file; ``llmops_factory`` (the shared
prompt renderer, layout and PII recognisers) is found in the repository's ``include/`` folder or beside
this file in a bundle.
"""

from __future__ import annotations

import logging
import os
import sys


def _bootstrap_path() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        import llmops_factory  # noqa: F401
    except ImportError:
        include = os.path.join(os.path.dirname(here), "include")
        if os.path.isdir(os.path.join(include, "llmops_factory")):
            sys.path.insert(0, include)


def main(argv: list[str] | None = None) -> int:
    _bootstrap_path()
    from llmops_beam.pipeline import run

    result = run(argv)
    logging.getLogger(__name__).info("data prep finished: %s", result)
    print(result)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(main())
