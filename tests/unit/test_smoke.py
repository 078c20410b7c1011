"""The smoke test's login through a tunnel: retried soon while Fabric's
tunnel thread is not listening yet, slowly after a failed login (each is a
line in the server's log)."""
import psycopg2

from fabfile.steps import smoke


class Conn:
    autocommit = False


def test_connect_retries_a_refused_tunnel_soon_and_a_failed_login_slowly(monkeypatch):
    errors = ['connection to server at "127.0.0.1", port 4000 failed: Connection refused',
              'FATAL:  password authentication failed for user "hotstandby_smoke"']
    slept = []

    def connect(**kwargs):
        if errors:
            raise psycopg2.OperationalError(errors.pop(0))
        return Conn()
    monkeypatch.setattr(smoke.psycopg2, "connect", connect)
    monkeypatch.setattr(smoke.time, "sleep", slept.append)
    conn = smoke.connect(4000, "pw", timeout=30)
    assert conn.autocommit is True
    assert slept == [0.05, 1]
