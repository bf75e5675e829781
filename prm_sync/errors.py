"""Every exception prm-sync raises, classified by how to recover from it.

The class decides what the engine does next, so callers never inspect
message text:

* ``ConfigError`` - a person must fix a file or an environment variable; the
  CLI prints every problem with its location and exits 2.
* ``TransientError`` - retry with backoff (429, 5xx, timeouts).
* ``QuotaExhausted`` - stop cleanly, checkpoint, resume on the next run.
* ``RecordError`` - this one record goes to the failed-records store; its
  batch carries on.
* ``FatalError`` - the run cannot go on (wrong credentials, schema missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prm_sync.exit_codes import ExitCode


class PrmSyncError(Exception):
    """Base class: anything prm-sync raises on purpose; ``exit_code`` comes from ``prm_sync.exit_codes``."""

    exit_code: int = ExitCode.FAILED


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file, with where it is and how to fix it."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None

    def location(self) -> str:
        if self.file is None:
            return ""
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def render(self) -> str:
        where = self.location()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
        }


class ConfigError(PrmSyncError):
    """Bad configuration, mapping or input file; carries every problem found."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, problems: list[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        self.problems = problems
        super().__init__("\n".join(p.render() for p in problems))


class MissingSecretError(ConfigError):
    """A credential is named in the config but its environment variable is unset."""

    def __init__(self, env_var: str, purpose: str) -> None:
        super().__init__(
            [
                Problem(
                    f"environment variable {env_var} is not set ({purpose})",
                    hint=f"export {env_var}=...",
                )
            ]
        )
        self.env_var = env_var


def listen_error(host: str, port: int, exc: OSError, *, option: str = "--port") -> ConfigError:
    """A server that cannot bind: the address and the reason in one line, and which option changes it."""
    import errno
    import socket

    if isinstance(exc, socket.gaierror):
        return ConfigError([Problem(f"cannot listen on host {host!r}: {exc.strerror or exc}",
                                    hint="use an address of this machine, e.g. --host 127.0.0.1")])
    if exc.errno == errno.EADDRINUSE:
        return ConfigError([Problem(f"cannot listen on {host}:{port}: port {port} is in use by another process",
                                    hint=f"stop it, or choose another port with {option}")])
    return ConfigError([Problem(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                                hint="use an address of this machine and a free port (0 picks one)")])


class UsageError(PrmSyncError):
    """The command line itself is wrong (unknown id, conflicting flags)."""

    exit_code = ExitCode.BAD_INPUT


@dataclass
class RemoteErrorInfo:
    """What a remote system said about a failure, normalised across systems."""

    system: str
    status: int | None
    code: str
    message: str
    fields: list[str] = field(default_factory=list)


class RemoteError(PrmSyncError):
    """A remote system refused a request; subclasses say how to recover."""

    def __init__(self, info: RemoteErrorInfo) -> None:
        self.info = info
        status = f"HTTP {info.status} " if info.status is not None else ""
        super().__init__(f"{info.system}: {status}{info.code}: {info.message}")


class TransientError(RemoteError):
    """Worth retrying after a pause: 429, 5xx, connection reset, timeout."""

    exit_code = ExitCode.PARTIAL  # still failing after the retries: try again later

    def __init__(self, info: RemoteErrorInfo, retry_after: float | None = None) -> None:
        super().__init__(info)
        self.retry_after = retry_after


class QuotaExhausted(RemoteError):
    """The remote's request budget (or our reserve of it) is spent for now."""

    exit_code = ExitCode.PARTIAL


class AuthError(RemoteError):
    """Credentials are wrong or expired; no retry will help.

    Raised out of a command (before a run starts) it is bad configuration;
    inside a sync run it stops the system's slices and the run ends ``partial``.
    """

    exit_code = ExitCode.BAD_INPUT


class RecordError(RemoteError):
    """One record was rejected; it is dead-lettered and the batch continues."""


class FatalError(PrmSyncError):
    """The run cannot continue and must stop with nothing half-committed."""


class StoreNotMigrated(FatalError):
    """The database exists but its schema is behind the code."""

    exit_code = ExitCode.BAD_INPUT


class StoreUnavailable(FatalError):
    """The database cannot be reached or is not a prm-sync database: the operator fixes the URL or the server."""

    exit_code = ExitCode.BAD_INPUT


class RunInProgress(PrmSyncError):
    """Another sync run holds the lock for the same scope."""

    exit_code = ExitCode.LOCKED


class LockLost(RunInProgress):
    """Another run took this run's lock over (it was presumed dead): this run stops before its next commit."""


class RuleViolation(PrmSyncError):
    """A channel rule forbids the requested change (an illegal lifecycle move, one extension too many)."""

    exit_code = ExitCode.BAD_INPUT
