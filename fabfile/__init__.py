"""pg-hotstandby: a streaming hot standby for a PostgreSQL server, over SSH.

    fab -H master,standby full

The package is layered, and the folders show it:
- knowledge/  pure: versions, layouts, rendered settings, rsync rules, parsing
- hosts/      the one layer that talks to hosts (Host) and the run's hosts (Cluster)
- steps/      the guide's steps and what surrounds them, one module per concern;
              run.py, the run every step takes; workflow.py, `full`
- tasks.py    the tasks (`fab --list`), thin; executor.py, report.py, cli.py
Each layer imports only those above it in this list (tests/unit/test_layers.py).
"""
from .tasks import ns  # noqa: F401  (what `fab` loads)
