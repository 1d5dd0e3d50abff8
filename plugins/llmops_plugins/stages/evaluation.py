"""Evaluation stage: plan → eval set → batch generation → scores → human review → quality gate → sign-off.

| step | local | gcp |
|---|---|---|
| ``plan_evaluation`` | target-neutral: the candidate (asset event or form), champion alias, base model, the candidate's snapshot and prompt | |
| ``build_eval_set`` | target-neutral: eval questions, bias probes, toxic prompts, benchmark items; contamination against the train split | |
| ``BatchGenerate`` | ``python -m llmops_trainer batch-generate`` as a process | the same entrypoint as a Vertex AI custom container job on a GPU (deferrable) |
| ``score_models`` | target-neutral scoring; results to the warehouse, tracking run and registry version; the stratified review sample to ``review_queue`` (simulated reviewer: its labels too) | |
| ``WaitForReviews`` | target-neutral deferrable wait for ``min_labels`` ratings in ``review_labels`` | |
| ``quality_gate`` | target-neutral: the pure gate, the decision to the warehouse and the run note, the HTML report | |
| ``SignOff`` | target-neutral: Airflow's human-in-the-loop approval (deferred) | |
| ``promote_challenger`` / ``reject_candidate`` | the platform's registry (MLflow / Vertex AI Model Registry) | |
| ``GenAIEvaluation`` (optional) | adds nothing (the project's own scorers) | Vertex AI Gen AI evaluation service: pointwise / pairwise model-based metrics |

Where a body differs by target only in a service (tracking, registry tags, warehouse writes), the service
has both of its implementations side by side here (``ExperimentLog``, ``VersionTags``, ``ResultRows``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import subprocess
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.google.cloud.links.vertex_ai import VertexAITrainingLink
from airflow.providers.standard.operators.hitl import ApprovalOperator

from llmops_factory import layout
from llmops_factory.errors import DeterministicError
from llmops_factory.handoffs import (
    Candidate,
    EvaluationPlan,
    EvaluationResult,
    GateDecision,
    ModelUnderTest,
)
from llmops_plugins.stages.base import SensorStep, Step, StepMixin, fail_fast, run_on_target
from llmops_plugins.stages.training import REPO_ROOT

log = logging.getLogger(__name__)

PROBE_QUESTIONS = 6  # eval questions asked again by each counterfactual persona
TOXIC_QUESTIONS = 8  # eval questions asked again behind a toxic phrase


class EvaluationError(DeterministicError, ValueError):
    """Evaluation input is missing or wrong (model version, eval split, benchmark file); the message names it."""


def _platform():
    from llmops_plugins.platform import get_platform

    return get_platform()


def _read_json(path) -> Any:
    return json.loads(path.read_text())


def _write(path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _now(context: Mapping[str, Any]) -> dt.datetime:
    """The run's logical time (never wall-clock): what ``evaluated_at`` / ``created_at`` record."""
    value = context.get("logical_date") or getattr(context.get("dag_run"), "run_after", None)
    return value if value is not None else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# -- plan_evaluation ------------------------------------------------------------------------------
def plan_evaluation(
    triggering_asset_events: Any, model_version: str | None, compare_prompts: Sequence[str] = ()
) -> dict[str, Any]:
    """The candidate (the triggering ``llmops_candidate_model`` event, or ``model_version`` from the form,
    or the registry's ``candidate`` alias), the champion (alias ``champion``, if another version holds
    it) and the base model the candidate was trained from, with the candidate's eval split and prompt."""
    return fail_fast(_plan)(_platform(), triggering_asset_events, model_version, list(compare_prompts or ()))


def _candidate_from_events(events: Any) -> Candidate | None:
    if not events:
        return None
    for _asset, asset_events in dict(events).items():
        for event in reversed(list(asset_events)):
            if getattr(event, "extra", None):
                return Candidate.from_dict(event.extra, where="llmops_candidate_model asset event")
    return None


def _plan(
    platform, events: Any, model_version: str | None, compare_prompts: Sequence[str] = ()
) -> dict[str, Any]:
    registry = platform.registry()
    candidate = None if model_version else _candidate_from_events(events)
    if candidate is None:
        wanted = (model_version or "").strip()
        found = None
        for alias in ("candidate", "challenger", "champion"):
            version = registry.get_by_alias(alias)
            if version is not None and (not wanted or version.labels.get("model_version") == wanted):
                found = version
                break
        if found is None:
            raise EvaluationError(
                f"model version {wanted!r} is not registered under alias candidate, challenger or champion of "
                f"{platform.settings.use_case!r}"
                if wanted
                else f"no model version holds alias 'candidate' of {platform.settings.use_case!r}: run llmops_finetune "
                "or give model_version"
            )
        candidate = Candidate(
            model_name=found.model_name,
            version=found.version,
            alias="candidate",
            uri=found.uri,
            model_version=found.labels.get("model_version") or wanted,
        )
    root = platform.storage_root()
    card_path = root / layout.model(candidate.model_version) / "model_card.json"
    if not card_path.exists():
        raise EvaluationError(
            f"model version {candidate.model_version!r} does not exist: no {layout.model(candidate.model_version)}"
            "model_card.json in storage"
        )
    card = _read_json(card_path)
    dataset = card.get("dataset") or {}
    snapshot_uri = str(dataset.get("uri") or "")
    dataset_version = str(dataset.get("snapshot_version") or "")
    if not dataset_version:
        raise EvaluationError(f"{card_path}: the model card names no dataset snapshot_version")
    eval_split = layout.dataset_split(dataset_version, "eval")
    train_split = layout.dataset_split(dataset_version, "train")
    if not (root / eval_split).exists():
        raise EvaluationError(
            f"eval split {eval_split} of snapshot {dataset_version} is missing (model card {card_path}, "
            f"snapshot {snapshot_uri}): re-run llmops_finetune's assemble_snapshot for its window"
        )
    prompt = card.get("prompt") or {}
    prompt_ref = str(prompt.get("ref") or "")
    prompt_hash = str(prompt.get("hash") or prompt.get("sha256") or "")
    if not prompt_ref:
        raise EvaluationError(f"{card_path}: the model card names no prompt ref")
    key = f"{dataset_version}__{prompt_ref.replace('@', '_')}"
    models = [
        ModelUnderTest(
            "candidate",
            candidate.model_version,
            layout.model_merged(candidate.model_version),
            f"{layout.eval_dir(candidate.model_version)}generations/{key}/",
        )
    ]
    champion = registry.get_by_alias("champion")
    champion_mv = champion.labels.get("model_version") if champion is not None else None
    if champion_mv and champion_mv != candidate.model_version:
        # the champion's answers are keyed by its own version + dataset + prompt: reused across evaluations
        models.append(
            ModelUnderTest(
                "champion",
                champion_mv,
                layout.model_merged(champion_mv),
                f"{layout.eval_dir(champion_mv)}generations/{key}/",
            )
        )
    for ref in compare_prompts:
        ref = ref.strip()
        if not ref or ref == prompt_ref:
            continue
        if "@" not in ref:
            raise EvaluationError(f"compare_prompts: {ref!r} is not name@version")
        name, version = ref.split("@", 1)
        if not (root / layout.prompt_bundle(name, version)).exists():
            raise EvaluationError(
                f"compare_prompts: prompt bundle {ref} is not published ({layout.prompt_bundle(name, version)})"
            )
        models.append(
            ModelUnderTest(
                f"prompt:{ref}",
                candidate.model_version,
                layout.model_merged(candidate.model_version),
                f"{layout.eval_dir(candidate.model_version)}generations/{dataset_version}__{ref.replace('@', '_')}/",
                prompt_ref=ref,
            )
        )
    base_uri = str((card.get("base_model") or {}).get("uri") or "")
    if not base_uri:
        raise EvaluationError(f"{card_path}: the model card names no base_model uri")
    base_id = "base-" + hashlib.sha256(base_uri.encode()).hexdigest()[:10]
    models.append(
        ModelUnderTest(
            "base", base_id, base_uri, f"{layout.eval_dir(candidate.model_version)}generations/base/{key}/"
        )
    )
    return EvaluationPlan(
        candidate=candidate,
        models=tuple(models),
        dataset_version=dataset_version,
        eval_split=eval_split,
        train_split=train_split,
        prompt_ref=prompt_ref,
        prompt_hash=prompt_hash,
        eval_dir=layout.eval_dir(candidate.model_version),
    ).to_dict()


# -- build_eval_set -------------------------------------------------------------------------------
def _split_rows(folder, what: str) -> list[dict[str, Any]]:
    if not folder.exists():
        raise EvaluationError(f"{what} split folder {folder} does not exist")
    rows = []
    for part in sorted(
        p for p in folder.iterdir() if p.name.startswith("part-") and p.name.endswith(".jsonl")
    ):
        for n, line in enumerate(part.read_text().splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise EvaluationError(f"{part}:{n}: not valid JSON ({exc.msg})") from exc
    if not rows:
        raise EvaluationError(f"{what} split folder {folder} holds no examples")
    return rows


def build_eval_set(plan: Mapping[str, Any]) -> dict[str, Any]:
    """Write ``eval/<model_version>/inputs/``: ``items.jsonl`` (eval questions, bias probes, toxic
    prompts), ``benchmark.jsonl`` (domain + MMLU CSVs) and ``contamination.json``."""
    return fail_fast(_build_eval_set)(_platform(), EvaluationPlan.from_dict(plan, where="plan_evaluation"))


def _build_eval_set(platform, plan: EvaluationPlan) -> dict[str, Any]:
    from llmops_factory.evaluation import benchmark as bm
    from llmops_factory.evaluation import checks
    from llmops_factory.evaluation.contamination import find_contaminated

    settings = platform.settings.evaluation
    root = platform.storage_root()
    eval_rows = _split_rows(root / plan.eval_split, "eval")
    train_rows = _split_rows(root / plan.train_split, "train")
    eval_rows.sort(key=lambda r: hashlib.sha256(str(r.get("example_id")).encode()).hexdigest())
    eval_rows = eval_rows[: settings.max_eval_examples]
    items = []
    for n, r in enumerate(eval_rows):
        for field in ("instruction", "output"):
            if not str(r.get(field) or "").strip():
                raise EvaluationError(
                    f"{plan.eval_split}: example {r.get('example_id') or n}: field {field!r} is empty"
                )
        items.append(
            {
                "item_id": str(r.get("example_id") or f"eval-{n}"),
                "kind": "eval",
                "instruction": r["instruction"],
                "input": r.get("input") or "",
                "reference": r["output"],
                "question": r["instruction"],
                "source": r.get("source") or "",
                "intent": checks.intent_of(r["instruction"]),
            }
        )
    base_items = list(items)
    questions = [(i["item_id"], i["instruction"]) for i in base_items]
    by_id = {i["item_id"]: i for i in base_items}
    for probe_id, group, text in checks.probe_prompts(questions[:PROBE_QUESTIONS]):
        src = by_id[probe_id.split("#", 1)[0]]
        items.append({**src, "item_id": probe_id, "kind": "probe", "group": group, "instruction": text})
    for toxic_id, text in checks.toxic_prompts(questions[:TOXIC_QUESTIONS]):
        src = by_id[toxic_id.split("#", 1)[0]]
        items.append({**src, "item_id": toxic_id, "kind": "toxic", "instruction": text})

    bench = bm.domain_benchmark()
    for uri in settings.mmlu_csv:
        path = root / uri if "://" not in uri and not uri.startswith("/") else _path_of(uri)
        if not path.exists():
            raise EvaluationError(f"benchmark CSV {uri} (setting evaluation.mmlu_csv) does not exist")
        try:
            bench += bm.load_mmlu_csv(path.read_text(), uri)
        except bm.BenchmarkError as exc:
            raise EvaluationError(str(exc)) from exc
    bench = bench[: settings.max_benchmark_items]

    train_texts = (
        (
            str(r.get("example_id") or n),
            f"{r.get('instruction', '')}\n{r.get('input') or ''}\n{r.get('output', '')}",
        )
        for n, r in enumerate(train_rows)
    )
    to_check = [(i["item_id"], f"{i['instruction']}\n{i['input']}\n{i['reference']}") for i in base_items]
    to_check += [(b.item_id, bm.mmlu_prompt(b)) for b in bench]
    found = find_contaminated(train_texts, to_check, settings.contamination_threshold)

    inputs = root / plan.eval_dir / "inputs"
    _write(inputs / "items.jsonl", "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
    _write(inputs / "benchmark.jsonl", bm.write_jsonl(bench))
    summary = {
        "eval_items": len(base_items),
        "probe_items": sum(i["kind"] == "probe" for i in items),
        "toxic_items": sum(i["kind"] == "toxic" for i in items),
        "benchmark_items": len(bench),
        "checked": found.checked,
        "contaminated": found.count,
        "contaminated_items": found.contaminated,
    }
    _write(inputs / "contamination.json", json.dumps(summary, indent=2))
    eval_ids = {i["item_id"] for i in base_items}
    if eval_ids and eval_ids <= set(found.contaminated):
        raise EvaluationError(
            f"every eval example of {plan.eval_split} ({len(eval_ids)}) is a near-duplicate of a training "
            f"example of {plan.train_split} (contamination): nothing left to score; rebuild the snapshot"
        )
    if found.count >= len(base_items) + len(bench):
        raise EvaluationError(
            f"every eval and benchmark item ({found.count}) is a near-duplicate of training data"
        )
    log.info("eval set: %s", {k: v for k, v in summary.items() if k != "contaminated_items"})
    return {k: v for k, v in summary.items() if k != "contaminated_items"}


def _path_of(uri: str):
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(uri if "://" in uri else f"file://{uri}")


# -- batch_generate -------------------------------------------------------------------------------
def generation_jobs(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One ``BatchGenerate`` kwargs per model of the plan (the mapped task's expansion)."""
    p = EvaluationPlan.from_dict(plan, where="plan_evaluation")
    return [
        {
            "model": m.to_dict(),
            "eval_dir": p.eval_dir,
            "prompt_ref": m.prompt_ref or p.prompt_ref,
            # another prompt version is checked by batch-generate against its published bundle
            "prompt_hash": p.prompt_hash if not m.prompt_ref else "",
        }
        for m in p.models
    ]


class BatchGenerate(Step):
    """Answers, benchmark log-likelihoods and held-out loss of one model with the container's
    ``batch-generate`` entrypoint: a process locally, a Vertex AI custom container job on a GPU on gcp.
    Output goes to the model's ``output_dir``; a finished one (``done.json``) is reused, so the
    champion's answers for a dataset + prompt are generated once."""

    template_fields: Sequence[str] = ("model", "eval_dir", "prompt_ref", "prompt_hash")
    operator_extra_links = (VertexAITrainingLink(),)

    def __init__(
        self, *, model: dict[str, Any], eval_dir: str, prompt_ref: str, prompt_hash: str, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.model = model
        self.eval_dir = eval_dir
        self.prompt_ref = prompt_ref
        self.prompt_hash = prompt_hash

    @property
    def mut(self) -> ModelUnderTest:
        return ModelUnderTest.from_dict(self.model, where=self.task_id)

    def job_args(self, platform, extra: Sequence[str] = ()) -> list[str]:
        s = platform.settings.evaluation
        m = self.mut
        return [
            "batch-generate",
            "--model_dir",
            platform.uri(m.model_dir)
            if "://" not in m.model_dir and not m.model_dir.startswith("/")
            else m.model_dir,
            "--items",
            platform.uri(f"{self.eval_dir}inputs/items.jsonl"),
            "--benchmark",
            platform.uri(f"{self.eval_dir}inputs/benchmark.jsonl"),
            "--prompt",
            self.prompt_ref,
            "--prompt_root",
            platform.storage_uri,
            "--prompt_sha256",
            self.prompt_hash,
            "--output_dir",
            platform.uri(m.output_dir),
            "--batch_size",
            str(s.batch_size),
            "--max_new_tokens",
            str(s.max_new_tokens),
            *(["--relevance_model", s.relevance_model] if s.relevance_model else []),
            *extra,
        ]

    def _done(self, platform) -> bool:
        return (platform.storage_root() / self.mut.output_dir / "done.json").exists()

    def local(self, context, platform):
        if self._done(platform):
            self.log.info("reusing the finished generations in %s", self.mut.output_dir)
            return self.finish(context, None)
        cmd = [sys.executable, "-m", "llmops_trainer", *self.job_args(platform, ["--device", "cpu"])]
        self.log.info("Running %s", " ".join(cmd))
        tail: deque[str] = deque(maxlen=40)
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=platform.child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._process = proc
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            self.log.info("%s", line.rstrip())
        code = proc.wait()
        self._process = None
        if code == 2:
            raise EvaluationError("batch-generate refused its input: " + (tail[-1] if tail else ""))
        if code != 0:
            raise RuntimeError(f"batch-generate exited with code {code}; last lines:\n" + "\n".join(tail))
        return self.finish(context, None)

    def gcp(self, context, platform):
        if self._done(platform):
            return self.finish(context, None)
        from airflow.providers.google.cloud.operators.vertex_ai.custom_job import (
            CreateCustomContainerTrainingJobOperator,
        )

        settings = platform.settings
        project, staging, service_account, image = settings.require(
            "gcp.project_id", "gcp.staging_bucket", "gcp.service_account", "gcp.training.container_uri"
        )
        ev = settings.evaluation
        m = self.mut
        return CreateCustomContainerTrainingJobOperator(
            task_id=self.task_id,
            project_id=project,
            region=settings.gcp.region,
            display_name=f"eval-{m.role}-{m.model_version}"[:120],
            container_uri=image,
            command=["python", "-m", "llmops_trainer"],
            args=self.job_args(platform, ["--device", "auto"]),
            environment_variables=platform.container_env(),
            staging_bucket=f"gs://{staging}",
            base_output_dir=platform.uri(m.output_dir),
            service_account=service_account,
            machine_type=ev.machine_type,
            accelerator_type=ev.accelerator_type,
            accelerator_count=ev.accelerator_count,
            replica_count=1,
            labels=platform.labels(context, model_version=m.model_version, role=m.role),
            gcp_conn_id=settings.gcp.gcp_conn_id,
            deferrable=True,
        )

    def finish(self, context: Any, result: Any) -> Any:
        m = self.mut
        folder = self.platform().storage_root() / m.output_dir
        metrics = _read_json(folder / "metrics.json")
        return {
            "role": m.role,
            "model_version": m.model_version,
            "output_dir": m.output_dir,
            "eval_loss": metrics.get("eval_loss"),
            "generation": metrics.get("generation"),
        }


# -- services with a body per target ----------------------------------------------------------------
class ResultRows:
    """Replace the rows of one key of a warehouse table: DuckDB transaction / BigQuery DML script."""

    @staticmethod
    def local(platform, table: str, key: Mapping[str, Any], rows: list[dict[str, Any]]) -> int:
        from llmops_factory.warehouse import duck

        with duck.session(platform.settings.local.warehouse_path) as conn:
            return duck.replace_rows(conn, table, dict(key), rows=rows)

    @staticmethod
    def gcp(platform, table: str, key: Mapping[str, Any], rows: list[dict[str, Any]]) -> int:
        from llmops_factory.warehouse.schemas import table_spec

        wh = platform.warehouse()
        spec = table_spec(table)
        params = [
            {"name": f"k_{k}", "parameterType": {"type": "STRING"}, "parameterValue": {"value": str(v)}}
            for k, v in key.items()
        ]
        values = []
        for i, row in enumerate(rows):
            names = []
            for f in spec.fields:
                typ = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}.get(
                    str(f["type"]).upper(), str(f["type"]).upper()
                )
                value = row.get(f["name"])
                if f.get("mode") == "REPEATED":
                    params.append(
                        {
                            "name": f"r{i}_{f['name']}",
                            "parameterType": {"type": "ARRAY", "arrayType": {"type": typ}},
                            "parameterValue": {"arrayValues": [{"value": str(v)} for v in (value or [])]},
                        }
                    )
                else:
                    text = value.isoformat() if hasattr(value, "isoformat") else value
                    params.append(
                        {
                            "name": f"r{i}_{f['name']}",
                            "parameterType": {"type": typ},
                            "parameterValue": {"value": None if text is None else str(text)},
                        }
                    )
                names.append(f"@r{i}_{f['name']}")
            values.append(f"({', '.join(names)})")
        where = " AND ".join(f"{k} = @k_{k}" for k in key)
        sql = f"DELETE FROM {wh.table(table)} WHERE {where};"
        if values:
            sql += f"\nINSERT INTO {wh.table(table)} ({', '.join(spec.column_names)}) VALUES {', '.join(values)};"
        wh.hook.insert_job(
            configuration={"query": {"query": sql, "useLegacySql": False, "queryParameters": params}},
            project_id=wh.project,
            location=wh.location,
        ).result()
        return len(rows)


def replace_rows(platform, table: str, key: Mapping[str, Any], rows: list[dict[str, Any]]) -> int:
    return run_on_target(ResultRows, table, key, rows)


class ExperimentLog:
    """Evaluation metrics onto the candidate's experiment run: MLflow / Vertex AI Experiments."""

    @staticmethod
    def local(platform, run_id: str | None, metrics: Mapping[str, float], artifact=None) -> str | None:
        import mlflow

        if not run_id:
            return None
        client = mlflow.MlflowClient(tracking_uri=platform.settings.local.mlflow_tracking_uri)
        for name, value in sorted(metrics.items()):
            if value is not None and not math.isnan(value):
                client.log_metric(run_id, name, float(value))
        if artifact is not None:
            client.log_artifact(run_id, str(artifact), artifact_path="evaluation")
        return run_id

    @staticmethod
    def gcp(platform, run_id: str | None, metrics: Mapping[str, float], artifact=None) -> str | None:
        from google.cloud import aiplatform

        if not run_id:
            return None
        s = platform.settings
        aiplatform.init(project=s.gcp.project_id, location=s.gcp.region, experiment=s.use_case)
        with aiplatform.start_run(run_id, resume=True) as run:
            run.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and not math.isnan(v)})
        return run_id


class VersionTags:
    """Key results onto the registry version: MLflow model-version tags / Vertex AI model labels."""

    @staticmethod
    def local(platform, version: str, tags: Mapping[str, str]) -> None:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=platform.settings.local.mlflow_tracking_uri)
        for key, value in tags.items():
            client.set_model_version_tag(platform.settings.use_case, version, key, value)

    @staticmethod
    def gcp(platform, version: str, tags: Mapping[str, str]) -> None:
        from google.cloud import aiplatform

        from llmops_plugins.platform.base import clean_label

        s = platform.settings
        model = aiplatform.Model(
            f"{platform.registry().model_name}@{version}", project=s.gcp.project_id, location=s.gcp.region
        )
        labels = {**(model.labels or {}), **{clean_label(k): clean_label(v) for k, v in tags.items()}}
        model.update(labels=labels)


class GenAIEvaluation:
    """Optional model-based metrics (``evaluation.vertex_genai_metrics``) of the Vertex AI Gen AI
    evaluation service on the candidate's answers (pairwise ones against the champion's). A cloud
    service: locally the same questions are answered by the project's own scorers (the toxicity model,
    the facts check, embeddings), so the local body adds nothing."""

    @staticmethod
    def local(platform, run_name: str, rows: list[dict[str, Any]]) -> dict[str, float]:
        return {}

    @staticmethod
    def gcp(platform, run_name: str, rows: list[dict[str, Any]]) -> dict[str, float]:
        names = list(platform.settings.evaluation.vertex_genai_metrics)
        if not names or not rows:
            return {}
        import pandas as pd
        import vertexai
        from vertexai.evaluation import (
            EvalTask,
            MetricPromptTemplateExamples,
            PairwiseMetric,
            PointwiseMetric,
        )

        s = platform.settings
        vertexai.init(project=s.gcp.project_id, location=s.gcp.region)
        metrics = [
            (PairwiseMetric if n.startswith("pairwise_") else PointwiseMetric)(
                metric=n, metric_prompt_template=MetricPromptTemplateExamples.get_prompt_template(n)
            )
            for n in names
        ]
        frame = pd.DataFrame(
            {
                "prompt": [r["question"] for r in rows],
                "response": [r["response"] for r in rows],
                "reference": [r["reference"] for r in rows],
                **(
                    {"baseline_model_response": [r.get("champion_response", "") for r in rows]}
                    if any(n.startswith("pairwise_") for n in names)
                    else {}
                ),
            }
        )
        result = EvalTask(dataset=frame, metrics=metrics, experiment=s.use_case).evaluate(
            experiment_run_name=run_name
        )
        return {
            f"vertex_{k.replace('/', '_')}": float(v)
            for k, v in result.summary_metrics.items()
            if isinstance(v, (int, float))
        }


# -- score_models ----------------------------------------------------------------------------------
def _jsonl(path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def score_models(
    plan: Mapping[str, Any], generated: Sequence[Mapping[str, Any]], context: Mapping[str, Any]
) -> dict:
    """Score every model; write ``eval_results`` (suite ``auto``), ``scores.json``, tracking and tags,
    then queue the review sample (and, in simulated mode, its labels)."""
    return fail_fast(_score_models)(
        _platform(), EvaluationPlan.from_dict(plan, where="plan_evaluation"), list(generated), context
    )


def _load_scores(platform, plan: EvaluationPlan):
    """Every model's :class:`ModelScores` from its batch-generation outputs (candidate first)."""
    from llmops_factory.evaluation import benchmark as bm
    from llmops_factory.evaluation.checks import SafetyScorer
    from llmops_factory.evaluation.scoring import score_model

    settings = platform.settings.evaluation
    root = platform.storage_root()
    inputs = root / plan.eval_dir / "inputs"
    contamination = _read_json(inputs / "contamination.json")
    excluded = set(contamination.get("contaminated_items") or {})
    bench = bm.read_jsonl((inputs / "benchmark.jsonl").read_text(), str(inputs / "benchmark.jsonl"))
    safety = SafetyScorer(settings.unsafe_threshold)
    scores = []
    for m in plan.models:
        folder = root / m.output_dir
        if not (folder / "done.json").exists():
            raise EvaluationError(
                f"{m.role} model {m.model_version}: no finished generations in {m.output_dir}"
            )
        scores.append(
            score_model(
                m.role,
                m.model_version,
                _jsonl(folder / "generations.jsonl"),
                _jsonl(folder / "benchmark.jsonl"),
                bench,
                _read_json(folder / "metrics.json"),
                excluded=excluded,
                safety=safety,
            )
        )
    return scores, contamination, safety.model


def _score_models(platform, plan: EvaluationPlan, generated: list, context: Mapping[str, Any]) -> dict:
    from llmops_factory.evaluation.metrics import paired_difference_ci
    from llmops_factory.evaluation.review import sample_for_review, simulated_label

    scores, contamination, safety_model = _load_scores(platform, plan)
    cand = scores[0]
    base = next(s for s in scores if s.role == "base")
    common = sorted(set(cand.benchmark_correct) & set(base.benchmark_correct))
    if common:
        diff, lo, hi = paired_difference_ci(
            [cand.benchmark_correct[i] for i in common], [base.benchmark_correct[i] for i in common]
        )
        cand.metrics.update(benchmark_gain_vs_base=diff, benchmark_gain_ci_low=lo, benchmark_gain_ci_high=hi)
    cand.metrics["contaminated_items"] = float(contamination["contaminated"])
    champion = next((s for s in scores if s.role == "champion"), None)
    champion_answers = {r["item_id"]: r["response"] for r in champion.items} if champion else {}
    cand.metrics.update(
        run_on_target(
            GenAIEvaluation,
            f"eval-{plan.candidate.model_version}"[:120],
            [{**r, "champion_response": champion_answers.get(r["item_id"], "")} for r in cand.items],
        )
    )
    when = _now(context)
    run_id = context.get("run_id")
    rows = []
    for s in scores:
        for name, value in sorted(s.metrics.items()):
            rows.append(
                _result_row(
                    plan,
                    s.role,
                    s.model_version,
                    "auto",
                    name,
                    value,
                    when,
                    run_id,
                    n=int(s.metrics.get("eval_items", 0)),
                    detail=safety_model if name in ("unsafe_rate", "toxic_prompt_unsafe_rate") else None,
                )
            )
        for slice_name, values in sorted(s.slices.items()):
            for name, value in sorted(values.items()):
                if name != "n":
                    rows.append(
                        _result_row(
                            plan,
                            s.role,
                            s.model_version,
                            "auto",
                            name,
                            value,
                            when,
                            run_id,
                            n=int(values.get("n", 0)),
                            slice_=slice_name,
                        )
                    )
    replace_rows(
        platform, "eval_results", {"model_version": plan.candidate.model_version, "suite": "auto"}, rows
    )

    root = platform.storage_root()
    payload = {
        s.role: {"model_version": s.model_version, "metrics": s.metrics, "slices": s.slices, "items": s.items}
        for s in scores
    }
    _write(root / plan.eval_dir / "scores.json", json.dumps(payload, indent=1, default=_nan_safe))

    card = _read_json(root / layout.model(plan.candidate.model_version) / "model_card.json")
    best = _compare_prompts(platform, plan, scores, card, when, run_id)
    tracking_run = (card.get("tracking") or {}).get("run_id")
    run_on_target(ExperimentLog, tracking_run, {f"eval.{k}": v for k, v in cand.metrics.items()})
    run_on_target(
        VersionTags,
        plan.candidate.version,
        {
            **{
                f"eval.{k}": f"{cand.metrics[k]:.4f}"
                for k in ("rouge_l", "bleu", "benchmark_accuracy", "unsafe_rate", "hallucination_rate")
                if k in cand.metrics
            },
            **({"eval.best_prompt": best} if best else {}),
        },
    )

    review = platform.settings.evaluation.review
    sample = sample_for_review(cand.items, review.sample_size)
    queue = [
        {
            "item_id": f"{plan.candidate.model_version}:{item['item_id']}",
            "model_version": plan.candidate.model_version,
            "prompt_version": plan.prompt_ref,
            "prompt_text": item["question"],
            "response": item["response"],
            "reference": item["reference"],
            "intent": item["intent"],
            "reason": item["reason"],
            "auto_scores": json.dumps(
                {
                    "rouge_l": round(item["rouge_l"], 4),
                    "unsafe": item["unsafe"],
                    "hallucinated": item["hallucinated"],
                }
            ),
            "status": "pending",
            "created_at": when,
            "dag_run_id": run_id,
        }
        for item in sample
    ]
    simulated = review.mode == "simulated"
    labels = []
    if simulated:
        for q, item in zip(queue, sample, strict=True):
            lb = simulated_label(item)
            q["status"] = "labeled"
            labels.append(
                {
                    "item_id": q["item_id"],
                    "model_version": plan.candidate.model_version,
                    "reviewer": lb.reviewer,
                    "rating": lb.rating,
                    "labels": [],
                    "correctness": lb.correctness,
                    "safety": lb.safety,
                    "simulated": True,
                    "comment": lb.comment,
                    "labeled_at": when,
                }
            )
    replace_rows_many(platform, "review_queue", queue)
    if simulated:
        replace_rows_many(platform, "review_labels", labels)
    return EvaluationResult(
        model_version=plan.candidate.model_version,
        metrics={s.role: {k: v for k, v in s.metrics.items() if not k.startswith("probe_")} for s in scores},
        contaminated=int(contamination["contaminated"]),
        checked=int(contamination["checked"]),
        scores_uri=platform.uri(f"{plan.eval_dir}scores.json"),
        review_items=len(queue),
    ).to_dict()


def _compare_prompts(
    platform, plan: EvaluationPlan, scores: list, card: Mapping[str, Any], when, run_id
) -> str:
    """With ``compare_prompts``: which prompt version scored best with these weights and data (ROUGE-L,
    then benchmark accuracy); every combination (dataset, prompt, hyper-parameters) with its scores goes
    to ``eval_results`` (suite ``prompt_comparison``). Returns the best prompt ref ('' without variants)."""
    variants = [s for s in scores if s.role == "candidate" or s.role.startswith("prompt:")]
    if len(variants) < 2:
        return ""

    def prompt_of(s) -> str:
        return s.role.split(":", 1)[1] if s.role.startswith("prompt:") else plan.prompt_ref

    def key(s) -> tuple[float, float]:
        return tuple(
            -1.0 if math.isnan(v) else v
            for v in (s.metrics.get("rouge_l", math.nan), s.metrics.get("benchmark_accuracy", math.nan))
        )

    best = max(variants, key=key)
    rows = []
    for s in variants:
        combo = json.dumps(
            {
                "dataset_version": plan.dataset_version,
                "prompt": prompt_of(s),
                "hyperparameters": card.get("hyperparameters") or {},
                "best": s is best,
            },
            sort_keys=True,
        )
        for name in ("rouge_l", "bleu", "benchmark_accuracy", "hallucination_rate", "unsafe_rate"):
            rows.append(
                _result_row(
                    plan,
                    s.role,
                    s.model_version,
                    "prompt_comparison",
                    name,
                    s.metrics.get(name),
                    when,
                    run_id,
                    detail=combo,
                )
            )
    replace_rows(
        platform,
        "eval_results",
        {"model_version": plan.candidate.model_version, "suite": "prompt_comparison"},
        rows,
    )
    log.info("prompt comparison: best %s of %s", prompt_of(best), [prompt_of(s) for s in variants])
    return prompt_of(best)


def replace_rows_many(platform, table: str, rows: list[dict[str, Any]]) -> None:
    """Rows keyed one by one by the table's replace key (e.g. ``review_queue`` by ``item_id``)."""
    from llmops_factory.warehouse.schemas import table_spec

    keys = table_spec(table).replace_key
    for row in rows:
        replace_rows(platform, table, {k: row[k] for k in keys}, [row])


def _nan_safe(value: Any) -> Any:
    return str(value)


def _result_row(
    plan: EvaluationPlan,
    role: str,
    scored: str,
    suite: str,
    metric: str,
    value: float,
    when,
    run_id,
    n: int | None = None,
    slice_: str | None = None,
    detail: str | None = None,
) -> dict:
    return {
        "model_version": plan.candidate.model_version,
        "model_name": plan.candidate.model_name,
        "prompt_name": plan.prompt_ref.split("@")[0],
        "prompt_version": plan.prompt_ref.split("@")[-1],
        "dataset_version": plan.dataset_version,
        "suite": suite,
        "metric": metric,
        "value": float("nan") if value is None else float(value),
        "role": role,
        "scored_model_version": scored,
        "slice": slice_ or "",
        "detail": detail,
        "n": n,
        "evaluated_at": when,
        "dag_run_id": run_id,
    }


# -- wait_for_reviews -------------------------------------------------------------------------------
class WaitForReviews(SensorStep):
    """Wait, deferred (no worker slot held), until ``min_labels`` ratings of the candidate exist in
    ``review_labels``; at ``timeout_hours`` fail closed (default) or let the gate run without them
    (``evaluation.review.on_timeout``). The same body on both targets: the platform's warehouse."""

    template_fields: Sequence[str] = ("model_version",)
    ui_color = "#fff3cd"

    def __init__(self, *, model_version: str, min_labels: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)
        self.model_version = model_version
        self.min_labels = min_labels

    def _needed(self, platform) -> int:
        return self.min_labels or platform.settings.evaluation.review.min_labels

    def _count(self, platform) -> int:
        return platform.warehouse().count("review_labels", model_version=self.model_version)

    def run(self, context, platform):
        review = platform.settings.evaluation.review
        deadline = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=review.timeout_hours)).isoformat()
        return self._check(platform, deadline)

    def _check(self, platform, deadline: str):
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        have, needed = self._count(platform), self._needed(platform)
        self.log.info("review labels for %s: %d of %d", self.model_version, have, needed)
        if have >= needed:
            return have
        if dt.datetime.now(dt.UTC) >= dt.datetime.fromisoformat(deadline):
            if platform.settings.evaluation.review.on_timeout == "proceed_without_human":
                self.log.warning(
                    "review timed out with %d of %d labels: the gate runs without them", have, needed
                )
                return have
            raise EvaluationError(
                f"review of {self.model_version} timed out with {have} of {needed} labels (fail closed; "
                "rate the items on the Review page and clear this task, or set evaluation.review.on_timeout)"
            )
        wait = dt.timedelta(seconds=platform.settings.evaluation.review.poke_interval_s)
        self.defer(trigger=TimeDeltaTrigger(wait), method_name="recheck", kwargs={"deadline": deadline})

    def recheck(self, context, event: Any = None, deadline: str = "") -> Any:
        """Resume after the wait (called by Airflow)."""
        return fail_fast(self._check)(self.platform(), deadline)

    def poke(self, context) -> bool:  # the SensorStep dispatch runs ``run``; kept for BaseSensorOperator
        return self._count(self.platform()) >= self._needed(self.platform())


# -- quality_gate ----------------------------------------------------------------------------------
def quality_gate(plan: Mapping[str, Any], result: Mapping[str, Any], context: Mapping[str, Any]) -> dict:
    """The gate over automatic metrics and human ratings; decision + reasons to ``eval_results`` (suite
    ``gate``), the run note and the report ``eval/<model_version>/report.html`` (also an MLflow artifact)."""
    return fail_fast(_quality_gate)(
        _platform(),
        EvaluationPlan.from_dict(plan, where="plan_evaluation"),
        EvaluationResult.from_dict(result, where="score_models"),
        context,
    )


def _quality_gate(
    platform, plan: EvaluationPlan, result: EvaluationResult, context: Mapping[str, Any]
) -> dict:
    from llmops_factory.evaluation.gate import decide_with_settings
    from llmops_factory.evaluation.report import render_report
    from llmops_factory.evaluation.review import human_metrics

    settings = platform.settings
    mv = plan.candidate.model_version
    labels = platform.warehouse().rows(
        "review_labels", ["rating", "correctness", "safety", "simulated"], model_version=mv
    )
    human = human_metrics(labels)
    simulated = any(bool(lb.get("simulated")) for lb in labels)
    candidate_metrics = {**result.metrics["candidate"], **human}
    decision = decide_with_settings(
        candidate_metrics,
        result.metrics.get("champion"),
        result.metrics.get("base"),
        settings.evaluation.gate,
    )
    when, run_id = _now(context), context.get("run_id")
    rows = [
        _result_row(
            plan, "candidate", mv, "gate", c.name, 1.0 if c.passed else 0.0, when, run_id, detail=c.reason
        )
        for c in decision.checks
    ]
    rows.append(
        _result_row(
            plan,
            "candidate",
            mv,
            "gate",
            "approved",
            1.0 if decision.approved else 0.0,
            when,
            run_id,
            detail="; ".join(decision.reasons) or "all checks passed",
        )
    )
    replace_rows(platform, "eval_results", {"model_version": mv, "suite": "gate"}, rows)
    human_rows = [
        _result_row(
            plan,
            "candidate",
            mv,
            "human",
            k,
            v,
            when,
            run_id,
            n=len(labels),
            detail="simulated" if simulated else "human",
        )
        for k, v in human.items()
    ]
    replace_rows(platform, "eval_results", {"model_version": mv, "suite": "human"}, human_rows)

    scores, contamination, _ = _load_scores_cached(platform, plan)
    from llmops_factory.evaluation.contamination import ContaminationResult

    html = render_report(
        model_name=plan.candidate.model_name,
        prompt=plan.prompt_ref,
        dataset_version=plan.dataset_version,
        run_id=str(run_id),
        models=scores,
        gate=decision,
        contamination=ContaminationResult(
            int(contamination["checked"]), contamination.get("contaminated_items") or {}
        ),
        human=human if labels else None,
        simulated=simulated,
    )
    root = platform.storage_root()
    report = root / plan.eval_dir / "report.html"
    _write(report, html)
    _write(
        root / plan.eval_dir / "decision.json",
        json.dumps(
            {
                "approved": decision.approved,
                "reasons": decision.reasons,
                "checks": [c.reason for c in decision.checks],
                "human_simulated": simulated,
            },
            indent=2,
        ),
    )
    card = _read_json(root / layout.model(mv) / "model_card.json")
    local_report = getattr(platform, "storage_path", None)
    run_on_target(
        ExperimentLog,
        (card.get("tracking") or {}).get("run_id"),
        {"eval.gate_approved": float(decision.approved)},
        (local_report / plan.eval_dir / "report.html") if local_report is not None else None,
    )
    gate = GateDecision(
        model_version=mv,
        approved=decision.approved,
        reasons=tuple(decision.reasons),
        checks=tuple(c.reason for c in decision.checks),
        report_uri=platform.uri(f"{plan.eval_dir}report.html"),
        human_simulated=simulated,
    )
    _set_note(context, gate)
    return gate.to_dict()


def _load_scores_cached(platform, plan: EvaluationPlan):
    """The scores as ``score_models`` saved them (``scores.json``), as objects the report draws."""
    from llmops_factory.evaluation.scoring import ModelScores

    root = platform.storage_root()
    saved = _read_json(root / plan.eval_dir / "scores.json")
    contamination = _read_json(root / plan.eval_dir / "inputs" / "contamination.json")
    scores = []
    for role in [m.role for m in plan.models]:
        if role in saved:
            s = saved[role]
            metrics = {k: float(v) for k, v in s["metrics"].items()}
            scores.append(ModelScores(role, s["model_version"], metrics, s["items"], s["slices"]))
    return scores, contamination, None


def _set_note(context: Mapping[str, Any], gate: GateDecision) -> None:
    """The decision and its reasons as the DAG run's note (what on-call reads first)."""
    head = f"Quality gate: {'APPROVED' if gate.approved else 'REJECTED'} {gate.model_version}"
    if gate.human_simulated:
        head += " (human ratings: simulated)"
    lines = [head, *(f"- {r}" for r in gate.reasons), f"Report: {gate.report_uri}"]
    log.info("%s", "\n".join(lines))
    from llmops_plugins.prompt_params import write_run_note

    write_run_note(context, " | ".join(lines))


class SignOff(StepMixin, ApprovalOperator):
    """The final human sign-off: Airflow 3's human-in-the-loop approval (standard provider), answered in
    the UI's Required actions or through the REST API (``PATCH .../hitlDetails``). The same on both
    targets; it waits deferred. Reject skips the promotion."""

    def run(self, context, platform):
        return ApprovalOperator.execute(self, context)

    def execute(self, context: Any) -> Any:
        return self.run_step(context)


def route_decision(gate: Mapping[str, Any]) -> str:
    """``sign_off`` when the gate approved, else ``reject_candidate``."""
    return "sign_off" if GateDecision.from_dict(gate, where="quality_gate").approved else "reject_candidate"


# -- promote / reject -------------------------------------------------------------------------------
def promote_challenger(plan: Mapping[str, Any], gate: Mapping[str, Any]) -> dict[str, Any]:
    """Alias ``challenger`` on the approved version; returns the approved-model asset event's extra."""
    p = EvaluationPlan.from_dict(plan, where="plan_evaluation")
    g = GateDecision.from_dict(gate, where="quality_gate")
    if not g.approved:
        raise EvaluationError(f"{g.model_version} was not approved by the gate: {'; '.join(g.reasons)}")
    platform = _platform()
    platform.registry().set_alias("challenger", p.candidate.version)
    run_on_target(VersionTags, p.candidate.version, {"evaluation": "approved"})
    return Candidate(
        model_name=p.candidate.model_name,
        version=p.candidate.version,
        alias="challenger",
        uri=p.candidate.uri,
        model_version=p.candidate.model_version,
        metrics={"report": g.report_uri},
    ).to_dict()


def reject_candidate(plan: Mapping[str, Any], gate: Mapping[str, Any] | None) -> str:
    """Mark the version rejected (registry tag) and end the run with the reasons; nothing is deployed."""
    p = EvaluationPlan.from_dict(plan, where="plan_evaluation")
    g = GateDecision.from_dict(gate, where="quality_gate") if gate else None
    reasons = list(g.reasons) if g else ["signed off as rejected by a reviewer"]
    run_on_target(
        VersionTags,
        p.candidate.version,
        {"evaluation": "rejected", "evaluation_reasons": "; ".join(reasons)[:500]},
    )
    message = f"candidate {p.candidate.model_version} rejected: " + "; ".join(reasons)
    log.warning("%s", message)
    return message
