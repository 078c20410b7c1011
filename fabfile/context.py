"""One run's context, made once by the task before any host is touched:

- `Settings`: the `hotstandby` config (fabric.yaml, a `-f` file,
  FABRIC_HOTSTANDBY_* variables, else each setting's default) checked by
  `validate` and frozen into typed fields; both are declared by the table in
  settings.py (docs/settings.md);
- `Options`: what this run was asked to do (copy method, compression, rate
  cap, fan-out, force, plan, quiet).
  A command-line flag wins, else the config's value: the flag is never written
  back into the config;
- the run's state (failed standbys, downtime) is `steps.run.RunState`.

Pure: no host is touched here.
"""
from dataclasses import dataclass

from .knowledge import fanout, transfer
from .settings import (Settings, SettingsError, StatusThresholds, Timeouts, TlsSettings,
                       setting, validate)
from .steps.methods import METHODS

# Settings and its checks are settings.py's (the table); here for the code
# and tests that import them from the run's context.
__all__ = ["Options", "Settings", "SettingsError", "StatusThresholds", "Timeouts",
           "TlsSettings", "as_number", "validate"]


def as_number(text):
    """A command-line value as a number, or as given (validate names the fault)."""
    try:
        return float(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class Options:
    """What this run does: a flag given on the command line, else the config's."""
    # Not given: what the settings' defaults say (settings.TABLE).
    method: object = METHODS[setting("method").default]        # a steps.methods.CopyMethod
    force: bool = setting("force").default
    dry: bool = False                                           # a plan: hosts change nothing
    quiet: bool = False
    compress: object = transfer.parse_compress(setting("compress").default)  # or "auto"
    max_rate: int = transfer.parse_rate(setting("max_rate").default)        # kB/s, or None
    fan_out: str = fanout.parse(setting("fan_out").default)     # knowledge.fanout.CHOICES

    @classmethod
    def resolve(cls, settings, method=None, force=False, dry=False, quiet=False,
                compress=None, max_rate=None, fan_out=None):
        name = method or settings.method
        if name not in METHODS:
            raise SettingsError(f"--method {name!r}: use " + ", ".join(METHODS))
        parsed = {}
        for flag, given, configured, parse in (
                ("compress", compress, settings.compress, transfer.parse_compress),
                ("max-rate", max_rate, settings.max_rate, transfer.parse_rate),
                ("fan-out", fan_out, settings.fan_out, fanout.parse)):
            try:
                parsed[flag] = parse(configured if given is None else given)
            except (transfer.BadValue, fanout.BadValue) as exc:
                raise SettingsError(f"--{flag} {given!r}: {exc}") from None
        return cls(METHODS[name], bool(force or settings.force), dry, quiet,
                   parsed["compress"], parsed["max-rate"], parsed["fan-out"])
