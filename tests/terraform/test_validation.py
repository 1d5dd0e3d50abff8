"""Bad tfvars values fail in the variables' own validation, with a message naming the variable.

Evaluated by the terraform binary itself on the platform module's variables (a root with no providers,
so `init` and `plan` run offline); skipped where the binary is not installed (the structural check in
test_consistency.py still runs there). Also `terraform fmt -check` over the whole tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.terraform.conftest import REPO

TERRAFORM = os.environ.get("LLMOPS_TERRAFORM") or shutil.which("terraform")
pytestmark = pytest.mark.skipif(not TERRAFORM, reason="terraform binary not installed (CI image without it)")

GOOD = {
    "project_id": '"my-llmops-dev"',
    "environment": '"dev"',
    "region": '"europe-west4"',
    "endpoint_id": '"1001"',
    "alert_emails": '["oncall@example.com"]',
}


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "TF_IN_AUTOMATION": "1",
        "TF_CLI_CONFIG_FILE": os.devnull,
        "CHECKPOINT_DISABLE": "1",
    }


@pytest.fixture(scope="module")
def variables_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("platform-variables")
    shutil.copy2(REPO / "terraform/modules/platform/variables.tf", root / "variables.tf")
    subprocess.run(
        [TERRAFORM, "init", "-input=false", "-backend=false", "-no-color"],
        cwd=root,
        env=_env(),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return root


def plan(root: Path, values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (root / "terraform.tfvars").write_text("".join(f"{k} = {v}\n" for k, v in values.items()))
    return subprocess.run(
        [TERRAFORM, "plan", "-input=false", "-no-color", "-lock=false"],
        cwd=root,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_good_values_pass(variables_root: Path) -> None:
    result = plan(variables_root, GOOD)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_example_tfvars_pass(variables_root: Path, env: str) -> None:
    example = (REPO / f"terraform/envs/{env}/terraform.tfvars.example").read_text()
    (variables_root / "terraform.tfvars").write_text(example + f'\nenvironment = "{env}"\n')
    result = subprocess.run(
        [TERRAFORM, "plan", "-input=false", "-no-color", "-lock=false"],
        cwd=variables_root,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("region", '"mars-central1"', "region must be one of"),
        ("region", '"europe-north1"', "region must be one of"),
        ("training_machine_type", '"e2-micro"', "training_machine_type must be a Vertex AI training machine"),
        (
            "serving_machine_type",
            '"m1-ultramem-40"',
            "serving_machine_type must be a Vertex AI prediction machine",
        ),
        (
            "training_accelerator_type",
            '"NVIDIA_L4"',
            "training_accelerator_type must fit training_machine_type",
        ),
        ("canary_traffic_percent", "75", "canary_traffic_percent must be a whole number from 1 to 50"),
        ("canary_traffic_percent", "0", "canary_traffic_percent must be a whole number from 1 to 50"),
        ("canary_traffic_percent", "12.5", "canary_traffic_percent must be a whole number from 1 to 50"),
        ("endpoint_id", '"0123"', "endpoint_id must be numeric"),
        ("project_id", '"My_Project"', "project_id must be a Google Cloud project id"),
        ("serving_replicas", "{ min = 3, max = 2 }", "serving_replicas must satisfy"),
        ("kms_key_name", '"my-key"', "kms_key_name must be null or"),
    ],
)
def test_bad_value_fails_naming_the_variable(
    variables_root: Path, variable: str, value: str, message: str
) -> None:
    result = plan(variables_root, {**GOOD, variable: value})
    assert result.returncode != 0
    output = " ".join(result.stderr.split())
    assert "Invalid value for variable" in output
    assert message in output, output


def test_terraform_fmt_is_clean() -> None:
    result = subprocess.run(
        [TERRAFORM, "fmt", "-check", "-recursive", "-no-color", str(REPO / "terraform")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"terraform fmt would rewrite: {result.stdout} {result.stderr}"
