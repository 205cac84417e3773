"""The Terraform of the AWS foundation, checked statically: format, HCL, wiring, retention.

`terraform init / validate / plan` need the AWS provider: they run only where a provider
mirror is configured (MIRANTE_TEST_TF_PLUGIN_DIR), and are skipped otherwise, with the
reason.
"""

from __future__ import annotations

import functools
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


def child(mapping: dict[str, Any], name: str) -> Any:
    """``mapping[name]``, whether python-hcl2 kept the label's quotes or not."""
    (found,) = [v for k, v in mapping.items() if unquote(k) == name]
    return found


def resources(module: str, kind: str) -> dict[str, dict[str, Any]]:
    """Every resource (or data source, ``data.<kind>``) of ``kind`` in a module, by name."""
    section, kind = ("data", kind[5:]) if kind.startswith("data.") else ("resource", kind)
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((TERRAFORM / "modules" / module).glob("*.tf")):
        for block in load(path).get(section, []):
            for kind_name, bodies in block.items():
                if unquote(kind_name) == kind:
                    found |= {unquote(k): v for k, v in bodies.items()}
    return found


@functools.cache
def load(path: Path) -> dict[str, Any]:
    """A Terraform file as python-hcl2 reads it, parsed once per run (read-only)."""
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
def test_each_env_keeps_its_state_in_s3_locked_there(env: str) -> None:
    """S3-native locking (use_lockfile): the DynamoDB table is deprecated for it."""
    (settings,) = load(TERRAFORM / "envs" / env / "main.tf")["terraform"]
    (backend,) = settings["backend"]
    s3 = child(backend, "s3")
    aws = env_settings().environments.get(env).aws
    assert aws is not None
    assert unquote(s3["key"]) == f"{env}/foundation.tfstate"
    assert s3["use_lockfile"] is True
    assert "dynamodb_table" not in s3
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
    assert '["logs", "traces", "metrics", "backups"]' in found["signals"].replace("'", '"')
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
    # module s3 names buckets <prefix>-<signal>-<account> (the suffix, when set, instead);
    # module iam names roles <prefix>-<name>.
    prefix = f"mirante-{env}"
    assert unquote(foundation["bucket_suffix"]) == ""
    account = chosen.aws.account
    assert chosen.storage.logs_bucket == f"{prefix}-logs-{account}"
    assert chosen.storage.traces_bucket == f"{prefix}-traces-{account}"
    assert chosen.storage.loki_role == f"arn:aws:iam::{account}:role/{prefix}-loki"
    assert chosen.storage.tempo_role == f"arn:aws:iam::{account}:role/{prefix}-tempo"
    bucket = resources("s3", "aws_s3_bucket")["this"]
    assert unquote(bucket["bucket"]) == "${local.names[each.key]}"
    (names,) = load(TERRAFORM / "modules" / "s3" / "main.tf")["locals"]
    assert '"${var.name_prefix}-${signal}-${local.suffix}"' in names["names"]
    assert "data.aws_caller_identity.current.account_id" in names["suffix"]


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


def test_no_module_writes_the_partition_in_an_arn() -> None:
    """arn:aws: is wrong in GovCloud and China: every ARN takes aws_partition's."""
    for path in sorted(TERRAFORM.rglob("*.tf")):
        assert "arn:aws:" not in path.read_text(), path


def test_the_cluster_gets_the_ebs_csi_driver_with_its_irsa_role() -> None:
    """Without it no volume is made (EKS >= 1.23): every release rolls back."""
    addon = resources("eks", "aws_eks_addon")["ebs_csi"]
    assert unquote(addon["addon_name"]) == "aws-ebs-csi-driver"
    assert unquote(addon["service_account_role_arn"]) == "${aws_iam_role.ebs_csi.arn}"
    trust = resources("eks", "data.aws_iam_policy_document")["ebs_csi_trust"]
    conditions = {unquote(c["variable"]): c["values"] for c in trust["statement"][0]["condition"]}
    assert conditions == {
        "${local.oidc}:sub": ["system:serviceaccount:kube-system:ebs-csi-controller-sa"],
        "${local.oidc}:aud": ["sts.amazonaws.com"],
    }
    attached = resources("eks", "aws_iam_role_policy_attachment")["ebs_csi"]
    assert unquote(attached["policy_arn"]).endswith(
        ":iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
    )
    key = resources("eks", "data.aws_iam_policy_document")["ebs_csi_key"]
    assert {tuple(s["resources"]) for s in key["statement"]} == {("${aws_kms_key.cluster.arn}",)}
    assert "${aws_eks_node_group.this}" in addon["depends_on"]  # its controller needs nodes


def test_the_storage_class_is_encrypted_with_the_module_key_that_terraform_outputs() -> None:
    from mirante.remote import generated

    outputs_tf = blocks(TERRAFORM / "modules" / "eks", "output")
    assert unquote(outputs_tf["volumes_kms_key_arn"]["value"]) == "${aws_kms_key.cluster.arn}"
    assert "volumes_kms_key_arn" in outputs.K8S_READS
    config = env_settings()
    made = generated.storage_class(config, config.environments.get("prod"))
    assert made["provisioner"] == "ebs.csi.aws.com"  # the add-on's driver
    assert made["parameters"]["type"] == "gp3"
    assert made["volumeBindingMode"] == "WaitForFirstConsumer"


def test_operators_and_ci_get_access_entries_and_the_api_its_networks() -> None:
    entries = resources("eks", "aws_eks_access_entry")["admin"]
    assert unquote(entries["for_each"]) == "${local.admins}"
    (admins,) = [b for b in load(TERRAFORM / "modules" / "eks" / "main.tf")["locals"]
                 if "admins" in b]  # fmt: skip
    assert "var.operator_role_arns" in admins["admins"]
    assert "var.ci_role_arns" in admins["admins"]
    association = resources("eks", "aws_eks_access_policy_association")["admin"]
    assert unquote(association["policy_arn"]).endswith(
        ":eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    )
    ingress = resources("eks", "aws_vpc_security_group_ingress_rule")["api"]
    assert unquote(ingress["for_each"]) == "${toset(var.api_allowed_cidrs)}"
    assert (ingress["from_port"], ingress["to_port"]) == (443, 443)
    assert "cluster_security_group_id" in unquote(ingress["security_group_id"])


def test_the_control_plane_log_group_is_made_with_retention_and_the_key() -> None:
    group = resources("eks", "aws_cloudwatch_log_group")["cluster"]
    assert unquote(group["name"]) == "${local.log_group}"
    assert unquote(group["retention_in_days"]) == "${var.log_retention_days}"
    assert unquote(group["kms_key_id"]) == "${aws_kms_key.cluster.arn}"
    cluster = resources("eks", "aws_eks_cluster")["this"]
    assert "${aws_cloudwatch_log_group.cluster}" in cluster["depends_on"]
    (first, *_) = load(TERRAFORM / "modules" / "eks" / "main.tf")["locals"]
    assert unquote(first["log_group"]) == "/aws/eks/${var.name}/cluster"
