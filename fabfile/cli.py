"""The installed command, `pg-hotstandby`: `fab` with this package's tasks built in.

`fab` finds the tasks and the executor (fabric.yaml) only from a clone's root;
an installed command must work from any directory.  It is Fabric's own Program,
so options and configuration files are `fab`'s (-H, -S, -f FILE, /etc/fabric.yaml,
~/.fabric.yaml, FABRIC_* variables); only a project's fabric.yaml is not read.
"""
import re
from importlib import metadata
from pathlib import Path

import fabric
from fabric.main import Fab

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


class Program(Fab):
    def print_version(self):
        super().print_version()
        print(f"Fabric {fabric.__version__}")   # Fab prints Paramiko and Invoke only


def make_program():
    return Program(name="pg-hotstandby", version=version(), namespace=ns,
                   executor_class=ClusterExecutor, config_class=fabric.Config)


def main():
    make_program().run()
