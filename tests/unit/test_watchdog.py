"""The primary's watchdog script, run here by sh: it starts the server once
the run has not touched its file for `limit` seconds, and exits without
starting anything once the run removes its directory."""
import shlex
import subprocess
import time

from fabfile.knowledge import watchdog
from fabfile.knowledge.shell import sh


def run_script(directory, limit, started, timeout=10):
    script = watchdog.script(str(directory), limit, sh("touch {f}", f=str(started)))
    return subprocess.run(["sh", "-c", script], timeout=timeout)


def test_an_unfed_watchdog_starts_the_server_and_removes_its_directory(tmp_path):
    directory, started = tmp_path / "watch", tmp_path / "started"
    directory.mkdir()
    subprocess.run(["touch", "-d", "30 seconds ago", str(directory / watchdog.FED)], check=True)
    assert run_script(directory, 10, started).returncode == 0
    assert started.exists() and not directory.exists()


def test_a_cancelled_watchdog_starts_nothing(tmp_path):
    directory, started = tmp_path / "watch", tmp_path / "started"
    directory.mkdir()
    (directory / watchdog.FED).touch()
    proc = subprocess.Popen(["sh", "-c", watchdog.script(str(directory), 60,
                                                          sh("touch {f}", f=str(started)))])
    time.sleep(0.5)
    assert proc.poll() is None            # fed a moment ago: it waits
    subprocess.run(["sh", "-c", watchdog.cancel(str(directory))], check=True)
    assert proc.wait(timeout=10) == 0
    assert not started.exists()


def test_the_run_feeds_it_several_times_per_limit():
    assert watchdog.feed_every(60) == 10 and watchdog.feed_every(3) == 1.0
    assert str(watchdog.feed("/run/pg-hotstandby-watchdog.ab12CD34")) == \
        "touch /run/pg-hotstandby-watchdog.ab12CD34/alive"


def test_its_directory_is_new_and_root_only():
    assert str(watchdog.make_directory()) == (
        'd=$(mktemp -d /run/pg-hotstandby-watchdog.XXXXXXXX) && touch "$d"/alive && echo "$d"')


def test_launched_it_runs_apart_and_starts_the_server(tmp_path):
    directory, started = tmp_path / "watch", tmp_path / "started"
    directory.mkdir()
    subprocess.run(["touch", "-d", "30 seconds ago", str(directory / watchdog.FED)], check=True)
    script = watchdog.script(str(directory), 10, sh("touch {f}", f=str(started)))
    launched = subprocess.run(["sh", "-c", watchdog.launch(script)], timeout=10)
    assert launched.returncode == 0        # at once: the watchdog runs on by itself
    for _ in range(50):
        if started.exists():
            break
        time.sleep(0.1)
    assert started.exists() and not directory.exists()


def test_under_systemd_it_is_a_transient_unit_with_the_script_as_one_word():
    script = watchdog.script("/run/pg-hotstandby-watchdog.ab12CD34", 60, sh("true"))
    launched = watchdog.launch(script, "pg-hotstandby-watchdog-1")
    assert launched == ("systemd-run --quiet --collect --unit pg-hotstandby-watchdog-1 sh -c "
                        + shlex.quote(str(script)))
