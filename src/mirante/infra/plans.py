"""The guarded plans of ``invoke infra.plan|apply|destroy|output ENV``.

Nothing runs Terraform before :func:`guarded` passed: the environment's root module must
set the region ``config/environments.yaml`` expects (read from its HCL), and the AWS
credentials must be the expected account (asked of STS). ``--dry-run`` prints the plan's
exact commands; a real run executes the very same ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mirante.environments import Aws, Environment
from mirante.errors import BadArgument, GuardRefused, InfraError
from mirante.infra import outputs
from mirante.plans import Guard, Plan, Step
from mirante.remote.guard import authorise
from mirante.runner import Command
from mirante.settings import Settings
from mirante.tools import terraform
from mirante.tools.terraform import Terraform


def terraform_plan(
    settings: Settings,
    task: str,
    env: Environment,
    guard: Guard,
    steps: list[Step],
    notes: list[str] | None = None,
    done: str = "",
) -> Plan:
    """A plan whose commands are Terraform's, each failure explained in one line."""

    def runs(command: Command, root: Path) -> str:
        (root / outputs.OUTPUTS_DIR).mkdir(parents=True, exist_ok=True)  # the saved plan's
        return terraform.run_terraform(command, env.name, root)

    return Plan(task, env, guard, steps, notes or [], done=done, runs=runs)


def aws_of(env: Environment) -> Aws:
    """The environment's AWS block.

    Raises:
        BadArgument: the environment has no ``aws:`` in the environments file.
    """
    if env.aws is None:
        raise BadArgument(
            "env", env.name, "an environment with aws: (account, region) in environments.yaml"
        )
    if not (env.aws.terraform / "main.tf").is_file():
        raise BadArgument("env", env.name, f"a Terraform root module at {env.aws.terraform}")
    return env.aws


def module_settings(aws: Aws) -> dict[str, str]:
    """The region and allowed accounts the root module's AWS provider sets (from its HCL)."""
    from hcl2.api import load as load_hcl

    try:
        with (aws.terraform / "main.tf").open() as handle:
            document: dict[str, Any] = load_hcl(handle)
    except Exception as exc:  # python-hcl2 raises lark's many error types
        raise InfraError(f"{aws.terraform / 'main.tf'} does not parse: {exc}") from None
    for provider in document.get("provider", []):
        for name, body in provider.items():
            if _unquote(name) == "aws":
                accounts = [_unquote(a) for a in body.get("allowed_account_ids", [])]
                return {"region": _unquote(body.get("region", "")), "accounts": ",".join(accounts)}
    return {"region": "", "accounts": ""}


def _unquote(value: Any) -> str:
    return str(value).strip('"')


def check(env: Environment, identity: Any) -> Guard:
    """Compare the module and the credentials with what the environments file expects.

    ``identity`` is STS's answer ({Account, Arn}) or why there is none (a string).
    """
    aws = aws_of(env)
    found = module_settings(aws)
    module = aws.terraform / "main.tf"
    if found["region"] != aws.region:
        return Guard(
            "refused",
            f"{module} sets region {found['region'] or 'none'} but environments.yaml expects "
            f"{aws.region} for {env.name}; fix one of them",
        )
    if found["accounts"] != aws.account:
        return Guard(
            "refused",
            f"{module} allows account(s) {found['accounts'] or 'any'} but environments.yaml "
            f"expects {aws.account} for {env.name}; fix one of them",
        )
    if isinstance(identity, str):
        return Guard(
            "unchecked",
            f"no usable AWS credentials ({identity}): set AWS_PROFILE (or run `aws sso "
            f"login`) for account {aws.account}, the one environments.yaml names for {env.name}",
        )
    if identity.get("Account") != aws.account:
        return Guard(
            "refused",
            f"the AWS credentials are account {identity.get('Account')} "
            f"({identity.get('Arn', '?')}) but environments.yaml expects {aws.account} for "
            f"{env.name}; switch AWS_PROFILE if that is what you meant",
        )
    return Guard("ok", f"account {aws.account} as {identity.get('Arn', '?')}, {aws.region}")


def guarded(env: Environment, dry_run: bool) -> Guard:
    """The guard, refusing at once unless it passed (or, for a dry run, is merely unchecked).

    Raises:
        GuardRefused: another account or region, or (not a dry run) unknown credentials.
    """
    aws = aws_of(env)
    guard = check(env, terraform.caller_identity(aws.region))
    if guard.status == "refused" or (guard.status == "unchecked" and not dry_run):
        raise GuardRefused(guard.detail)
    return guard


def _tool(settings: Settings, env: Environment) -> tuple[Terraform, Path]:
    aws = aws_of(env)
    directory = (
        aws.terraform.relative_to(settings.root)
        if aws.terraform.is_relative_to(settings.root)
        else aws.terraform
    )
    plan_file = settings.root / outputs.OUTPUTS_DIR / f"{env.name}.tfplan"
    return Terraform(directory), plan_file


def plan_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """``infra.plan``: init, then the changes Terraform would make (saved, nothing applied)."""
    tf, plan_file = _tool(settings, env)
    guard = guarded(env, dry_run)
    steps = [Step("init", tf.init()), Step("plan", tf.plan(plan_file))]
    return terraform_plan(
        settings, "infra.plan", env, guard, steps, [f"the plan is saved to {plan_file}"]
    )


def apply_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """``infra.apply``: init, plan, ask, apply that very plan, keep the outputs."""
    tf, plan_file = _tool(settings, env)
    guard = guarded(env, dry_run)
    steps = [
        Step("init", tf.init()),
        Step("plan", tf.plan(plan_file)),
        Step("apply", tf.apply(plan_file), confirm=True),
        *output_steps(settings, env, tf),
    ]
    notes = [f"asks before applying {plan_file.name} (--yes: the environment is named)"]
    done = f"{env.name} provisioned (outputs in .mirante/infra/{env.name}.json)"
    return terraform_plan(settings, "infra.apply", env, guard, steps, notes, done)


def destroy_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """``infra.destroy``: refused where the environment is protected; else plan, ask, apply.

    Raises:
        ProtectionRefused: the environment's protection is no-destructive (prod).
    """
    authorise(env, "destructive")
    tf, plan_file = _tool(settings, env)
    guard = guarded(env, dry_run)
    steps = [
        Step("init", tf.init()),
        Step("plan the destruction", tf.plan(plan_file, destroy=True)),
        Step("destroy", tf.apply(plan_file), confirm=True),
        Step("forget the outputs", action=lambda _: _forget(settings, env)),
    ]
    notes = ["every bucket of the environment is emptied first by you: S3 refuses to delete a "
             "bucket with objects (versioned ones included)"]  # fmt: skip
    return terraform_plan(settings, "infra.destroy", env, guard, steps, notes)


def output_plan(settings: Settings, env: Environment, dry_run: bool) -> Plan:
    """``infra.output``: Terraform's outputs, kept where the k8s layer reads them."""
    tf, _ = _tool(settings, env)
    guard = guarded(env, dry_run)
    return terraform_plan(settings, "infra.output", env, guard, output_steps(settings, env, tf))


def output_steps(settings: Settings, env: Environment, tf: Terraform) -> list[Step]:
    """``terraform output -json``, then keep it in .mirante/infra/<env>.json."""
    target = outputs.path(settings.root, env.name).relative_to(settings.root)

    def keep(text: str) -> str:
        values = outputs.parse(text, env.name)
        outputs.write(settings.root, env.name, values)
        buckets = ", ".join(f"{k}={v}" for k, v in sorted(values["buckets"].items()))
        return f"kept in {target}: buckets {buckets}; roles {', '.join(values['irsa_role_arns'])}"

    return [Step("outputs", tf.output()), Step(f"keep the outputs in {target}", action=keep)]


def _forget(settings: Settings, env: Environment) -> str:
    kept = outputs.path(settings.root, env.name)
    kept.unlink(missing_ok=True)
    return f"removed {kept.relative_to(settings.root)}"
