"""Run each task once with the ordered -H list, not once per host.

Fabric's Executor calls a task per host; a standby set-up needs to know which
host is the primary and which are standbys, so every task of this tool runs
once and reads the list from `hotstandby.cli_hosts`.  Invoke loads this class
from `tasks.executor_class` in fabric.yaml, so the plain `fab` command works.
"""
import fabric


class ClusterExecutor(fabric.Executor):
    def expand_calls(self, calls, apply_hosts=True):
        host_str = self.core[0].args.hosts.value if apply_hosts else ""
        if host_str:
            # A modification (not an override: that level holds e.g. the
            # prompted sudo password) on top of the collection's defaults.
            self.config.load_collection(self.collection.configuration())
            self.config.hotstandby.cli_hosts = [h for h in host_str.split(",") if h]
        return super().expand_calls(calls, apply_hosts=False)
