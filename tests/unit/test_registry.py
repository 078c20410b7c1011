"""The copy methods' registry: what the command line, config validation,
preflight and the benchmark read."""
from fabfile import tasks
from fabfile.context import validate
from fabfile.steps.methods import METHODS, CopyMethod

from bench import run as bench_run


def test_each_method_says_what_it_needs_and_when_the_primary_stops():
    assert list(METHODS) == ["rsync-cold", "rsync", "basebackup"]
    for name, method in METHODS.items():
        assert isinstance(method, CopyMethod) and method.name == name and method.help
    assert not METHODS["basebackup"].primary_stops and not METHODS["basebackup"].needs
    assert METHODS["rsync"].running_copy and METHODS["rsync"].primary_stops == "the second pass"
    assert not METHODS["rsync-cold"].running_copy
    assert METHODS["rsync-cold"].needs == ("rsync",)
    # What copies says what compression can do (knowledge/transfer.py).
    assert [m.program for m in METHODS.values()] == ["rsync", "rsync", "pg_basebackup"]


def test_a_method_that_copies_a_running_primary_copies_one_standby():
    for method in METHODS.values():
        defines = type(method).copy_one is not CopyMethod.copy_one
        assert defines == bool(method.running_copy), method.name


def test_command_line_config_and_benchmark_read_the_registry():
    help_text = tasks.COPY["method"]   # --method's help, for full, plan and sync
    assert all(f"{name} (" in help_text for name in METHODS)
    for name in METHODS:
        validate({**minimal(), "method": name})
    assert bench_run.FAB_METHODS == tuple(METHODS)


def minimal():
    return {"replication_role": "replicator", "layout": "auto", "port": 5432, "ssh_port": 22,
            "timeouts": {"start": 1, "stream": 1}}
