"""Errors that name the place the user has to fix."""

from __future__ import annotations


class StabtestError(Exception):
    """Base for every error stabtest raises on purpose (bad input, missing model, ...)."""


class SuiteError(StabtestError):
    """A suite file (or a `stability` marker) is malformed; says file, line and key."""

    def __init__(self, path: str, message: str, line: int | None = None, key: str | None = None):
        self.path = path
        self.line = line
        self.key = key
        self.message = message
        where = path if line is None else f"{path}:{line}"
        what = f" [{key}]" if key else ""
        super().__init__(f"{where}{what}: {message}")


class ConfigError(StabtestError):
    """A setting (ini key, flag, environment variable) has a value we cannot use."""

    def __init__(self, setting: str, message: str):
        self.setting = setting
        super().__init__(f"setting {setting}: {message}")


class BackendError(StabtestError):
    """A model backend could not be resolved, loaded or run; says how to fix it."""
