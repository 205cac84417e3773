"""The Alertmanager configuration the stack runs: the committed one, plus what settings add.

``alertmanager/alertmanager.yml`` routes every severity to the app's webhook and needs no
account. When ``MIRANTE_SLACK_WEBHOOK_URL`` is set, critical and warning alerts also go to
Slack; when ``MIRANTE_SMTP_SMARTHOST``, ``MIRANTE_SMTP_FROM`` and ``MIRANTE_ALERT_EMAIL_TO``
are set, critical alerts are also emailed. Secrets never enter the rendered file: it points
at files compose creates in the container's /run/secrets.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mirante import loader
from mirante.files import atomic_write
from mirante.settings import Settings

SECRETS_DIR = "/run/secrets"
TITLE = '{{ template "mirante.title" . }}'
TEXT = '{{ template "mirante.text" . }}'


def rendered_path(settings: Settings) -> Path:
    """Where the rendered Alertmanager config is written."""
    return settings.state_dir / "alertmanager" / "alertmanager.yml"


@dataclass(frozen=True)
class Receivers:
    """Where alerts go beyond the app's webhook, and where the secrets are read from.

    Slack is on with ``slack``; email when the smarthost, the sender and the recipient are
    all set. Secrets are files under ``secrets_dir``
    (``slack_webhook_url``, ``smtp_password``), never values.
    """

    webhook_url: str = ""  # the app's webhook ("" keeps the committed file's)
    slack: bool = False
    slack_channel: str = ""
    smtp_smarthost: str = ""
    smtp_from: str = ""
    smtp_username: str = ""
    smtp_password: bool = False  # whether an SMTP password file is read
    email_to: str = ""
    secrets_dir: str = SECRETS_DIR

    @property
    def email(self) -> bool:
        """Whether email alerts are on."""
        return bool(self.smtp_smarthost and self.smtp_from and self.email_to)


def receivers_of(settings: Settings) -> Receivers:
    """The compose stack's receivers: Slack when a webhook URL is set, email when complete."""
    return Receivers(
        slack=bool(settings.alerting.slack_webhook_url),
        slack_channel=settings.alerting.slack_channel,
        smtp_smarthost=settings.alerting.smtp_smarthost,
        smtp_from=settings.alerting.smtp_from,
        smtp_username=settings.alerting.smtp_username,
        smtp_password=bool(settings.alerting.smtp_password),
        email_to=settings.alerting.email_to,
    )


def base_config(root: Path) -> dict[str, Any]:
    """The committed ``alertmanager/alertmanager.yml``."""
    loaded: dict[str, Any] = loader.safe_load(
        (root / "alertmanager" / "alertmanager.yml").read_text()
    )
    return loaded


def build(base: dict[str, Any], receivers: Receivers) -> dict[str, Any]:
    """The committed routes, inhibitions and receivers, with Slack and email where they are on.

    The same for the compose stack and for every cluster: only the webhook's address and
    where the secrets are read from differ.
    """
    config: dict[str, Any] = copy.deepcopy(base)
    by_name = {r["name"]: r for r in config["receivers"]}
    if receivers.webhook_url:
        for receiver in config["receivers"]:
            for webhook in receiver.get("webhook_configs", []):
                webhook["url"] = receivers.webhook_url
    if receivers.slack:
        for name in ("critical", "warning"):
            by_name[name]["slack_configs"] = [
                {
                    "api_url_file": f"{receivers.secrets_dir}/slack_webhook_url",
                    "channel": receivers.slack_channel,
                    "send_resolved": True,
                    "title": TITLE,
                    "text": TEXT,
                }
            ]
    if receivers.email:
        smtp: dict[str, Any] = {
            "smtp_smarthost": receivers.smtp_smarthost,
            "smtp_from": receivers.smtp_from,
            "smtp_require_tls": True,
        }
        if receivers.smtp_username:
            smtp["smtp_auth_username"] = receivers.smtp_username
        if receivers.smtp_password:
            smtp["smtp_auth_password_file"] = f"{receivers.secrets_dir}/smtp_password"
        config["global"] = {**config.get("global", {}), **smtp}
        by_name["critical"]["email_configs"] = [
            {"to": receivers.email_to, "send_resolved": True, "headers": {"Subject": TITLE}}
        ]
    return config


def render(settings: Settings) -> dict[str, Any]:
    """The compose stack's configuration: the committed file with the enabled receivers."""
    return build(base_config(settings.root), receivers_of(settings))


def digest(settings: Settings) -> str:
    """A digest of the rendered config and of the secrets it reads (never the secrets).

    Compose recreates Alertmanager when it changes: a secret turned on, rotated, or a
    receiver changed reaches the container, which reads both only at start.
    """
    hashed = hashlib.sha256(yaml.safe_dump(render(settings), sort_keys=False).encode())
    for secret in (settings.alerting.slack_webhook_url, settings.alerting.smtp_password):
        hashed.update(b"\0" + secret.encode())
    return hashed.hexdigest()[:16]


def write(settings: Settings) -> Path:
    """Render into .mirante/alertmanager/alertmanager.yml (readable by the container's nobody)."""
    path = rendered_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# rendered by mirante from alertmanager/alertmanager.yml and the settings\n"
    text = header + yaml.safe_dump(render(settings), sort_keys=False)
    if not path.is_file() or path.read_text() != text:
        atomic_write(path, text, 0o644)
    return path


_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')


def _matches(matcher: str, labels: Mapping[str, str]) -> bool:
    found = _MATCHER.match(matcher)
    if not found:
        return False
    name, op, value = found.groups()
    have = labels.get(name, "")
    if op == "=":
        return have == value
    if op == "!=":
        return have != value
    hit = re.fullmatch(value, have) is not None
    return hit if op == "=~" else not hit


def receiver_for(config: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """The receiver an alert with ``labels`` ends at, as Alertmanager routes it.

    Depth first, the first matching child route wins (``continue`` is not followed); a
    route without a receiver inherits its parent's.
    """
    route: Mapping[str, Any] = config["route"]
    receiver = str(route.get("receiver", ""))
    while True:
        for child in route.get("routes") or []:
            if all(_matches(m, labels) for m in child.get("matchers") or []):
                route = child
                receiver = str(child.get("receiver", receiver))
                break
        else:
            return receiver


def delivers(config: Mapping[str, Any], receiver: str) -> bool:
    """Whether a receiver sends anywhere (has at least one ``*_configs`` entry)."""
    for candidate in config.get("receivers") or []:
        if candidate.get("name") == receiver:
            return any(k.endswith("_configs") and v for k, v in candidate.items())
    return False


def inhibits(
    config: Mapping[str, Any], source: Mapping[str, str], target: Mapping[str, str]
) -> bool:
    """Whether an inhibit rule lets an alert with ``source`` labels hold ``target`` back.

    The labels of the rule's ``equal`` list are taken as equal (both alerts are meant to
    share them, such as their namespace).
    """
    for rule in config.get("inhibit_rules") or []:
        if all(_matches(m, source) for m in rule.get("source_matchers") or []) and all(
            _matches(m, target) for m in rule.get("target_matchers") or []
        ):
            return True
    return False
