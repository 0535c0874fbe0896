"""Class 9.1 inside rotations: error text from outside the tool (compose's stderr, the engine,
psql) that quotes a secret value is scrubbed BEFORE it reaches the journal (reason, notes,
history), a progress line, a report, `rotate status` or `rotate abort`.

The effects are a fake whose compose "fails" with a message quoting three canaries — a base
file's value, a version file's value and the new exchange key that exists only in memory — in
raw, backslash-doubled, JSON-escaped and base64 forms (the forms are asserted as far as
core.redact.redact itself covers them; raw and base64 always). The real runner, session, CLI and
journal file do the rest.
"""

from __future__ import annotations

import base64
import json
import secrets as pyrandom
from pathlib import Path

import pytest

from titan_deploy.core.redact import redact
from titan_deploy.errors import ComposeError
from titan_deploy.ops.rotate.runner import StepFailed

EXCHANGE_INPUT = "binance"


def forms(value: str) -> list[str]:
    """The forms an error text may quote a value in."""
    return [
        value,
        value.replace("\\", "\\\\"),
        json.dumps(value)[1:-1],
        base64.b64encode(value.encode()).decode(),
    ]


def must_not_appear(value: str) -> list[str]:
    """Every form the redactor covers (raw and base64 at least, whatever redact() adds)."""
    out = []
    for form in forms(value):
        covered = redact(f"x {form} y", [value.encode()]) != f"x {form} y"
        if covered or form in (value, base64.b64encode(value.encode()).decode()):
            out.append(form)
    return out


class LeakyCompose:
    """Effects whose compose fails `failures` times quoting `text`; its notes quote it too.
    Version files are written and removed for real, as StackEffects does."""

    def __init__(self, text: str, failures: int) -> None:
        self.text = text
        self.failures = failures
        self.inputs: dict[str, bytes] = {}
        self.secrets_dir: Path | None = None

    def bind(self, project, options, progress, inputs=None):
        self.secrets_dir = project.secrets_dir
        self.inputs = inputs or self.inputs
        return self

    def write_version(self, step, journal) -> str:
        path = self.secrets_dir / f"{step.secret}.v{step.version}"
        if step.secret in self.inputs and not path.exists():
            path.write_bytes(self.inputs[step.secret])
        return "written"

    def repoint(self, step, journal) -> str:
        if self.failures > 0:
            self.failures -= 1
            raise ComposeError(
                f"recreate failed (exit 1): {self.text}",
                argv=["docker", "compose", "up"],
                returncode=1,
                stderr=self.text,
            )
        return f"recreated ({self.text})"

    def verify(self, step) -> str:
        return "verified"

    def provision(self, step) -> str:
        return "provisioned"

    def check_log(self, step) -> str:
        return f"proof seen: {self.text}"

    def sync_base(self, step) -> str:
        return "synced"

    def remove_versions(self, step, journal) -> str:
        for version in step.versions:
            (self.secrets_dir / f"{step.secret}.v{version}").unlink(missing_ok=True)
        return "removed"

    def guard_snapshot(self):
        return {}


def quoted(values: list[str]) -> str:
    parts = []
    for value in values:
        parts += [f"additional properties '{form}' not allowed" for form in forms(value)]
    return "; ".join(parts)


@pytest.fixture
def canaries(ready_project: Path, titan_values) -> dict[str, str]:
    version = ready_project / "secrets" / "titan_hmac_secret.v9"
    version.write_text(pyrandom.token_hex(32) + "\n")
    version.chmod(0o600)
    return {
        "base file": titan_values["titan_db_password"].decode(),
        "version file": version.read_text().strip(),
        # the new exchange key: only in memory until written; holds a quote and a backslash so
        # its escaped forms differ from the raw one
        "new key": "NEWk\\ey" + pyrandom.token_urlsafe(12) + '"Q' + pyrandom.token_hex(4),
        "new secret": "NEWsecret" + pyrandom.token_urlsafe(24),
    }


def assert_clean(canaries: dict[str, str], *texts: str) -> None:
    haystack = "\n".join(texts)
    for what, value in canaries.items():
        for form in must_not_appear(value):
            assert form not in haystack, f"the {what} leaked ({forms(value).index(form)})"


def journal_texts(project: Path) -> list[str]:
    raw = (project / ".titan-deploy" / "state.json").read_text()
    strings: list[str] = []

    def walk(value) -> None:
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(json.loads(raw))
    return [raw, *strings]


def test_compose_errors_quoting_values_never_reach_journal_progress_or_reports(
    ready_project: Path, cli, canaries, monkeypatch
) -> None:
    from titan_deploy.ops.rotate import command

    text = quoted(list(canaries.values()))
    fake = LeakyCompose(text, failures=2)  # the forward repoint, then the rollback's first
    monkeypatch.setattr(command, "make_effects", fake.bind)
    stdin = f"{canaries['new key']}\n{canaries['new secret']}\n"
    outputs: list[str] = []

    from typer.testing import CliRunner

    from titan_deploy.cli.app import app

    runner = CliRunner()
    for mode in ([], ["--json"]):
        fake.failures = 2
        (ready_project / ".titan-deploy" / "state.json").unlink(missing_ok=True)
        args = [
            "-C",
            str(ready_project),
            *mode,
            "rotate",
            "exchange",
            EXCHANGE_INPUT,
            "--settle",
            "0",
        ]
        failed = runner.invoke(app, args, input=stdin)
        assert failed.exit_code == 3, failed.output  # the rollback failed too
        assert "rollback step 1 (repoint) failed" in failed.output
        assert "[REDACTED]" in failed.output
        outputs += [failed.output, failed.stdout, failed.stderr]
        outputs += journal_texts(ready_project)
        for status_mode in ([], ["--json"]):
            status = cli("-C", ready_project, *status_mode, "rotate", "status")
            assert status.exit_code == 0
            assert "rotation in flight" in status.output
            outputs += [status.output]
        abort = cli("-C", ready_project, *mode, "rotate", "abort", "--settle", "0")
        assert abort.exit_code == 0, abort.output
        outputs += [abort.output, abort.stdout]
        outputs += journal_texts(ready_project)
        history = json.loads((ready_project / ".titan-deploy" / "state.json").read_text())
        assert "[REDACTED]" in history["history"][-1]["reason"]
    assert_clean(canaries, *outputs)


def test_a_forward_failure_with_a_leaky_note_is_redacted_in_the_report(
    ready_project: Path, cli, canaries, monkeypatch
) -> None:
    """Rolled back cleanly (exit 1): the reason in the report, summary and history is scrubbed,
    and so is every note an effect returned."""
    from titan_deploy.ops.rotate import command

    fake = LeakyCompose(quoted(list(canaries.values())), failures=0)

    def check_log(step) -> str:
        if step.required:
            raise StepFailed(f"no proof: {fake.text}")
        return "WARNING: no proof"

    fake.check_log = check_log
    monkeypatch.setattr(command, "make_effects", fake.bind)
    from typer.testing import CliRunner

    from titan_deploy.cli.app import app

    stdin = f"{canaries['new key']}\n{canaries['new secret']}\n"
    args = [
        "-C",
        str(ready_project),
        "--json",
        "rotate",
        "exchange",
        EXCHANGE_INPUT,
        "--settle",
        "0",
    ]
    result = CliRunner().invoke(app, args, input=stdin)
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["data"]["outcome"] == "rolled back"
    assert "[REDACTED]" in doc["data"]["reason"]
    assert_clean(
        canaries, result.output, result.stdout, result.stderr, *journal_texts(ready_project)
    )


def test_an_error_quoting_the_new_key_before_it_is_written_is_redacted(
    ready_project: Path, canaries, monkeypatch
) -> None:
    """The new exchange key exists only in memory: the guard's first reading fails quoting it
    (nothing written yet, the rotation never starts): the one error line is scrubbed."""
    from titan_deploy.ops.rotate import command

    fake = LeakyCompose(quoted([canaries["new key"], canaries["new secret"]]), failures=0)

    def guard():
        raise StepFailed(f"cannot read auth_failures_total: {fake.text}")

    fake.guard_snapshot = guard
    monkeypatch.setattr(command, "make_effects", fake.bind)
    from typer.testing import CliRunner

    from titan_deploy.cli.app import app

    stdin = f"{canaries['new key']}\n{canaries['new secret']}\n"
    for mode in ([], ["--json"]):
        args = [
            "-C",
            str(ready_project),
            *mode,
            "rotate",
            "exchange",
            EXCHANGE_INPUT,
            "--settle",
            "0",
        ]
        result = CliRunner().invoke(app, args, input=stdin)
        assert result.exit_code == 3, result.output
        assert "nothing was changed" in result.output and "[REDACTED]" in result.output
        assert not list((ready_project / "secrets").glob("binance_api_*.v*"))
        assert_clean(canaries, result.output, result.stdout, result.stderr)


def test_status_scrubs_a_journal_written_before_the_redactor(
    ready_project: Path, cli, canaries
) -> None:
    """A journal from an older titan-deploy may hold raw error text: status shows it scrubbed."""
    from datetime import datetime, timezone

    from titan_deploy.core.rotation import Journal, begin_rollback, plan_hmac, start
    from titan_deploy.io import journal as journal_io
    from titan_deploy.project import Project

    project = Project(project_dir=ready_project)
    plan = plan_hmac(project.manifest, "titan_hmac_secret", {}, (), "aaaaaa")
    journal = start(plan, Journal(), "run", datetime.now(timezone.utc))
    journal = begin_rollback(project.manifest, journal, quoted(list(canaries.values())[:2]))
    journal.active.log.append(
        {"mode": "forward", "step": 1, "note": f"FAILED: {quoted(list(canaries.values())[:2])}"}
    )
    journal_io.save(project, journal)
    texts = []
    for mode in ([], ["--json"]):
        status = cli("-C", ready_project, *mode, "rotate", "status")
        assert status.exit_code == 0 and "[REDACTED]" in status.output
        texts.append(status.output)
    assert_clean({k: canaries[k] for k in ("base file", "version file")}, *texts)
