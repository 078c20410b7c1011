"""What a run prints, and how a plan differs."""
import io
from types import SimpleNamespace

from fabfile.context import Settings
from fabfile.steps.run import Run, RunState
from fabfile.report import Report
from fabfile.tasks import failure


def cluster(state=None):
    layout = SimpleNamespace(version="15", kind="debian", service="")
    hosts = SimpleNamespace(primary=SimpleNamespace(name="master", layout=layout), standbys=[],
                            primary_address=lambda: "10.0.0.2", addresses={})
    return Run(hosts, settings=Settings(), options=None, state=state or RunState())


def printed(plan, changes):
    out = io.StringIO()
    report = Report(out=out, plan=plan)
    with report.step("configure-master"):
        for text in changes:
            report.change("master", text)
    report.summary(cluster())
    return out.getvalue()


def test_plan_marks_changes_and_indents_diffs():
    text = printed(True, ["would change /x.conf:\n--- /x.conf\n+++ /x.conf\n+a = 1"])
    assert "  master: (plan) would change /x.conf:\n      --- /x.conf\n" in text
    assert "      +a = 1\n" in text
    assert "plan: 1 changes; run full to make them" in text
    assert "primary downtime" not in text


def test_plan_without_changes_says_so():
    assert "  plan: no changes" in printed(True, [])


def test_a_run_reports_timing_and_downtime():
    text = printed(False, ["created replication slot standby"])
    assert "  master: created replication slot standby" in text
    assert "primary downtime: none" in text and "1 changes" in text


def test_downtime_is_an_upper_bound_summed_over_stops(monkeypatch):
    clock = iter([0.0, 10.0, 12.5, 20.0, 21.0, 30.0])   # start, stop, start, stop, start, end
    monkeypatch.setattr("time.monotonic", lambda: next(clock))
    out = io.StringIO()
    report, state = Report(out=out), RunState()
    state.primary_stopped()
    state.primary_started()
    state.primary_stopped()
    state.primary_started()
    report.summary(cluster(state))
    assert "primary downtime: at most 3.5 s; total 30.0 s" in out.getvalue()


def test_a_hosts_escape_sequences_never_reach_the_terminal():
    text = printed(True, ["would change /x.conf:\n+# \x1b]0;pwned\x07\x1b[2J"])
    assert "\x1b" not in text and "\x07" not in text
    assert "      +# ]0;pwned[2J\n" in text


def test_a_failure_line_is_printable():
    exit_ = failure(RuntimeError("standby: FATAL \x1b[2Jgone\r"), 1)
    assert exit_.message == "error: standby: FATAL [2Jgone" and exit_.code == 1
