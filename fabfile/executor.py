"""Run each task once with the ordered -H list, not once per host.

Fabric's Executor calls a task per host; a standby set-up needs to know which
host is the primary and which are standbys, so every task of this tool runs
once and reads the list from `hotstandby.cli_hosts`.  Invoke loads this class
from `tasks.executor_class` in fabric.yaml, so the plain `fab` command works.

It also loads the config before any task runs, checking each source first
(settings.check_source): Invoke merges the collection's defaults with the
config files and FABRIC_* variables only here, and a value of another shape
(a mapping where the defaults hold a list, say) would end in its
AmbiguousMergeError; it is one line naming the setting instead.

And `fab plan TASK` plans TASK where TASK has a --plan flag (`planned`).
"""
import os

import fabric
from invoke import Exit

from . import settings

# Invoke's config levels that hold what the user gave, in merge order (the
# environment is read last, onto what they make).
SOURCES = ("system", "user", "project", "runtime", "overrides", "modifications")


def check_sources(config):
    """SettingsError naming the first setting a source (a config file...)
    does not know, or gives a value of another shape."""
    for level in SOURCES:
        source = getattr(config, f"_{level}", None) or {}
        if "hotstandby" in source:
            settings.check_source(source["hotstandby"])


def planned(calls):
    """`fab plan switchover` is one call, switchover --plan: `plan` followed by
    a task with a plan flag of its own plans that task.  To Fabric they are
    two tasks, and the second would run for real after the plan of `full`."""
    result = []
    for call in calls:
        if result and result[-1].task.name == "plan" and "plan" in (call.kwargs or {}):
            call.kwargs["plan"] = True
            result[-1] = call
        else:
            result.append(call)
    return result


class ClusterExecutor(fabric.Executor):
    def expand_calls(self, calls, apply_hosts=True):
        host_str = (self.core[0].args.hosts.value if apply_hosts else "") or ""
        try:
            self.load_config([h for h in host_str.split(",") if h])
        except settings.SettingsError as exc:
            # A task whose bad input has its own exit code (status: 3) has it here too.
            code = getattr(calls[0].task, "bad_input_exit", 1) if calls else 1
            raise Exit(f"error: {exc}", code=code) from None
        return super().expand_calls(planned(calls), apply_hosts=False)

    def load_config(self, cli_hosts):
        """What Invoke's execute() loads before each task (the collection's
        defaults, then the environment), loaded once here first, each source
        checked before it is merged."""
        config = self.config
        check_sources(config)
        config.load_collection(self.collection.configuration())
        if cli_hosts:
            # A modification (not an override: that level holds e.g. the
            # prompted sudo password) on top of the collection's defaults.
            config.hotstandby.cli_hosts = cli_hosts
        settings.check_environment(config.hotstandby, os.environ, config._env_prefix)
        config.load_shell_env()
