"""The installed command (fabfile/cli.py) is `fab` with this package's tasks."""
import json
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import fabric
import pytest

from fabfile import cli
from fabfile.executor import ClusterExecutor
from fabfile.tasks import ns

REPO = Path(__file__).resolve().parents[2]


def run(capsys, *args):
    cli.make_program().run(["pg-hotstandby", *args], exit=False)
    return capsys.readouterr().out


def task_names(listing):
    return [t["name"] for t in json.loads(listing)["tasks"]]


def test_lists_the_tasks_fab_lists(capsys):
    fab = subprocess.run([sys.executable, "-m", "fabric", "--list", "-F", "json"], cwd=REPO,
                         capture_output=True, text=True, check=True)
    listed = task_names(run(capsys, "--list", "-F", "json"))
    assert listed == task_names(fab.stdout)
    assert sorted(listed) == sorted(ns.task_names) and "full" in listed


def test_runs_each_task_once_with_fabric_config():
    program = cli.make_program()
    assert program.namespace is ns
    assert program.executor_class is ClusterExecutor
    assert program.config_class is fabric.Config


def test_version_is_the_package_version(capsys):
    try:
        expected = metadata.version("pg-hotstandby")
    except metadata.PackageNotFoundError:   # a checkout that was never installed
        expected = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    lines = run(capsys, "--version").splitlines()
    assert lines[0] == f"pg-hotstandby {expected}"
    assert f"Fabric {fabric.__version__}" in lines


def test_a_bad_compression_or_rate_flag_is_one_line_before_any_host():
    # Hosts that do not resolve: the run stops before it tries any.
    for args in (["full", "--max-rate", "10"], ["plan", "--compress", "gzip"],
                 ["sync", "--max-rate", "50MB"]):
        done = subprocess.run([sys.executable, "-m", "fabric", "-H", "nohost-a.invalid,"
                               "nohost-b.invalid", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"error: {args[1]} "), \
            done.stderr


def test_fabs_collection_and_search_root_are_refused_with_the_reason(capsys):
    # Wherever fab's parser takes them: before --list or --version act, or
    # after a task that has no -c of its own.
    for args in (["-c", "x", "--list"], ["-r", "/tmp", "--list"], ["--collection=x", "--version"],
                 ["--search-root", "/tmp", "-H", "a,b", "full"], ["-H", "a,b", "status", "-c", "x"]):
        with pytest.raises(SystemExit) as exited:
            cli.make_program().run(["pg-hotstandby", *args])
        out, err = capsys.readouterr()
        assert exited.value.code == 1 and out == "", args
        assert err == cli.LOADER_FLAGS + "\n", (args, err)
    assert "-c/-r do not apply" in cli.LOADER_FLAGS


def test_a_tasks_own_short_c_is_still_the_tasks(capsys):
    # plan -c is --compress: the task's error, not the refusal.
    with pytest.raises(SystemExit) as exited:
        cli.make_program().run(["pg-hotstandby", "-H", "nohost-a.invalid,nohost-b.invalid",
                                "plan", "-c", "gzip"])
    assert exited.value.code == 1
    assert capsys.readouterr().err.startswith("error: --compress 'gzip'")


def fab(*args, cwd=REPO, env=None, program=("-m", "fabric")):
    return subprocess.run([sys.executable, *program, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env=env)


NO_HOSTS = "nohost-a.invalid,nohost-b.invalid"   # never reached: the config is refused first


@pytest.mark.parametrize("text, error", [
    # Each was Invoke's AmbiguousMergeError traceback (a value merged onto a
    # default of another shape), or, for methd, ignored.
    ("standbys: {a: b}", "hotstandby.standbys: a list of host names expected, got a mapping"),
    ("tls: on", "hotstandby.tls: a mapping of mode, ca_file, cert_file and key_file expected, "
                "got true"),
    ("addresses: [x]", "hotstandby.addresses: a mapping of host names to addresses expected, "
                       "got a list"),
    ("timeouts: 5", "hotstandby.timeouts: a mapping of start, stream and watchdog expected, got 5"),
    ("methd: rsync", "hotstandby.methd: unknown setting: did you mean method?"),
])
def test_a_bad_config_file_is_one_line_before_any_host(tmp_path, text, error):
    (tmp_path / "bad.yaml").write_text(f"hotstandby:\n  {text}\n")
    done = fab("-f", str(tmp_path / "bad.yaml"), "-H", NO_HOSTS, "plan")
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"error: {error}\n")


def test_a_bad_config_file_is_status_bad_input_and_needs_no_hosts(tmp_path):
    (tmp_path / "bad.yaml").write_text("hotstandby:\n  standbys: {a: b}\n")
    error = "error: hotstandby.standbys: a list of host names expected, got a mapping\n"
    for hosts, task, code in ((["-H", NO_HOSTS], "status", 3), ([], "full", 1)):
        done = fab("-f", str(tmp_path / "bad.yaml"), *hosts, task)
        assert (done.returncode, done.stdout, done.stderr) == (code, "", error)


def test_a_list_in_an_environment_variable_is_one_line_before_any_host():
    done = fab("-H", NO_HOSTS, "plan", env={**os.environ, "FABRIC_HOTSTANDBY_STANDBYS": "db2"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr == ("error: hotstandby.standbys: a list of host names expected, got "
                           "'db2' from FABRIC_HOTSTANDBY_STANDBYS: give a list in a config "
                           "file\n")


def test_two_config_files_that_disagree_on_a_shape_are_one_line(tmp_path):
    # ~/.fabric.yaml a list, the -f file a mapping: the installed command
    # merges them before its executor (plain fab too, inside Invoke: left as is).
    (tmp_path / ".fabric.yaml").write_text("hotstandby:\n  standbys: [a]\n")
    (tmp_path / "bad.yaml").write_text("hotstandby:\n  standbys: {a: b}\n")
    done = fab("-f", str(tmp_path / "bad.yaml"), "-H", NO_HOSTS, "plan", cwd=tmp_path,
               env={**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(REPO)},
               program=("-c", "from fabfile.cli import main; main()"))
    assert (done.returncode, done.stderr) == (
        1, "error: hotstandby.standbys: a list of host names expected, got a mapping\n")


def test_a_clash_in_one_of_fabs_own_settings_is_named():
    config = SimpleNamespace(_defaults={"run": {"echo": False, "pty": False}},
                             _user={"run": {"pty": True}}, _runtime={"run": 5})
    assert cli.clash(config) == ("run", {"echo": False, "pty": True}, 5)


def test_remove_standby_needs_its_hosts_named_and_checks_upstreams_first(tmp_path):
    (tmp_path / "roles.yaml").write_text("hotstandby:\n  primary: db1\n  standbys: [db2]\n")
    done = fab("-f", str(tmp_path / "roles.yaml"), "remove-standby")
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "", "error: name the hosts: -H PRIMARY,STANDBY[,...] (the standbys to retire)\n")
    # An upstream chain that never reaches the primary: refused before any host.
    (tmp_path / "loop.yaml").write_text("hotstandby:\n  hosts:\n    a.invalid: {upstream: "
                                        "b.invalid}\n    b.invalid: {upstream: a.invalid}\n")
    done = fab("-f", str(tmp_path / "loop.yaml"), "-H", "p.invalid,a.invalid",
               "remove-standby")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: hotstandby.hosts: the upstreams of") \
        and "cycle" in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize("task", ["switchover", "remove-standby"])
def test_plan_before_a_task_with_its_own_plan_flag_plans_that_task(task):
    from invoke import Call

    from fabfile.executor import planned
    from fabfile.tasks import ns
    calls = [Call(ns["plan"], called_as="plan", kwargs={"quiet": False}),
             Call(ns[task], called_as=task, kwargs={"plan": False, "quiet": False})]
    assert [(c.task, c.kwargs["plan"]) for c in planned(calls)] == [(ns[task], True)]
    # Elsewhere nothing is folded: plan then full are two calls, as Fabric says.
    two = [Call(ns["plan"], kwargs={}), Call(ns["full"], kwargs={"quiet": False})]
    assert planned(list(two)) == two
