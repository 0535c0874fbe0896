"""`titan-deploy rotate ...`: the rotation procedures (README "Rotation runbook", ARCHITECTURE.md
"Data flow of a rotation") as a typer sub-app.

Options become one RotateSettings value, built in one place (`_settings`, from the parsed options
by name), and an op of titan_deploy.ops.rotate takes it (imported lazily, so CLI start-up stays
fast); the op returns a Report rendered once by the error boundary (cli/boundary.py). Progress
goes to stderr. Exchange key material is read by cli/material_input.py, from files, stdin or a
hidden prompt — never from an argument — and handed to the op as bytes; it is also `remember`ed
by the scrubber (core.redact), so no error or progress line of this process can show it.

Numeric options are checked at parse time (cli.numbers): finite, not negative, bounded (exit 2).
One option means one thing in every rotate command: `--timeout` is the wait for each recreated
service to be healthy, `--log-timeout` the wait for a consumer's proof in its logs (seconds).
A closed or empty stdin, or a prompt ended with Ctrl-D, is a usage error naming what to give.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from titan_deploy.cli import numbers
from titan_deploy.cli.boundary import execute
from titan_deploy.cli.material_input import read_material

if TYPE_CHECKING:
    from titan_deploy.ops.rotate.settings import RotateSettings

rotate_app = typer.Typer(
    help=(
        "Rotate secrets without downtime: hmac (listeners first, signers last, old key dropped "
        "after 24 h), db (rolling restart), exchange NAME (proof of connectivity), secret NAME "
        "(any other: consumers restarted, verified, else rolled back). Resumable "
        "after a crash (`rotate resume`) and reversible (`rotate abort`). Runbook: "
        "the README's rotation runbook."
    ),
    no_args_is_help=True,
)

Timeout = Annotated[
    int,
    typer.Option(
        "--timeout",
        help="Seconds each recreated service gets to become healthy.",
        click_type=numbers.seconds(),
    ),
]
StopTimeout = Annotated[
    int | None,
    typer.Option(
        "--stop-timeout",
        help="Seconds a replaced container gets to stop (default 10).",
        click_type=numbers.seconds(positive=False, maximum=3600),
    ),
]
Settle = Annotated[
    float,
    typer.Option(
        "--settle",
        help="Seconds of traffic after each verify before the guard reads its counter.",
        click_type=numbers.seconds(positive=False, maximum=3600, whole=False),
    ),
]
Threshold = Annotated[
    int | None,
    typer.Option(
        "--auth-failure-threshold",
        help="Abort and roll back when the guard counter rises by more than this "
        "(default: the manifest's auth_guard.threshold, else 0).",
        click_type=numbers.count(),
    ),
]
LogTimeout = Annotated[
    float,
    typer.Option(
        "--log-timeout",
        help="Seconds each restarted consumer gets to log the proof of connection (the "
        "manifest's verify_log).",
        click_type=numbers.seconds(whole=False),
    ),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")]
Secret = Annotated[
    str | None, typer.Option("--secret", help="The secret (default: the only one that fits).")
]
WaitTimeout = Annotated[
    int | None,
    typer.Option(
        "--wait-timeout",
        hidden=True,  # deprecated: the old name of --timeout on `rotate exchange`
        help="Deprecated: use --timeout.",
        click_type=numbers.seconds(),
    ),
]


def _settings(ctx: typer.Context) -> RotateSettings:
    """The one place the CLI builds a command's RotateSettings: from its parsed options, by
    parameter name (each option's parameter is named as the settings field it sets)."""
    from dataclasses import fields

    from titan_deploy.ops.rotate.settings import RotateSettings

    params = dict(ctx.params)
    wait = params.pop("wait_timeout", None)
    given = getattr(ctx.get_parameter_source("timeout"), "name", None)
    if wait is not None and given != "COMMANDLINE":
        params["timeout"] = wait  # the deprecated alias, unless --timeout was given too
    names = {f.name for f in fields(RotateSettings)}
    return RotateSettings(**{k: v for k, v in params.items() if k in names})


def _run(ctx: typer.Context, command: str, op) -> None:
    execute(ctx, command, op)


@rotate_app.command("hmac")
def hmac(
    ctx: typer.Context,
    finish: Annotated[
        bool, typer.Option("--finish", help="Phase 2: listeners drop the old key.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --finish: do not wait for the minimum age.")
    ] = False,
    min_age_hours: Annotated[
        float | None,
        typer.Option(
            "--min-age",
            help="With --finish: hours phase 1 must be old (default: the manifest's "
            "finish_after_hours, 24).",
            click_type=numbers.hours(),
        ),
    ] = None,
    dry_run: DryRun = False,
    secret: Secret = None,
    timeout: Timeout = 180,
    stop_timeout: StopTimeout = None,
    settle: Settle = 2.0,
    threshold: Threshold = None,
) -> None:
    """HMAC key: phase 1 (listeners accept new+old, then signers sign new) or --finish."""
    from titan_deploy.errors import UsageError

    progress = ctx.obj.output.progress
    settings = _settings(ctx)
    if not finish and (force or min_age_hours is not None):

        def refuse(project):
            raise UsageError("--force and --min-age only go with --finish")

        _run(ctx, "rotate hmac", refuse)
        return
    if finish:
        from titan_deploy.ops.rotate.hmac import run_hmac_finish

        _run(
            ctx,
            "rotate hmac --finish",
            lambda project: run_hmac_finish(project, settings, progress),
        )
        return
    from titan_deploy.ops.rotate.hmac import run_hmac

    _run(
        ctx,
        "rotate hmac",
        lambda project: run_hmac(project, settings, progress),
    )


@rotate_app.command("db")
def db(
    ctx: typer.Context,
    dry_run: DryRun = False,
    secret: Secret = None,
    timeout: Timeout = 180,
    stop_timeout: StopTimeout = None,
    settle: Settle = 2.0,
    threshold: Threshold = None,
) -> None:
    """Database password: ALTER ROLE (value on stdin), then consumers one at a time."""
    from titan_deploy.ops.rotate.db import run_db

    progress = ctx.obj.output.progress
    settings = _settings(ctx)
    _run(ctx, "rotate db", lambda project: run_db(project, settings, progress))


@rotate_app.command("nats")
def nats(
    ctx: typer.Context,
    dry_run: DryRun = False,
    secret: Annotated[
        str | None,
        typer.Option(
            "--config", help="The config whose inputs are the credential (default: the one)."
        ),
    ] = None,
    timeout: Timeout = 180,
    log_timeout: LogTimeout = 60.0,
    stop_timeout: StopTimeout = None,
    settle: Settle = 2.0,
    threshold: Threshold = None,
) -> None:
    """NATS credentials: the server accepts old and new (reloaded), clients move, old removed."""
    from titan_deploy.ops.rotate.nats import run_nats

    progress = ctx.obj.output.progress
    settings = _settings(ctx)
    _run(ctx, "rotate nats", lambda project: run_nats(project, settings, progress))


@rotate_app.command("exchange")
def exchange(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Exchange group from the manifest (binance, bybit).")],
    from_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--from-file",
            help="File holding a new value; repeat in the group's order (KEY_FILE, then "
            "SECRET_FILE). Without it: one value per line on stdin, or a hidden prompt.",
        ),
    ] = None,
    dry_run: DryRun = False,
    timeout: Timeout = 180,
    log_timeout: LogTimeout = 60.0,
    wait_timeout: WaitTimeout = None,
    stop_timeout: StopTimeout = None,
    settle: Settle = 2.0,
    threshold: Threshold = None,
) -> None:
    """Exchange key pair: new values from files/stdin/prompt, proof in the logs, else restore."""
    from titan_deploy.ops.rotate.exchange import group_secrets, run_exchange, validate_material

    progress = ctx.obj.output.progress
    settings = _settings(ctx)

    def op(project):
        if dry_run and not from_file:  # the dry run checks files given, never reads stdin
            return run_exchange(project, name, settings)
        names = group_secrets(project, name)
        values = read_material(names, from_file or [])
        material = validate_material(project, name, values)
        return run_exchange(project, name, settings, progress, material=material)

    _run(ctx, "rotate exchange", op)


@rotate_app.command("secret")
def secret(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="A secret with rotation: restart outside an exchange group "
            "(grafana_admin_password, gemini_api_key)."
        ),
    ],
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            help="File holding the new value. Without it (and without --generate): one line "
            "on stdin, or a hidden prompt. Never give a value as an argument.",
        ),
    ] = None,
    generate: Annotated[
        bool,
        typer.Option(
            "--generate",
            help="A new random value (only for a secret with generate: true in the manifest).",
        ),
    ] = False,
    dry_run: DryRun = False,
    timeout: Timeout = 180,
    log_timeout: LogTimeout = 60.0,
    stop_timeout: StopTimeout = None,
    settle: Settle = 2.0,
    threshold: Threshold = None,
) -> None:
    """Any other secret: a new version, each consumer recreated on it, healthy and verified
    (and its verify_log proof, if the manifest has one), else every consumer back on the old."""
    from titan_deploy.ops.rotate.secret import check_rotatable, run_secret, validate_value

    progress = ctx.obj.output.progress
    settings = _settings(ctx)

    def op(project):
        if from_file is not None and generate:
            from titan_deploy.errors import UsageError

            raise UsageError("--from-file and --generate exclude each other: give one")
        check_rotatable(project, name, generate)
        if generate or (dry_run and from_file is None):  # a dry run checks a file given
            return run_secret(project, name, settings, progress, generate=generate)
        values = read_material([name], [from_file] if from_file else [])
        value = validate_value(project, name, values)
        return run_secret(project, name, settings, progress, value=value)

    _run(ctx, "rotate secret", op)


@rotate_app.command("status")
def status(ctx: typer.Context) -> None:
    """The journal: what is in flight, when HMAC phase 2 is allowed, the lock, the versions."""
    from titan_deploy.ops.rotate.status import run_status

    _run(ctx, "rotate status", run_status)


@rotate_app.command("resume")
def resume(
    ctx: typer.Context,
    timeout: Timeout = 180,
    stop_timeout: StopTimeout = None,
    settle: Settle = 2.0,
    threshold: Threshold = None,
    log_timeout: LogTimeout = 60.0,
) -> None:
    """Finish an interrupted rotation (re-runs the interrupted step; breaks a stale lock)."""
    from titan_deploy.ops.rotate.recover import run_resume

    progress = ctx.obj.output.progress
    settings = _settings(ctx)
    _run(ctx, "rotate resume", lambda p: run_resume(p, settings, progress))


@rotate_app.command("abort")
def abort(
    ctx: typer.Context,
    secret: Secret = None,
    timeout: Timeout = 180,
    stop_timeout: StopTimeout = None,
    settle: Settle = 2.0,
    log_timeout: LogTimeout = 60.0,
) -> None:
    """Undo the rotation in flight (or a finished HMAC phase 1): signers back first."""
    from titan_deploy.ops.rotate.recover import run_abort

    progress = ctx.obj.output.progress
    settings = _settings(ctx)
    _run(ctx, "rotate abort", lambda p: run_abort(p, settings, progress))
