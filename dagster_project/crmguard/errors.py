"""Errors that reach the user as one line and an exit code (CONTRACTS.md section 4)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2


class CrmguardError(Exception):
    """An error the user can fix; the message says what to fix. Exit code 2 unless stated."""

    exit_code = EXIT_BAD_INPUT


class BadInput(CrmguardError):
    """Bad usage or bad input: a file, line or field that must be corrected."""


class WarehouseLocked(CrmguardError):
    """Another process is writing the warehouse (DuckDB allows one writer per file)."""


class NotAvailableYet(CrmguardError):
    """A command whose capability has not been built yet."""


class CheckFailed(CrmguardError):
    """A check or verification ran and failed (exit 1)."""

    exit_code = EXIT_CHECK_FAILED
