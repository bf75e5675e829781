"""The one table of exit codes every ``prm-sync`` command uses.

A scheduler, a CI job or a shell script decides what to do next from the
exit code alone, so each outcome has a code of its own: before this table,
exit 3 meant "the lock is held", "the run stopped on the API quota" and "a
replayed record failed again", three situations with three different
remedies. ``README.md`` prints ``EXIT_CODES`` (a test keeps the two equal).
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class ExitCode(IntEnum):
    OK = 0
    INTERNAL_ERROR = 1
    BAD_INPUT = 2
    LOCKED = 3
    DIFFERENCES = 4
    FAILED_RECORDS = 5
    PARTIAL = 6
    FAILED = 7
    INTERRUPTED = 130


class ExitCodeDoc(NamedTuple):
    meaning: str
    next_step: str


EXIT_CODES: dict[ExitCode, ExitCodeDoc] = {
    ExitCode.OK: ExitCodeDoc(
        "success: everything was written, or there was nothing to do",
        "nothing",
    ),
    ExitCode.INTERNAL_ERROR: ExitCodeDoc(
        "internal error: a bug in prm-sync (one line; `--debug` shows the traceback)",
        "report it with the `--debug` output",
    ),
    ExitCode.BAD_INPUT: ExitCodeDoc(
        "bad input or configuration: command line, config or mapping file, CSV, a missing secret, "
        "a mapped field the CRM does not have (preflight), credentials refused before a run, "
        "a store behind the code, a change a channel rule forbids",
        "fix what the message names (`prm-sync validate --remote`), then run again",
    ),
    ExitCode.LOCKED: ExitCodeDoc(
        "lock held: another run holds a slice this run needs; nothing was done",
        "wait for it (`prm-sync status` names the holder), then run again; a holder that died is taken over "
        "by itself (or `prm-sync db unlock`)",
    ),
    ExitCode.DIFFERENCES: ExitCodeDoc(
        "differences found: reconcile found drift, or mapping tests do not match",
        "`prm-sync reconcile --repair`, or fix the mapping",
    ),
    ExitCode.FAILED_RECORDS: ExitCodeDoc(
        "success with failed records: the run finished, some records were refused and wait in the "
        "failed-records store (also: a replayed record failed again)",
        "`prm-sync failures`, fix the cause, `prm-sync failures replay`",
    ),
    ExitCode.PARTIAL: ExitCodeDoc(
        "partial: stopped early on the API quota, refused credentials or an unavailable system; "
        "what was done is committed (setup: some items were created, others refused)",
        "the next run resumes; for auth, renew the token; for setup, fix what each refused item names and run it again",
    ),
    ExitCode.FAILED: ExitCodeDoc(
        "failed: every record the run tried was refused (nothing written), or the run could not go "
        "on (database unreachable); setup: no item could be created",
        "`prm-sync failures` shows the common cause (often a missing field: `prm-sync validate --remote`, "
        "then `prm-sync setup`)",
    ),
    ExitCode.INTERRUPTED: ExitCodeDoc(
        "interrupted (Ctrl-C); committed batches stay, the next run resumes",
        "run again",
    ),
}

# sync run statuses (``prm_sync.sync.stats.RunStatus``) and the code a command exits with
RUN_STATUS_EXIT = {
    "succeeded": ExitCode.OK,
    "succeeded_with_failures": ExitCode.FAILED_RECORDS,
    "partial": ExitCode.PARTIAL,
    "failed": ExitCode.FAILED,
}


def for_run_status(status: str) -> ExitCode:
    """The exit code of a command whose outcome is a run with this status."""
    return RUN_STATUS_EXIT.get(status, ExitCode.INTERNAL_ERROR)


def markdown_table() -> str:
    """``EXIT_CODES`` as the README prints it."""
    lines = ["| exit | meaning | what to do |", "|---:|---|---|"]
    lines += [f"| {int(code)} | {doc.meaning} | {doc.next_step} |" for code, doc in EXIT_CODES.items()]
    return "\n".join(lines)
