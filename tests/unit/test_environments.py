"""config/environments.yaml: loading, validation, and the guard / protection decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from mirante import errors
from mirante.environments import load_environments
from mirante.errors import EnvironmentsError, UnknownEnvironment
from mirante.remote import deploy, guard
from tests.helpers import REPO


@pytest.fixture
def envs_text() -> str:
    return (REPO / "config" / "environments.yaml").read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "environments.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_shipped_file_defines_dev_staging_prod_with_rising_protection() -> None:
    envs = load_environments(REPO / "config" / "environments.yaml", REPO)
    assert list(envs.by_name) == ["dev", "staging", "prod"]
    assert [envs.get(n).protection for n in envs.by_name] == ["none", "confirm", "no-destructive"]
    staging = envs.get("staging")
    assert staging.label == "env=staging"
    assert staging.reset is not None
    assert "all" not in staging.reset.kinds
    assert staging.overlay == REPO / "k8s" / "overlays" / "staging"
    assert envs.get("prod").reset is None
    # Loki and Tempo on S3 in staging and prod, through IRSA; dev on volumes.
    assert envs.get("dev").storage is None
    prod = envs.get("prod").storage
    assert prod is not None
    assert (prod.logs_bucket, prod.traces_bucket) == (
        "mirante-prod-logs-222222222222",
        "mirante-prod-traces-222222222222",
    )
    assert prod.loki_role.startswith("arn:aws:iam::")
    assert prod.loki_role.endswith("/mirante-prod-loki")


def test_unknown_environment_lists_the_known_ones() -> None:
    envs = load_environments(REPO / "config" / "environments.yaml", REPO)
    with pytest.raises(UnknownEnvironment, match="'qa'; known environments: dev, staging, prod"):
        envs.get("qa")


def test_malformed_yaml_is_reported_with_line_and_column(tmp_path: Path, envs_text: str) -> None:
    broken = envs_text.replace("protection: confirm", "protection: [confirm", 1)
    with pytest.raises(EnvironmentsError, match=r"not valid YAML at line \d+, column \d+"):
        load_environments(write(tmp_path, broken), tmp_path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "protection: confirm",
            "protection: maybe",
            r"staging\.protection is 'maybe'; expected one of",
        ),
        ("app: mirante-dev", "app: Mirante_Dev", r"dev\.namespaces\.app is 'Mirante_Dev'"),
        ("api_server: https://prod", "api_server: prod", r"prod\.api_server is 'prod.k8s"),
        ("kinds: [deployments.apps,", "kinds: [all, deployments.apps,", r"never all or namespaces"),
        ("max_objects: 50", "max_objects: 0", r"max_objects is 0; expected a count >= 1"),
        ('registry: ""\n  staging', 'registry: "not a registry!"\n  staging', r"registry"),
        ("    region: eu-west-1", "    region: Europe", r"staging\.storage\.region is 'Europe'"),
        ("region: eu-west-1}", "region: Europe}", r"dev\.aws\.region is 'Europe'; expected e"),
        ('account: "222222222222"', "account: 2222", r"prod\.aws\.account is 2222; expected a 12"),
        (
            "logs: mirante-prod-logs-222222222222",
            "logs: Prod_Logs",
            r"prod\.storage\.buckets\.logs",
        ),
        (
            "loki: arn:aws:iam::111111111111:role/mirante-staging-loki",
            "loki: arn:aws:iam::1111:role/x",
            r"staging\.storage\.roles\.loki is 'arn:aws:iam::1111:role/x'; expected an IAM",
        ),
    ],
)
def test_a_bad_value_names_the_key_and_what_it_accepts(
    tmp_path: Path, envs_text: str, old: str, new: str, message: str
) -> None:
    assert old in envs_text
    with pytest.raises(EnvironmentsError, match=message):
        load_environments(write(tmp_path, envs_text.replace(old, new, 1)), tmp_path)


def test_missing_file_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentsError, match=r"does not exist.*MIRANTE_ENVIRONMENTS_FILE"):
        load_environments(tmp_path / "config" / "environments.yaml", tmp_path)


def kubeconfig(current: str, server: str) -> dict[str, object]:
    return {
        "current-context": current,
        "contexts": [{"name": "mirante-staging", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [{"name": "c", "cluster": {"server": server}}],
    }


def test_guard_passes_only_for_the_expected_context_and_server() -> None:
    staging = load_environments(REPO / "config" / "environments.yaml", REPO).get("staging")
    right = "https://staging.k8s.mirante.internal:6443"
    assert guard.check_context(staging, kubeconfig("mirante-staging", right)).status == "ok"
    assert guard.check_context(staging, kubeconfig("mirante-staging", right + "/")).status == "ok"
    other = guard.check_context(staging, kubeconfig("mirante-prod", right))
    assert other.status == "refused"
    assert "'mirante-prod'" in other.detail
    moved = guard.check_context(staging, kubeconfig("mirante-staging", "https://10.0.0.9:6443"))
    assert moved.status == "refused"
    assert "points at https://10.0.0.9:6443" in moved.detail
    assert guard.check_context(staging, {}).status == "unchecked"


def test_protection_decides_who_asks_and_what_is_refused() -> None:
    envs = load_environments(REPO / "config" / "environments.yaml", REPO)
    dev, staging, prod = (envs.get(n) for n in ("dev", "staging", "prod"))
    assert not guard.authorise(dev, "change")
    assert guard.authorise(dev, "destructive")
    assert guard.authorise(staging, "change")
    assert guard.authorise(staging, "destructive")
    assert guard.authorise(prod, "change")
    assert not guard.authorise(prod, "read")
    with pytest.raises(errors.ProtectionRefused, match="refused there outright"):
        guard.authorise(prod, "destructive")


@pytest.mark.parametrize(
    ("key", "value"),
    [("env", ""), ("", "staging"), ("env!", "staging"), ("env", "staging,app=x"),
     ("env", "in (staging)"), ("env", "!staging"), ("env", "*")],
)  # fmt: skip
def test_only_an_exact_selector_can_be_built(key: str, value: str) -> None:
    with pytest.raises(errors.ManifestError, match="only an exact key=value match"):
        guard.exact_selector(key, value)
    assert guard.exact_selector("env", "staging") == "env=staging"


@pytest.mark.parametrize("tag", ["", "-v1", "v1 2", "a" * 129, "v1;rm"])
def test_a_bad_image_tag_is_refused(tag: str) -> None:
    dev = load_environments(REPO / "config" / "environments.yaml", REPO).get("dev")
    with pytest.raises(errors.ManifestError, match="invalid image tag"):
        deploy.image_for(dev, "app", tag)
    assert deploy.image_for(dev, "app", "v1.2.3") == "mirante/app:v1.2.3"
