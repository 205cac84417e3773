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
from pathlib import Path
from typing import Any

import yaml

from mirante.files import atomic_write
from mirante.settings import Settings

SECRETS_DIR = "/run/secrets"
TITLE = '{{ template "mirante.title" . }}'
TEXT = '{{ template "mirante.text" . }}'


def rendered_path(settings: Settings) -> Path:
    """Where the rendered Alertmanager config is written."""
    return settings.state_dir / "alertmanager" / "alertmanager.yml"


def slack_enabled(settings: Settings) -> bool:
    """Whether Slack alerts are on (a webhook URL is set)."""
    return bool(settings.slack_webhook_url)


def email_enabled(settings: Settings) -> bool:
    """Whether email alerts are on (smarthost, sender and recipient all set)."""
    return bool(settings.smtp_smarthost and settings.smtp_from and settings.alert_email_to)


def render(settings: Settings) -> dict[str, Any]:
    """The configuration as data: the committed file with the enabled receivers added."""
    base = yaml.safe_load((settings.root / "alertmanager" / "alertmanager.yml").read_text())
    config: dict[str, Any] = copy.deepcopy(base)
    receivers = {r["name"]: r for r in config["receivers"]}
    if slack_enabled(settings):
        for name in ("critical", "warning"):
            receivers[name]["slack_configs"] = [
                {
                    "api_url_file": f"{SECRETS_DIR}/slack_webhook_url",
                    "channel": settings.slack_channel,
                    "send_resolved": True,
                    "title": TITLE,
                    "text": TEXT,
                }
            ]
    if email_enabled(settings):
        smtp: dict[str, Any] = {
            "smtp_smarthost": settings.smtp_smarthost,
            "smtp_from": settings.smtp_from,
            "smtp_require_tls": True,
        }
        if settings.smtp_username:
            smtp["smtp_auth_username"] = settings.smtp_username
        if settings.smtp_password:
            smtp["smtp_auth_password_file"] = f"{SECRETS_DIR}/smtp_password"
        config["global"] = {**config.get("global", {}), **smtp}
        receivers["critical"]["email_configs"] = [
            {"to": settings.alert_email_to, "send_resolved": True, "headers": {"Subject": TITLE}}
        ]
    return config


def digest(settings: Settings) -> str:
    """A digest of the rendered config and of the secrets it reads (never the secrets).

    Compose recreates Alertmanager when it changes: a secret turned on, rotated, or a
    receiver changed reaches the container, which reads both only at start.
    """
    hashed = hashlib.sha256(yaml.safe_dump(render(settings), sort_keys=False).encode())
    for secret in (settings.slack_webhook_url, settings.smtp_password):
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
