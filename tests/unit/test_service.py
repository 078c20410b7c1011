"""Waiting until a server is ready: polled on the host, every 0.1 s, in
round trips of at most 2 s (service.POLLS)."""
from fabfile.knowledge.layout import Layout
from fabfile.steps import service


class Result:
    def __init__(self, exited):
        self.exited = exited


class Host:
    def __init__(self, answers, unit=""):
        self.layout = Layout("debian", 150000, "/var/lib/postgresql/15/main",
                             "/etc/postgresql/15/main", "/usr/lib/postgresql/15/bin", 5432,
                             "main", service=unit)
        self.answers, self.commands = list(answers), []

    def query(self, command, warn=False):
        assert warn
        self.commands.append(command)
        return Result(self.answers.pop(0))


def test_ready_means_accepting_connections_and_the_unit_active():
    script = service.ready_script(Host([], unit="postgresql@15-main.service"), 20)
    assert "runuser -u postgres -- sh -c '/usr/lib/postgresql/15/bin/pg_isready -q -h " \
           "/var/run/postgresql -p 5432'" in script
    assert "&& systemctl is-active --quiet postgresql@15-main.service && exit 0" in script
    assert "[ $i -ge 20 ] && exit 1; sleep 0.1" in script
    assert "systemctl" not in service.ready_script(Host([]), 20)   # no service manager
    # Accepting connections only: the caller waits for the unit later.
    assert "systemctl" not in service.ready_script(
        Host([], unit="postgresql@15-main.service"), 20, settled=False)


def test_wait_ready_asks_again_until_ready_or_the_timeout():
    host = Host([1, 1, 0])
    assert service.wait_ready(host, timeout=60) is True
    assert len(host.commands) == 3 and all("-ge 20 ]" in c for c in host.commands)
    host = Host([1])
    assert service.wait_ready(host, timeout=0) is False
    assert "-ge 1 ]" in host.commands[0]
