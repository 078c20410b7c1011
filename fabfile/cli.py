"""The installed command, `pg-hotstandby`: `fab` with this package's tasks built in.

`fab` finds the tasks and the executor (fabric.yaml) only from a clone's root;
an installed command must work from any directory.  It is Fabric's own Program,
so options and configuration files are `fab`'s (-H, -S, -f FILE, /etc/fabric.yaml,
~/.fabric.yaml, FABRIC_* variables); only a project's fabric.yaml is not read,
and fab's -c/--collection and -r/--search-root are refused: they choose which
tasks to load, and these are built in.
"""
import re
from importlib import metadata
from pathlib import Path

import fabric
from fabric.main import Fab
from invoke import Argument, Exit

from .executor import ClusterExecutor
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


def make_program():
    return Program(name="pg-hotstandby", version=version(), namespace=ns,
                   executor_class=ClusterExecutor, config_class=fabric.Config)


def main():
    make_program().run()
