"""Named domain errors and exit codes (DESIGN §5).

Every error the tool expects is a TitanError carrying the exit code it maps to. The CLI catches
them once, at the top, and prints one line. Messages name files, secrets and services, never a
secret value.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_CONFIG = 2
EXIT_RUNTIME = 3


class TitanError(Exception):
    """An expected failure: one line for the operator and the exit code it maps to."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class ConfigError(TitanError):
    """Bad manifest, bad compose file, bad option: the operator must fix the input (exit 2)."""

    exit_code = EXIT_CONFIG


class UsageError(ConfigError):
    """A command-line option or argument that cannot work (exit 2)."""


class RuntimeFailure(TitanError):
    """Something outside the tool failed: engine, compose, a timeout (exit 3)."""

    exit_code = EXIT_RUNTIME


class EngineUnreachable(RuntimeFailure):
    """No Docker engine answers at the configured endpoint."""


class ComposeError(RuntimeFailure):
    """A compose invocation failed. Carries argv, return code and stderr for `-v`."""

    def __init__(self, message: str, *, argv: list[str], returncode: int, stderr: str) -> None:
        super().__init__(message)
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr


class LockError(RuntimeFailure):
    """Another rotation holds the lock."""
