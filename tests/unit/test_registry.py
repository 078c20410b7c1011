"""The copy methods' registry: what the command line, config validation,
preflight and the benchmark read."""
from fabfile import tasks
from fabfile.context import validate
from fabfile.knowledge.copyplan import PrimaryStop
from fabfile.knowledge.transfer import Program
from fabfile.steps import clone
from fabfile.steps.methods import COLD, METHODS, CopyMethod

from bench import run as bench_run


def test_each_method_says_what_it_needs_and_when_the_primary_stops():
    assert list(METHODS) == ["rsync-cold", "rsync", "basebackup", "auto"]
    for name, method in METHODS.items():
        assert isinstance(method, CopyMethod) and method.name == name and method.help
    assert METHODS["basebackup"].primary_stops is PrimaryStop.NEVER
    assert not METHODS["basebackup"].needs
    # The two-pass rsync became the online delta copy: the primary keeps running.
    assert METHODS["rsync"].running is clone.RSYNC_ONLINE
    assert METHODS["rsync"].primary_stops is PrimaryStop.NEVER
    assert not METHODS["rsync-cold"].running and COLD is METHODS["rsync-cold"]
    assert METHODS["rsync-cold"].primary_stops is PrimaryStop.WHOLE_COPY
    assert METHODS["rsync-cold"].needs == (Program.RSYNC,)
    # What copies says what compression can do (knowledge/transfer.py).
    assert [m.running.program for m in METHODS.values() if m.running] == \
        [Program.RSYNC, Program.PG_BASEBACKUP]
    # Only base backups can be sent on from a standby's finished copy.
    assert [m.name for m in METHODS.values() if m.fans_out] == ["basebackup", "auto"]
    # The default picks a way per standby, never stopping the primary.
    assert not METHODS["auto"].running and METHODS["auto"].primary_stops is PrimaryStop.NEVER


def test_a_method_that_copies_a_running_primary_names_a_way_that_copies():
    for method in METHODS.values():
        if method.running:
            assert isinstance(method.running, clone.Way) and method.running.label
            assert type(method.running).copy is not clone.Way.copy, method.name


def test_each_way_of_copying_copies_and_names_its_program():
    for way in (clone.PG_BASEBACKUP, clone.RSYNC_ONLINE, clone.RSYNC_STOPPED,
                clone.RSYNC_FROM_STANDBY):
        assert isinstance(way.program, Program)
        assert type(way).copy is not clone.Way.copy
    for way in (clone.START_AS_IS, clone.REWIND):   # no copy: nothing travels
        assert way.program is None and type(way).copy is not clone.Way.copy


def test_command_line_config_and_benchmark_read_the_registry():
    help_text = tasks.COPY["method"]   # --method's help, for full, plan and sync
    assert all(f"{name} (" in help_text for name in METHODS)
    for name in METHODS:
        validate({**minimal(), "method": name})
    assert bench_run.FAB_METHODS == tuple(METHODS)


def minimal():
    return {"replication_role": "replicator", "layout": "auto", "port": 5432, "ssh_port": 22,
            "timeouts": {"start": 1, "stream": 1}}
