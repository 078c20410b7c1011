"""Copies to several standbys run at once: one failing does not stop the others."""
import io
import threading
from types import SimpleNamespace

import pytest

from fabfile.steps.clone import each_standby
from fabfile.hosts.cluster import ClusterError
from fabfile.steps.run import RunState
from fabfile.hosts.remote import RemoteError
from fabfile.report import Report

STANDBYS = [SimpleNamespace(name=n) for n in ("s1", "s2", "s3")]


def cluster():
    return SimpleNamespace(state=RunState())


def test_every_copy_runs_at_once_and_failures_are_reported_per_standby():
    barrier = threading.Barrier(3, timeout=5)   # passes only if all three run together
    copied = []

    def copy(s):
        barrier.wait()
        if s.name == "s2":
            raise RemoteError("s2: rsync failed (exit 12)")
        copied.append(s.name)
    out = io.StringIO()
    report, run = Report(out=out), cluster()
    failed = each_standby(run, STANDBYS, copy, report)
    assert failed == {"s2": "s2: rsync failed (exit 12)"}
    assert sorted(copied) == ["s1", "s3"]
    assert run.state.failed == failed and "!! s2: copy failed" in out.getvalue()


def test_a_bug_in_a_copy_is_raised_not_reported_as_a_host_failure():
    def copy(s):
        if s.name == "s3":
            raise KeyError("oops")
    with pytest.raises(KeyError):
        each_standby(cluster(), STANDBYS, copy, Report(out=io.StringIO()))


def test_a_refusal_is_a_failure_of_that_standby():
    def copy(s):
        raise ClusterError(f"{s.name}: no")
    failed = each_standby(cluster(), STANDBYS[:1], copy, Report(out=io.StringIO()))
    assert failed == {"s1": "s1: no"}
