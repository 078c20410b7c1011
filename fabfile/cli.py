"""The installed command, `pg-hotstandby`: `fab` with this package's tasks built in.

`fab` finds the tasks and the executor (fabric.yaml) only from a clone's root;
an installed command must work from any directory.  It is Fabric's own Program,
so options and configuration files are `fab`'s (-H, -S, -f FILE, /etc/fabric.yaml,
~/.fabric.yaml, FABRIC_* variables); only a project's fabric.yaml is not read.
"""
import re
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import fabric
from fabric.main import Fab
from invoke import Exit
from invoke.config import AmbiguousMergeError, merge_dicts

from .executor import ClusterExecutor, check_sources
from .settings import SettingsError, describe
from .tasks import ns


def version():
    try:
        return metadata.version("pg-hotstandby")
    except metadata.PackageNotFoundError:
        # Run from a source checkout that was never installed: its pyproject.toml.
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        found = pyproject.is_file() and re.search(
            r'^version = "([^"]+)"', pyproject.read_text(), re.MULTILINE)
        return found.group(1) if found else "unknown"


class Program(Fab):
    def print_version(self):
        super().print_version()
        print(f"Fabric {fabric.__version__}")   # Fab prints Paramiko and Invoke only

    # Fab merges the config files with each other here, before the executor
    # checks them: two that give a setting different shapes (~/.fabric.yaml a
    # list, the -f file a mapping) are one line too, not Invoke's traceback.
    def create_config(self):
        with files_merged(self):
            super().create_config()

    def update_config(self):
        with files_merged(self):
            super().update_config()


@contextmanager
def files_merged(program):
    try:
        yield
    except AmbiguousMergeError as exc:
        tasks = getattr(program, "tasks", None) or ()
        code = getattr(program.collection[tasks[0].name], "bad_input_exit", 1) if tasks else 1
        try:
            check_sources(program.config)
        except SettingsError as fault:
            raise Exit(f"error: {fault}", code=code) from None
        found = clash(program.config)   # one of fab's own settings
        if not found:
            raise Exit(f"error: {exc}", code=code) from None
        key, earlier, later = found
        expected = "a mapping" if isinstance(earlier, dict) else "a single value"
        raise Exit(f"error: {key}: {expected} expected, got {describe(later)}", code=code) \
            from None


LEVELS = ("defaults", "collection", "system", "user", "project", "env", "runtime",
          "overrides", "modifications")   # Invoke's, in merge order


def clash(config, levels=LEVELS):
    """(dotted key, earlier value, later value): the first key two config
    levels give a mapping and a value that is not one, as Invoke merges them."""
    merged = {}
    for level in levels:
        data = getattr(config, f"_{level}", None) or {}
        found = _clash(merged, data, ())
        if found:
            return found
        merge_dicts(merged, data)
    return None


def _clash(base, updates, path):
    for key, value in updates.items():
        if key not in base:
            continue
        if isinstance(value, dict) and isinstance(base[key], dict):
            found = _clash(base[key], value, (*path, key))
            if found:
                return found
        elif isinstance(value, dict) or isinstance(base[key], dict):
            return ".".join(map(str, (*path, key))), base[key], value
    return None


def make_program():
    return Program(name="pg-hotstandby", version=version(), namespace=ns,
                   executor_class=ClusterExecutor, config_class=fabric.Config)


def main():
    make_program().run()
