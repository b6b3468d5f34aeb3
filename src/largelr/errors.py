"""User-facing errors. Anything raised as ``UserError`` is shown as one line and exits with code 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: a config value, a path, a file's contents.

    The CLI prints ``error: <message>`` and exits with code 2, without a traceback.
    """


class ConfigError(UserError):
    """A config key or value is invalid."""
