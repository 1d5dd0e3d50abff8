"""Serving stage: release → endpoint → registry → canary deploy → smoke test → (restore) → event → aliases.

| step | local | gcp |
|---|---|---|
| ``resolve_release`` | target-neutral: model version + published prompt + machine | |
| ``ReadEndpoint`` | target-neutral: the platform's endpoint (local server / Vertex AI Endpoint) | |
| ``EnsureServingVersion`` | MLflow registry version of the weights | Vertex AI Model Registry version with the serving container spec (weights + prompt) |
| ``DeployModel`` | local endpoint admin API: start the serving container, then switch traffic | ``DeployModelOperator`` with ``traffic_split``, machine / accelerator, min / max replicas |
| ``SmokeTest`` | target-neutral: real requests through the endpoint; answers, latency and log rows checked | |
| ``RestoreEndpoint`` (teardown) | target-neutral: on failure, undeploy the new model and restore the previous split | |
| ``RecordDeployment`` | target-neutral: a ``deployment_events`` row (DuckDB / BigQuery) | |
| ``MoveAliases`` | target-neutral: ``challenger`` (and ``champion`` on a first deployment) | |

Every task that reads or moves the endpoint's traffic runs in the ``llmops_endpoint`` pool (one slot),
shared with monitoring's promote / rollback, so two DAGs never move traffic at the same time.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from llmops_factory import layout, traffic
from llmops_factory.deployment import (
    Deployment,
    EndpointView,
    Release,
    SmokeTestError,
    check_smoke,
    deployment_event,
    planned_split,
    restore_split,
)
from llmops_factory.errors import TaskInputError
from llmops_plugins.stages.base import Step, fail_fast

log = logging.getLogger(__name__)

#: the pool (one slot) of every task that reads or moves endpoint traffic; monitoring uses it too
ENDPOINT_POOL = "llmops_endpoint"
SMOKE_PARAMETERS = {"temperature": 0, "max_new_tokens": 32}


# -- resolve_release ------------------------------------------------------------------------------
def _event_model_version(triggering_asset_events: Mapping[Any, Iterable[Any]] | None) -> str | None:
    versions = [
        (event.extra or {}).get("model_version")
        for events in (triggering_asset_events or {}).values()
        for event in events
        if (getattr(event, "extra", None) or {}).get("model_version")
    ]
    return versions[-1] if versions else None


@fail_fast
def resolve_release(
    params: Mapping[str, Any], triggering_asset_events: Any = None, reason: str | None = None
) -> dict:
    """What to deploy: the model version (param, else the approved-model asset event), its merged weights
    (must exist), the published prompt (param, else the one the model was trained with), the canary share
    and the serving machine."""
    from llmops_factory.prompts import resolve
    from llmops_factory.prompts.errors import PromptError
    from llmops_plugins.platform import get_platform

    platform = get_platform()
    model_version = params.get("model_version") or _event_model_version(triggering_asset_events)
    if not model_version:
        raise TaskInputError(
            "no model version to deploy: set the model_version param, or trigger the DAG from "
            "the approved-model asset"
        )
    root = platform.storage_root()
    folder = root / layout.model(model_version)
    if not (folder / "merged" / "config.json").exists():
        raise TaskInputError(
            f"model version {model_version} has no merged weights at "
            f"{platform.uri(layout.model_merged(model_version))} (config.json missing)"
        )
    prompt = params.get("prompt") or None
    if prompt is None:
        card_path = folder / "model_card.json"
        card = json.loads(card_path.read_text()) if card_path.exists() else {}
        trained = card.get("prompt") or {}
        if not (trained.get("name") and trained.get("version")):
            raise TaskInputError(f"set the prompt param: {model_version} has no model card naming its prompt")
        prompt = f"{trained['name']}@{trained['version']}"
    try:
        pin = resolve(prompt, platform.storage_uri)
    except PromptError as exc:
        raise TaskInputError(f"prompt {prompt}: {exc}") from None
    machine = {
        k: params.get(k)
        for k in (
            "machine_type",
            "accelerator_type",
            "accelerator_count",
            "min_replica_count",
            "max_replica_count",
        )
        if params.get(k)
    }
    percent = int(params.get("canary_percent") or platform.settings.deploy.canary_percent)
    return Release(
        model_name=platform.settings.use_case,
        model_version=model_version,
        registry_version=None,
        model_uri=platform.uri(layout.model_merged(model_version)),
        prompt_ref=pin.ref,
        prompt_version=pin.version,
        prompt_hash=pin.hash,
        canary_percent=percent,
        machine=machine,
        reason=reason or ("approved model" if _event_model_version(triggering_asset_events) else "manual"),
    ).to_dict()


# -- read_endpoint --------------------------------------------------------------------------------
class ReadEndpoint(Step):
    """The endpoint before the change: deployed models (model version + prompt) and traffic split."""

    def run(self, context, platform) -> dict[str, Any]:
        view = EndpointView(**platform.endpoint().describe())
        self.log.info(
            "endpoint %s: split %s, deployed %s",
            view.endpoint,
            view.traffic_split,
            [(m.id, m.display_name) for m in view.models()],
        )
        return view.to_dict()


# -- ensure_registered ----------------------------------------------------------------------------
class EnsureServingVersion(Step):
    """The registry version that serves the release (registered with its serving container spec if it
    is missing): Vertex AI Model Registry on gcp, MLflow's locally."""

    template_fields: Sequence[str] = ("release",)

    def __init__(self, *, release: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = release

    def run(self, context, platform) -> dict[str, Any]:
        release = Release.from_dict(self.release, where="resolve_release")
        registered = platform.registry().ensure_serving_version(release.model_version, release.prompt_ref)
        self.log.info(
            "%s serves as %s version %s", release.display_name, registered.model_name, registered.version
        )
        return Release(
            **{
                **release.to_dict(),
                "registry_version": registered.version,
                "model_name": registered.model_name,
            }
        ).to_dict()


# -- deploy_model ---------------------------------------------------------------------------------
class DeployModel(Step):
    """Deploy the release beside the endpoint's models with a canary share (the first deployment takes
    100%). Idempotent: a release already on the endpoint (same weights and prompt) is not deployed twice.
    """

    template_fields: Sequence[str] = ("release", "endpoint")

    def __init__(self, *, release: Any, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = release
        self.endpoint = endpoint
        self._plan: dict[str, Any] | None = None

    def _prepare(self) -> tuple[Release, EndpointView, dict[str, int], Any]:
        release = Release.from_dict(self.release, where="ensure_registered")
        view = EndpointView.from_dict(self.endpoint, where="read_endpoint")
        existing = view.find(release.model_version, release.prompt_ref)
        try:
            split = (
                planned_split(view, release.canary_percent) if existing is None else dict(view.traffic_split)
            )
        except traffic.TrafficSplitError as exc:
            raise TaskInputError(f"cannot plan the canary split: {exc}") from None
        self._plan = {"release": release.to_dict(), "view": view.to_dict(), "split": split}
        return release, view, split, existing

    def _result(
        self, release: Release, view: EndpointView, deployed_id: str, split: Mapping[str, int], already: bool
    ) -> dict[str, Any]:
        deployment = Deployment(
            endpoint=view.endpoint,
            deployed_model_id=deployed_id,
            model_version=release.model_version,
            prompt_ref=release.prompt_ref,
            previous_split=dict(view.traffic_split),
            traffic_split=traffic.replace_new_id(split, deployed_id),
            first_deployment=not view.traffic_split,
            already_deployed=already,
        )
        self.log.info(
            "deployed model %s (%s): split %s -> %s",
            deployed_id,
            release.display_name,
            deployment.previous_split,
            deployment.traffic_split,
        )
        return deployment.to_dict()

    def local(self, context, platform) -> dict[str, Any]:
        release, view, split, existing = self._prepare()
        if existing is not None:
            self.log.info("%s is already deployed as %s: nothing to do", release.display_name, existing.id)
            return self._result(release, view, existing.id, split, True)
        deployed_id = platform.endpoint().deploy(release, split)
        return self._result(release, view, deployed_id, split, False)

    def gcp(self, context, platform):
        from airflow.providers.google.cloud.operators.vertex_ai.endpoint_service import DeployModelOperator

        from llmops_plugins.platform.gcp import deployed_model_request

        release, view, split, existing = self._prepare()
        if existing is not None:
            self.log.info("%s is already deployed as %s: nothing to do", release.display_name, existing.id)
            return self._result(release, view, existing.id, split, True)
        settings = platform.settings
        endpoint = platform.endpoint()
        return DeployModelOperator(
            task_id=self.task_id,
            project_id=endpoint.project,
            region=endpoint.region,
            endpoint_id=view.endpoint.rsplit("/", 1)[-1],
            deployed_model=deployed_model_request(
                settings,
                release.model_name,
                release.registry_version or "",
                release.display_name,
                release.machine,
            ),
            traffic_split=split,
            gcp_conn_id=settings.gcp.gcp_conn_id,
        )

    def finish(self, context: Any, result: Any) -> Any:
        plan = self._plan or {}
        release = Release.from_dict(plan["release"])
        view = EndpointView.from_dict(plan["view"])
        deployed_id = str(((result or {}).get("deployed_model") or {}).get("id") or "")
        if not deployed_id:
            raise RuntimeError(f"DeployModel answered without a deployed model id: {result}")
        return self._result(release, view, deployed_id, plan["split"], False)


# -- smoke_test -----------------------------------------------------------------------------------
class SmokeTest(Step):
    """Real requests to the new deployed model through the endpoint: every answer must come back, carry
    the release's model and prompt versions and token counts, stay under the latency limit, and be
    logged (where the log can be read at once). Fails closed, without retries, naming every problem;
    the ``restore_endpoint`` teardown then undeploys the new model and restores the previous split."""

    template_fields: Sequence[str] = ("release", "deployment", "requests", "max_latency_ms", "require_text")

    def __init__(
        self,
        *,
        release: Any,
        deployment: Any,
        requests: Any = 8,
        max_latency_ms: Any = 30_000,
        require_text: Any = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.require_text = require_text
        self.release = release
        self.deployment = deployment
        self.requests = requests
        self.max_latency_ms = max_latency_ms

    def instances(self, platform, release: Release) -> list[dict[str, Any]]:
        """The shorter half of the served prompt version's worked examples: real variables the prompt was
        written for (the longest examples probe the token budget, not whether the model answers)."""
        from llmops_factory.prompts import load_prompt, render

        prompt = load_prompt(release.prompt_ref, root=platform.storage_uri)
        examples = sorted(prompt.spec.examples, key=lambda e: len(render(prompt, e.variables).text))
        return [dict(e.variables) for e in examples[: max(1, len(examples) // 2)]]

    def run(self, context, platform) -> dict[str, Any]:
        release = Release.from_dict(self.release, where="ensure_registered")
        deployment = Deployment.from_dict(self.deployment, where="deploy_model")
        wanted = int(self.requests)
        endpoint = platform.endpoint()
        examples = self.instances(platform, release)
        answers: list[dict[str, Any]] = []
        mine = 0
        for i in range(wanted * 10):  # on a shared route, a canary answers about its share of requests
            if mine >= wanted:
                break
            started = time.perf_counter()
            status, body = endpoint.predict(
                [examples[i % len(examples)]],
                SMOKE_PARAMETERS,
                deployed_model_id=deployment.deployed_model_id,
            )
            answers.append({"status": status, "body": body, "seconds": time.perf_counter() - started})
            mine += (
                status == 200
                and body.get("deployedModelId", deployment.deployed_model_id) == deployment.deployed_model_id
            )
        problems = check_smoke(
            answers,
            deployed_model_id=deployment.deployed_model_id,
            model_version=release.model_version,
            prompt_version=release.prompt_version,
            max_latency_ms=float(self.max_latency_ms),
            min_answers=wanted,
            require_text=str(self.require_text).lower() not in ("false", "0", "no"),
        )
        request_ids = [
            a["body"]["requestId"] for a in answers if a["status"] == 200 and "requestId" in a["body"]
        ]
        logged = endpoint.logged(request_ids) if request_ids else None
        if logged is not None and logged < len(request_ids):
            problems.append(f"only {logged} of {len(request_ids)} smoke requests are in prediction_log")
        seconds = [a["seconds"] for a in answers]
        summary = {
            "deployed_model_id": deployment.deployed_model_id,
            "requests": len(answers),
            "answers": mine,
            "p50_ms": round(statistics.median(seconds) * 1000, 1) if seconds else None,
            "logged": logged,
            "passed": not problems,
        }
        self.log.info("smoke test: %s", summary)
        if problems:
            raise SmokeTestError(
                f"smoke test of deployed model {deployment.deployed_model_id} "
                f"({release.display_name}) failed: " + "; ".join(problems)
            )
        return summary


# -- restore_endpoint (teardown) ------------------------------------------------------------------
class RestoreEndpoint(Step):
    """Teardown: unless the smoke test passed, undeploy what this run deployed and restore the previous
    split, then record a ``rollback`` event. Runs whatever happened upstream (failed, timed out, killed),
    and touches only deployed models this run added (never one that was there before)."""

    template_fields: Sequence[str] = ("run_id",)

    def __init__(self, *, run_id: str = "{{ run_id }}", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id

    def run(self, context, platform) -> dict[str, Any]:
        ti = context["ti"]
        smoke = ti.xcom_pull(task_ids="smoke_test")
        if smoke and smoke.get("passed"):
            return {"restored": False, "reason": "smoke test passed"}
        release_value = ti.xcom_pull(task_ids="ensure_registered")
        view_value = ti.xcom_pull(task_ids="read_endpoint")
        if not release_value or not view_value:
            return {"restored": False, "reason": "nothing was deployed (the run stopped before deploying)"}
        release = Release.from_dict(release_value)
        before = EndpointView.from_dict(view_value)
        endpoint = platform.endpoint()
        now = EndpointView(**endpoint.describe())
        added = [
            m
            for m in now.models()
            if m.model_version == release.model_version
            and m.prompt == release.prompt_ref
            and m.id not in before.traffic_split
            and m.id not in {x.id for x in before.models()}
        ]
        if not added:
            return {"restored": False, "reason": "no deployed model of this run is on the endpoint"}
        restored: dict[str, int] = {}
        for model in added:
            deployment = Deployment(
                endpoint=now.endpoint,
                deployed_model_id=model.id,
                model_version=release.model_version,
                prompt_ref=release.prompt_ref,
                previous_split=before.traffic_split,
                traffic_split=now.traffic_split,
                first_deployment=not before.traffic_split,
            )
            remaining = [m.id for m in now.models() if m.id != model.id]
            restored = restore_split(deployment, remaining)
            self.log.warning(
                "undeploying %s (%s) and restoring split %s", model.id, model.display_name, restored
            )
            endpoint.undeploy(model.id, restored)
        reason = "smoke test failed" if smoke is None else f"smoke test failed: {json.dumps(smoke)[:300]}"
        record_event(platform, context, "rollback", release, restored, reason)
        return {"restored": True, "undeployed": [m.id for m in added], "traffic_split": restored}


# -- record_deployment ----------------------------------------------------------------------------
def record_event(
    platform,
    context,
    action: str,
    release: Release,
    split: Mapping[str, int],
    reason: str,
    alias: str | None = None,
    previous_version: str | None = None,
) -> dict[str, Any]:
    """Write one ``deployment_events`` row (idempotent per DAG run and action)."""
    event_time = context.get("logical_date") or getattr(context.get("dag_run"), "run_after", None)
    if event_time is None:
        raise TaskInputError("the run has neither a logical date nor a run_after time for the event")
    row = deployment_event(
        action=action,
        release=release,
        traffic_split=split,
        reason=reason,
        dag_id=context["dag"].dag_id,
        run_id=context["run_id"],
        event_time=event_time,
        target=type(platform).target,  # the adapter that made the move, recorded only
        alias=alias,
        previous_version=previous_version,
    )
    platform.warehouse().upsert("deployment_events", [row])
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


class RecordDeployment(Step):
    """The audit row of the deployment: who (DAG run), what (model, prompt, split) and why."""

    template_fields: Sequence[str] = ("release", "deployment", "smoke")

    def __init__(self, *, release: Any, deployment: Any, smoke: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = release
        self.deployment = deployment
        self.smoke = smoke

    def run(self, context, platform) -> dict[str, Any]:
        release = Release.from_dict(self.release, where="ensure_registered")
        deployment = Deployment.from_dict(self.deployment, where="deploy_model")
        alias = "champion" if deployment.first_deployment else "challenger"
        champion = platform.registry().get_by_alias("champion")
        reason = (
            f"{release.reason}; canary {deployment.traffic_split.get(deployment.deployed_model_id)}%; "
            f"smoke test {json.dumps(self.smoke, sort_keys=True)}"
        )
        return record_event(
            platform,
            context,
            "deploy",
            release,
            deployment.traffic_split,
            reason,
            alias=alias,
            # the champion's model version (what monitoring's events name too), not its registry number
            previous_version=(champion.labels.get("model_version") or champion.version) if champion else None,
        )


# -- move_aliases ---------------------------------------------------------------------------------
class MoveAliases(Step):
    """``challenger`` → the deployed version; on a first deployment (it took 100%) ``champion`` too."""

    template_fields: Sequence[str] = ("release", "deployment")
    aliases: ClassVar[tuple[str, ...]] = ("challenger", "champion")

    def __init__(self, *, release: Any, deployment: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = release
        self.deployment = deployment

    def run(self, context, platform) -> dict[str, Any]:
        release = Release.from_dict(self.release, where="ensure_registered")
        deployment = Deployment.from_dict(self.deployment, where="deploy_model")
        if not release.registry_version:
            raise TaskInputError("the release has no registry version (ensure_registered did not run)")
        registry = platform.registry()
        moved = ["challenger"]
        registry.set_alias("challenger", release.registry_version)
        if deployment.first_deployment:
            registry.set_alias("champion", release.registry_version)
            moved.append("champion")
        self.log.info("aliases %s -> %s version %s", moved, release.model_name, release.registry_version)
        return {"aliases": moved, "version": release.registry_version}
