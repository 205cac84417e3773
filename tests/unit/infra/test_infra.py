"""infra.*: the account and region guard, the plans command by command, Terraform's errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mirante import settings as settings_mod
from mirante.errors import BadArgument, GuardRefused, InfraError, ProtectionRefused
from mirante.infra import outputs, plans
from mirante.plans import Guard, Step
from mirante.remote import generated
from mirante.runner import Command
from mirante.tools import terraform
from tests.helpers import cli, scratch_checkout

DEV = {"Account": "111111111111", "Arn": "arn:aws:sts::111111111111:assumed-role/ops/me"}


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout whose environments file and Terraform are its own copies, to be changed."""
    return scratch_checkout(tmp_path / "checkout", copies=("config", "terraform"))


@pytest.fixture
def config(checkout: Path) -> settings_mod.Settings:
    return settings_mod.load(checkout, environ={})


@pytest.fixture
def identity(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """What STS answers: set ``answer`` to a dict (who) or a string (why nobody)."""
    said: dict[str, object] = {"answer": DEV}
    monkeypatch.setattr(terraform, "caller_identity", lambda region: said["answer"])
    return said


def test_the_guard_passes_the_expected_account_in_the_expected_region(
    config: settings_mod.Settings,
) -> None:
    guard = plans.check(config.environments.get("dev"), DEV)
    assert guard.status == "ok"
    assert guard.detail == f"account 111111111111 as {DEV['Arn']}, eu-west-1"


def test_the_guard_refuses_another_account(config: settings_mod.Settings) -> None:
    other = {"Account": "999999999999", "Arn": "arn:aws:iam::999999999999:user/x"}
    guard = plans.check(config.environments.get("prod"), other)
    assert guard.status == "refused"
    assert guard.detail.startswith(
        "the AWS credentials are account 999999999999 (arn:aws:iam::999999999999:user/x) but "
        "environments.yaml expects 222222222222 for prod"
    )


def test_the_guard_refuses_a_module_in_another_region_or_account(checkout: Path) -> None:
    main = checkout / "terraform" / "envs" / "staging" / "main.tf"
    assert not main.is_symlink()
    assert not main.parents[2].is_symlink()
    main.write_text(main.read_text().replace('region              = "eu-west-1"',
                                             'region              = "us-east-1"'))  # fmt: skip
    env = settings_mod.load(checkout, environ={}).environments.get("staging")
    guard = plans.check(env, DEV)
    assert guard.status == "refused"
    assert "sets region us-east-1 but environments.yaml expects eu-west-1" in guard.detail
    main.write_text(main.read_text().replace('"us-east-1"', '"eu-west-1"').replace(
        '["111111111111"]', '["222222222222"]'))  # fmt: skip
    guard = plans.check(env, DEV)
    assert "allows account(s) 222222222222 but environments.yaml expects 111111111111" in (
        guard.detail
    )


def test_unknown_credentials_let_a_dry_run_print_and_refuse_a_real_run(
    config: settings_mod.Settings, identity: dict[str, object]
) -> None:
    identity["answer"] = "Unable to locate credentials"
    env = config.environments.get("dev")
    plan = plans.plan_plan(config, env, dry_run=True)
    assert plan.guard.status == "unchecked"
    assert "set AWS_PROFILE" in plan.guard.detail
    with pytest.raises(GuardRefused, match="no usable AWS credentials"):
        plans.plan_plan(config, env, dry_run=False)
    with pytest.raises(GuardRefused, match=r"infra\.plan: no usable AWS credentials"):
        plan.execute(config.root, ask=lambda step: None)  # the dry run's plan never runs


def test_destroy_is_refused_for_prod_before_anything_else(
    config: settings_mod.Settings, identity: dict[str, object]
) -> None:
    identity["answer"] = {"Account": "222222222222", "Arn": "arn:aws:iam::222222222222:root"}
    with pytest.raises(ProtectionRefused, match="prod is protected"):
        plans.destroy_plan(config, config.environments.get("prod"), dry_run=True)


def test_an_environment_without_aws_is_refused_by_name(checkout: Path) -> None:
    environments = checkout / "config" / "environments.yaml"
    assert not environments.parent.is_symlink()
    text = environments.read_text()
    environments.write_text(text.replace('    aws: {account: "111111111111", region: eu-west-1}\n',
                                         "", 1))  # fmt: skip
    env = settings_mod.load(checkout, environ={}).environments.get("dev")
    with pytest.raises(BadArgument, match="an environment with aws:"):
        plans.aws_of(env)


def test_the_apply_plan_command_by_command(
    config: settings_mod.Settings, identity: dict[str, object]
) -> None:
    plan = plans.apply_plan(config, config.environments.get("staging"), dry_run=True)
    saved = config.root / ".mirante" / "infra" / "staging.tfplan"
    tf = "terraform -chdir=terraform/envs/staging"
    assert plan.guard.status == "ok"
    assert plan.lines() == [
        f"{tf} init -input=false -no-color",
        f"{tf} plan -input=false -no-color -lock-timeout=60s -out={saved}",
        f"{tf} apply -input=false -no-color -lock-timeout=60s {saved}",
        f"{tf} output -no-color -json",
        "# mirante: keep the outputs in .mirante/infra/staging.json",
    ]
    assert [step.confirm for step in plan.steps] == [False, False, True, False, False]


def test_the_plan_destroy_and_output_plans_command_by_command(
    config: settings_mod.Settings, identity: dict[str, object]
) -> None:
    dev = config.environments.get("dev")
    saved = config.root / ".mirante" / "infra" / "dev.tfplan"
    tf = "terraform -chdir=terraform/envs/dev"
    assert plans.plan_plan(config, dev, dry_run=True).lines() == [
        f"{tf} init -input=false -no-color",
        f"{tf} plan -input=false -no-color -lock-timeout=60s -out={saved}",
    ]
    destroy = plans.destroy_plan(config, dev, dry_run=True)
    assert destroy.lines() == [
        f"{tf} init -input=false -no-color",
        f"{tf} plan -input=false -no-color -lock-timeout=60s -destroy -out={saved}",
        f"{tf} apply -input=false -no-color -lock-timeout=60s {saved}",
        "# mirante: forget the outputs",
    ]
    assert [step.confirm for step in destroy.steps] == [False, False, True, False]
    assert plans.output_plan(config, dev, dry_run=True).lines() == [
        f"{tf} output -no-color -json",
        "# mirante: keep the outputs in .mirante/infra/dev.json",
    ]


def terraform_outputs(region: str = "eu-west-1") -> str:
    values = {
        "region": region,
        "cluster_name": "mirante-staging",
        "cluster_endpoint": "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
        "buckets": {"logs": "tf-logs", "traces": "tf-traces", "metrics": "tf-metrics"},
        "irsa_role_arns": {
            "loki": "arn:aws:iam::111111111111:role/tf-loki",
            "tempo": "arn:aws:iam::111111111111:role/tf-tempo",
            "collector": "arn:aws:iam::111111111111:role/tf-collector",
        },
        "volumes_kms_key_arn": "arn:aws:kms:eu-west-1:111111111111:key/tf-volumes",
    }
    return json.dumps({k: {"sensitive": False, "type": "x", "value": v} for k, v in values.items()})


def test_kept_outputs_replace_the_environments_file_in_the_generated_values(
    config: settings_mod.Settings,
) -> None:
    staging = config.environments.get("staging")
    storage, source = generated.storage_of(config, staging)
    assert source == "environments.yaml"
    assert storage is not None
    assert storage.logs_bucket == "mirante-staging-logs-111111111111"
    outputs.write(config.root, "staging", outputs.parse(terraform_outputs(), "staging"))
    storage, source = generated.storage_of(config, staging)
    assert source == "Terraform's outputs (.mirante/infra/staging.json)"
    assert storage is not None
    loki = generated.loki_values(config, staging)
    assert loki is not None
    assert loki["loki"]["storage"]["bucketNames"]["chunks"] == "tf-logs"
    assert loki["serviceAccount"]["annotations"][generated.IRSA].endswith("role/tf-loki")
    tempo = generated.tempo_values(config, staging, "tempo-distributed")
    assert tempo["storage"]["trace"]["s3"]["bucket"] == "tf-traces"
    collector = next(r for r in generated.releases(config, staging) if r.name.startswith("open"))
    values = generated.release_values(config, staging, collector)
    assert values is not None
    assert values["serviceAccount"]["annotations"][generated.IRSA].endswith("role/tf-collector")
    # The StorageClass encrypts volumes with Terraform's key.
    made = generated.storage_class(config, staging)
    assert made["parameters"]["kmsKeyId"].endswith("key/tf-volumes")
    assert made["reclaimPolicy"] == "Delete"
    assert generated.storage_class(config, config.environments.get("prod"))["reclaimPolicy"] == (
        "Retain"  # prod forbids destructive tasks: a deleted claim keeps its volume
    )
    # dev keeps its logs on volumes: outputs do not move it to S3.
    outputs.write(config.root, "dev", outputs.parse(terraform_outputs(), "dev"))
    assert generated.storage_of(config, config.environments.get("dev")) == (None, "")


def test_the_k8s_dry_run_says_where_the_buckets_come_from(
    config: settings_mod.Settings, checkout: Path
) -> None:
    from mirante.remote.steps import storage_notes

    staging = config.environments.get("staging")
    assert storage_notes(config, staging)[0] == "buckets and roles from environments.yaml"
    outputs.write(checkout, "staging", outputs.parse(terraform_outputs(), "staging"))
    notes = storage_notes(config, staging)
    assert notes[0] == "buckets and roles from Terraform's outputs (.mirante/infra/staging.json)"
    assert notes[1].startswith("loki on s3://tf-logs (eu-west-1)")


def test_outputs_missing_what_the_k8s_layer_reads_are_refused() -> None:
    partial = {"region": {"value": "eu-west-1"}, "buckets": {"value": {}}}
    with pytest.raises(InfraError, match="no output irsa_role_arns, cluster_name, cluster_end"):
        outputs.parse(json.dumps(partial), "dev")
    with pytest.raises(InfraError, match="not JSON"):
        outputs.parse("{", "dev")


APPLY = Command(("terraform", "-chdir=terraform/envs/dev", "apply", "x.tfplan"))


@pytest.mark.parametrize(
    ("stderr", "said"),
    [
        (
            "Error: No valid credential sources found\n\nPlease see https://...",
            "dev: no valid AWS credentials: set AWS_PROFILE",
        ),
        (
            "Error: Error acquiring the state lock\n\nLock Info:\n  ID:        5d1b0d8c-3c2e\n"
            "  Path:      mirante-tfstate/dev/foundation.tfstate\n  Who:       ci@runner-7\n",
            "dev: the Terraform state is locked by ci@runner-7 (lock 5d1b0d8c-3c2e): wait for "
            "that run to end; if it died, `terraform -chdir=terraform/envs/dev force-unlock "
            "5d1b0d8c-3c2e`",
        ),
        (
            "Error: creating IAM Role (mirante-dev-loki): operation error IAM: CreateRole, "
            "api error AccessDenied: User: arn:aws:iam::1:user/x is not authorized to perform: "
            "iam:CreateRole on resource: role mirante-dev-loki\n\n  with "
            'module.foundation.module.iam.aws_iam_role.this["loki"],\n',
            "dev: access denied: the credentials may not iam:CreateRole (on "
            'module.foundation.module.iam.aws_iam_role.this["loki"]): use a role that may',
        ),
        (
            "Error: creating S3 Bucket (mirante-dev-backups): BucketAlreadyOwnedByYou: Your "
            "previous request to create the named bucket succeeded\n\n  with "
            'module.foundation.module.s3.aws_s3_bucket.this["backups"],\n',
            'dev: module.foundation.module.s3.aws_s3_bucket.this["backups"] already exists '
            "outside this state: import it (`terraform -chdir=terraform/envs/dev import "
            'module.foundation.module.s3.aws_s3_bucket.this["backups"] <id>`)',
        ),
        ("╷\n│ Error: Unsupported argument\n│\n", "dev: terraform -chdir=terraform/envs/dev"),
    ],
)
def test_terraforms_failures_become_one_line_that_says_what_to_do(stderr: str, said: str) -> None:
    line = terraform.explain(stderr, "dev", APPLY)
    assert line.startswith(said), line
    assert "\n" not in line


def test_the_infra_tasks_refuse_in_one_line(checkout: Path) -> None:
    env = {
        "MIRANTE_ROOT": str(checkout),
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    done = cli(env, "infra.destroy", "prod", "--dry-run")
    assert done.returncode == 3
    assert done.stderr.strip() == (
        "error: prod is protected (no-destructive in environments.yaml): destructive tasks "
        "are refused there outright"
    )
    done = cli(env, "infra.plan", "qa")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: unknown environment 'qa'")
    shown = cli(env, "infra.plan", "dev", "--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert "terraform -chdir=terraform/envs/dev init -input=false -no-color" in shown.stdout
    assert not (checkout / ".mirante" / "infra" / "dev.tfplan").exists()


def test_a_plan_asks_before_its_confirmed_step_and_stops_at_the_first_failure(
    config: settings_mod.Settings,
) -> None:
    if not shutil.which("terraform"):
        pytest.skip("terraform is not on PATH (this machine preinstalls it; install 1.11+)")
    env = config.environments.get("dev")
    said: list[str] = []
    steps = [
        Step("version", Command(("terraform", "version"))),
        Step("note", action=lambda out: f"saw {out.split()[0]} {out.split()[1][:2]}"),
        Step("apply", Command(("terraform", "-chdir=terraform/nowhere", "init")), confirm=True),
        Step("never", action=lambda out: said.append("never") or ""),
    ]
    plan = plans.terraform_plan(config, "infra.apply", env, Guard("ok", "checked"), steps)
    with pytest.raises(InfraError) as failed:
        plan.execute(
            config.root,
            ask=lambda step: said.append(f"ask {step.title}"),
            before=lambda step: said.append(f"before {step.title}"),
            after=lambda step, output: said.append(f"after {step.title}: {output[:12]}"),
        )
    assert said == [
        "before version", "after version: Terraform v1",
        "before note", "after note: saw Terrafor",
        "ask apply", "before apply",
    ]  # fmt: skip
    assert str(failed.value).startswith("dev: terraform -chdir=terraform/nowhere init failed:")
    assert "\n" not in str(failed.value)
