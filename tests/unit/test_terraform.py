"""The Terraform of the AWS foundation, checked statically: format, HCL, wiring, retention.

`terraform init / validate / plan` need the AWS provider: they run only where a provider
mirror is configured (MIRANTE_TEST_TF_PLUGIN_DIR), and are skipped otherwise, with the
reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from mirante import settings as settings_mod
from mirante.infra import outputs
from mirante.load import projection
from tests.helpers import REPO

TERRAFORM = REPO / "terraform"
MODULES = sorted(p.name for p in (TERRAFORM / "modules").iterdir() if p.is_dir())
ENVS = ("dev", "staging", "prod")


def unquote(value: Any) -> Any:
    return value.strip('"') if isinstance(value, str) else value


def load(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle)
    return parsed


def blocks(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Every ``kind`` block (variable, output, module...) of a module, by its name."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in load(path).get(kind, []):
            for name, body in block.items():
                found[unquote(name)] = body
    return found


def module_call(directory: Path, name: str) -> dict[str, Any]:
    return blocks(directory, "module")[name]


def arguments(call: dict[str, Any]) -> set[str]:
    return {k for k in call if not k.startswith("__") and k not in ("source", "depends_on")}


def env_settings() -> settings_mod.Settings:
    return settings_mod.load(REPO, environ={})


def test_terraform_fmt_finds_nothing_to_change() -> None:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH (this machine preinstalls it; install 1.11+)")
    done = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_file_parses_as_hcl() -> None:
    files = sorted(TERRAFORM.rglob("*.tf"))
    assert len(files) >= 20
    for path in files:
        assert load(path), path


@pytest.mark.parametrize("module", [m for m in MODULES if m != "foundation"])
def test_the_foundation_wires_every_variable_of_each_module_and_no_other(module: str) -> None:
    variables = set(blocks(TERRAFORM / "modules" / module, "variable"))
    call = module_call(TERRAFORM / "modules" / "foundation", module)
    assert unquote(call["source"]) == f"../{module}"
    assert arguments(call) == variables


@pytest.mark.parametrize("env", ENVS)
def test_each_env_wires_every_variable_of_the_foundation(env: str) -> None:
    variables = set(blocks(TERRAFORM / "modules" / "foundation", "variable"))
    call = module_call(TERRAFORM / "envs" / env, "foundation")
    assert arguments(call) == variables
    assert unquote(call["env"]) == env


@pytest.mark.parametrize("env", ENVS)
def test_each_env_outputs_what_the_k8s_layer_reads(env: str) -> None:
    declared = set(blocks(TERRAFORM / "envs" / env, "output"))
    assert set(outputs.K8S_READS) <= declared
    foundation = set(blocks(TERRAFORM / "modules" / "foundation", "output"))
    for name in declared - {"region"}:
        assert name in foundation, name


@pytest.mark.parametrize("env", ENVS)
def test_each_env_keeps_its_state_in_s3_locked_in_dynamodb(env: str) -> None:
    (settings,) = load(TERRAFORM / "envs" / env / "main.tf")["terraform"]
    (backend,) = settings["backend"]
    s3 = backend['"s3"']
    aws = env_settings().environments.get(env).aws
    assert aws is not None
    assert unquote(s3["key"]) == f"{env}/foundation.tfstate"
    assert unquote(s3["dynamodb_table"]) == "mirante-tflock"
    assert s3["encrypt"] is True
    assert unquote(s3["bucket"]) == f"mirante-tfstate-{aws.account}"
    assert unquote(s3["region"]) == aws.region


@pytest.mark.parametrize("env", ENVS)
def test_the_providers_are_pinned(env: str) -> None:
    for path in [TERRAFORM / "envs" / env / "main.tf"] + [
        TERRAFORM / "modules" / m / "versions.tf" for m in MODULES
    ]:
        (settings,) = load(path)["terraform"]
        (required,) = settings["required_providers"]
        assert {k for k in required if not k.startswith("__")} == {"aws"}, path
        assert unquote(required["aws"]["version"]) == "~> 6.0", path
        assert unquote(settings["required_version"]) == ">= 1.11", path


def foundation_of(env: str) -> dict[str, Any]:
    return module_call(TERRAFORM / "envs" / env, "foundation")


def foundation_locals() -> dict[str, Any]:
    (found,) = load(TERRAFORM / "modules" / "foundation" / "main.tf")["locals"]
    return found


@pytest.mark.parametrize("env", ENVS)
def test_buckets_outlive_what_reads_them_by_at_most_a_few_days(env: str) -> None:
    """Loki's and Tempo's compactors apply the retention; the lifecycle rule backs it up.

    A rule shorter than the retention would delete data the services still serve.
    """
    config = env_settings()
    profile = next(p for p in projection.profiles(config, 1.0) if p.env == env)
    foundation = foundation_of(env)
    days = foundation["retention_days"]
    on_s3 = config.environments.get(env).storage is not None
    assert foundation["object_storage"] is on_s3
    assert {"metrics", "backups"} <= set(days)
    if not on_s3:
        assert not {"logs", "traces"} & set(days)
        return
    for signal in ("logs", "traces"):
        kept = profile.retention_days[signal]
        assert kept <= days[signal] <= kept + 3, (signal, kept, days[signal])


def test_object_storage_makes_the_logs_and_traces_buckets_and_roles() -> None:
    found = foundation_locals()
    assert '["logs", "traces", "metrics", "backups"]' in found["signals"]
    roles = found["storage_roles"]
    assert [unquote(b) for b in roles["loki"]["buckets"]] == ["logs"]
    assert [unquote(b) for b in roles["tempo"]["buckets"]] == ["traces"]
    assert unquote(roles["loki"]["service_account"]) == "loki"
    assert roles["loki"]["namespace"] == "${var.observability_namespace}"


@pytest.mark.parametrize("env", ENVS)
def test_the_environments_file_names_the_buckets_and_roles_terraform_makes(env: str) -> None:
    chosen = env_settings().environments.get(env)
    foundation = foundation_of(env)
    assert unquote(foundation["observability_namespace"]) == chosen.observability_namespace
    assert unquote(foundation["app_namespace"]) == chosen.app_namespace
    if chosen.storage is None:
        return
    assert chosen.aws is not None
    # module s3 names buckets <prefix>-<signal>; module iam names roles <prefix>-<name>.
    prefix = f"mirante-{env}"
    assert chosen.storage.logs_bucket == f"{prefix}-logs"
    assert chosen.storage.traces_bucket == f"{prefix}-traces"
    assert chosen.storage.loki_role == f"arn:aws:iam::{chosen.aws.account}:role/{prefix}-loki"
    assert chosen.storage.tempo_role == f"arn:aws:iam::{chosen.aws.account}:role/{prefix}-tempo"
    s3 = load(TERRAFORM / "modules" / "s3" / "main.tf")["resource"]
    bucket = next(r['"aws_s3_bucket"']['"this"'] for r in s3 if '"aws_s3_bucket"' in r)
    assert unquote(bucket["bucket"]) == "${var.name_prefix}-${each.key}"


@pytest.mark.parametrize("env", ENVS)
def test_node_groups_are_sized_consistently(env: str) -> None:
    foundation = foundation_of(env)
    for group in ("monitoring_nodes", "app_nodes"):
        sizes = foundation[group]
        assert 1 <= sizes["min"] <= sizes["desired"] <= sizes["max"], (env, group)
    groups = foundation_locals()["node_groups"]
    assert "var.observability_namespace" in groups["monitoring"]
    assert "var.app_namespace" in groups["app"]


def test_the_iam_policies_name_their_buckets_and_service_accounts_never_a_wildcard() -> None:
    text = (TERRAFORM / "modules" / "iam" / "main.tf").read_text()
    assert '"s3:*"' not in text
    assert "system:serviceaccount:${each.value.namespace}:${each.value.service_account}" in text
    assert '"${var.oidc_issuer}:aud"' in text


def test_plan_with_real_providers_runs_only_where_a_mirror_is_configured(tmp_path: Path) -> None:
    mirror = os.environ.get("MIRANTE_TEST_TF_PLUGIN_DIR", "")
    if not mirror:
        pytest.skip(
            "terraform init / validate need the hashicorp/aws provider and no registry "
            "answers here: set MIRANTE_TEST_TF_PLUGIN_DIR to a provider mirror to run them"
        )
    for env in ENVS:
        work = tmp_path / env
        shutil.copytree(TERRAFORM, work / "terraform")
        directory = work / "terraform" / "envs" / env
        for args in (
            ["init", "-backend=false", f"-plugin-dir={mirror}", "-input=false"],
            ["validate", "-no-color"],
        ):
            done = subprocess.run(
                ["terraform", f"-chdir={directory}", *args],
                capture_output=True, text=True, check=False, timeout=600,
            )  # fmt: skip
            assert done.returncode == 0, (env, args, done.stdout + done.stderr)
