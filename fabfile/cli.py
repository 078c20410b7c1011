"""The installed command, `pg-hotstandby`: `fab` with this package's tasks built in.

`fab` finds the tasks and the executor (fabric.yaml) only from a clone's root;
an installed command must work from any directory.  It is Fabric's own Program,
so options and configuration files are `fab`'s (-H, -S, -f FILE, /etc/fabric.yaml,
~/.fabric.yaml, FABRIC_* variables); only a project's fabric.yaml is not read,
and fab's -c/--collection and -r/--search-root are refused: they choose which
tasks to load, and these are built in.
"""
import re
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import fabric
from fabric.main import Fab
from invoke import Argument, Exit
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


LOADER_FLAGS = "pg-hotstandby has its tasks built in: -c/-r do not apply; " \
               "use fab from a clone to load another fabfile"


class Program(Fab):
    def print_version(self):
        super().print_version()
        print(f"Fabric {fabric.__version__}")   # Fab prints Paramiko and Invoke only

    def core_args(self):
        # With a namespace built in, Invoke leaves -c/-r out, and its parser
        # answers "No idea what '-c' is!".  Known here, they can be refused
        # with the reason; a task's own -c (plan -c zstd) still wins over them.
        refused = "refused: the tasks are built in (fab from a clone loads others)"
        return super().core_args() + [Argument(names=("collection", "c"), help=refused),
                                      Argument(names=("search-root", "r"), help=refused)]

    def _refuse_loader_flags(self):
        if self.args.collection.value is not None or self.args["search-root"].value is not None:
            raise Exit(LOADER_FLAGS)

    def parse_core_args(self):
        # Before --version or --list act on them.
        super().parse_core_args()
        self._refuse_loader_flags()

    def parse_tasks(self):
        # Core flags may follow a task too (pg-hotstandby status -c x).
        super().parse_tasks()
        self._refuse_loader_flags()

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
