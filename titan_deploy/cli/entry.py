"""The console script's entry point: `check-secrets` without building the typer app (issue 15).

The preflight runs before every deploy and in every CI job, and importing typer and building the
app (every command's signature read through `inspect` and `typing`) cost more than the check
itself. A command line made only of what this module knows — the global options of
`cli/app.main_options` (`--opt VALUE` or `--opt=VALUE`, flags), then `check-secrets`, then
`--fix` — runs here through the same boundary (`boundary.run`) with the same State and
parameters the typer app would build. Anything else goes to the typer app untouched: `--help`,
`-h`, an unknown, attached (`-Cdir`) or combined (`-vC`) option, a value that is empty or starts
with `-`, a `--format` outside its choices, a path typer would refuse (one that exists but cannot
be read), `--`, another command, shell completion. So the fast
path never decides what typer would decide differently (tests/cli/test_entry.py parses a corpus
of command lines both ways and compares, and fails when app.py gains a global option this table
lacks).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

COMMAND = "check-secrets"
FLAGS = {
    "--json": "json",
    "--no-color": "no_color",
    "-v": "verbose",
    "--verbose": "verbose",
    "--swarm": "swarm",
}
"""Global flags -> their parameter."""
SINGLE = {
    "-C": "project_dir",
    "--project-dir": "project_dir",
    "--manifest": "manifest",
    "--secrets-dir": "secrets_dir",
    "-p": "project_name",
    "--project-name": "project_name",
    "--format": "format",
}
"""Global options taking one value (the last one given wins, as in click) -> their parameter."""
REPEATED = {"-f": "file", "--file": "file", "--profile": "profile", "--env-file": "env_file"}
"""Global options that may be repeated (values kept in order) -> their parameter."""
PATHS = ("project_dir", "manifest", "secrets_dir")
"""The global options typed `Path` (typer stats each and refuses one that exists unreadable)."""
FORMATS = ("text", "json", "sarif")
LEFT_TO_TYPER = ("--backend",)
"""check-secrets options this module leaves to the typer app (`--backend` checks the secrets
manager: cli/backend.check_backend)."""
COMPLETION_VAR = "_TITAN_DEPLOY_COMPLETE"  # click's shell completion: the typer app answers it


def main() -> None:
    """Console-script entry point (`titan-deploy`, `python -m titan_deploy`): exits with the
    command's exit code (README "Exit codes")."""
    argv = sys.argv[1:]
    parsed = None if COMPLETION_VAR in os.environ else parse(argv)
    if parsed is None:
        from titan_deploy.cli.app import app

        sys.exit(app())
    sys.exit(check_secrets(*parsed))


def parse(argv: list[str]) -> tuple[dict[str, Any], bool] | None:
    """(the global options' values, `--fix`) of a `check-secrets` command line made only of what
    this module knows; None for anything else (the typer app then parses it)."""
    values: dict[str, Any] = {"file": [], "profile": [], "env_file": []}
    tokens = iter(argv)
    for token in tokens:
        if token == COMMAND:
            rest = list(tokens)
            if any(t != "--fix" for t in rest):
                return None
            return values, bool(rest)
        name, _, attached = token.partition("=") if token.startswith("--") else (token, "", "")
        if name in FLAGS and "=" not in token:
            values[FLAGS[name]] = True
            continue
        if name not in SINGLE and name not in REPEATED:
            return None
        value = attached if "=" in token else next(tokens, None)
        if not value or value.startswith("-"):
            return None
        if name == "--format" and value not in FORMATS:
            return None
        if SINGLE.get(name) in PATHS and not _readable_or_absent(value):
            return None  # typer refuses it (a usage error): let it say so
        if name in SINGLE:
            values[SINGLE[name]] = value
        else:
            values[REPEATED[name]].append(value)
    return None  # no command: the app says so (or shows the help)


def _readable_or_absent(value: str) -> bool:
    """Whether typer's Path type (readable=True, exists=False) accepts `value` as it is; False
    also for what os.stat cannot even look up (a NUL byte): typer decides those."""
    try:
        os.stat(value)
    except OSError:
        return True
    except ValueError:
        return False
    return os.access(value, os.R_OK)


def project_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    """The Project keyword arguments, as cli/app.main_options builds them."""
    secrets_dir = values.get("secrets_dir")
    return {
        "project_dir": Path(values.get("project_dir", ".")),
        "manifest_option": Path(values.get("manifest", "secrets.manifest.yml")),
        "secrets_dir_option": Path(secrets_dir) if secrets_dir is not None else None,
        "compose_file_options": list(values["file"]),
        "project_name": values.get("project_name"),
        "profiles": list(values["profile"]),
        "env_file_options": list(values["env_file"]),
        "swarm_option": bool(values.get("swarm")),
    }


def check_secrets(values: dict[str, Any], fix: bool) -> int:
    """Run check-secrets as the typer command would (cli/app.check_secrets); its exit code."""
    from titan_deploy.cli import boundary
    from titan_deploy.cli.output import Output, OutputFailed, discard_stdout
    from titan_deploy.errors import EXIT_RUNTIME
    from titan_deploy.ops.check import run_check

    output = Output(
        json_mode=bool(values.get("json")),
        format=values.get("format", "text"),
        no_color=bool(values.get("no_color")),
        verbose=bool(values.get("verbose")),
    )
    state = boundary.State(project_kwargs(values), output)
    try:
        return boundary.run(
            state, COMMAND, {"fix": fix, "backend": False}, lambda p: run_check(p, fix=fix)
        )
    except OutputFailed as exc:  # as RootGroup.main (cli/usage.py) does for every command
        discard_stdout()
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_RUNTIME
