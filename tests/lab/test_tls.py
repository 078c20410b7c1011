"""Replication over TLS on a RHEL-style host (initdb's defaults: ssl off),
through the real command line: `full` turns TLS on with a certificate of the
primary's own that the standby pins; a certificate the standby has not pinned
is refused (the standby stops streaming, status names the cause) until `full`
pins it, without copying the data again; a user's own certificate, key and
CA; `tls.mode` require and off do what they say.  No key material or password in any output.
Last, a switchover there and back through postgresql-15.service: each new
primary serves a certificate of its own, which the other pins and verifies."""
import base64
import datetime
import time

import pytest
import yaml

from certs import issued
from conftest import wait_for
from fabfile.knowledge import tls

OUTPUTS = []


def fab(lab, *args, config=None):
    result = lab.fab(*args, config=config)
    OUTPUTS.append(result.stdout + result.stderr)
    return result


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(pg=15, layout="generic")
    assert lab.query("master", "show ssl") == [("off",)]   # as initdb leaves it
    result = fab(lab, "full")
    assert result.returncode == 0, result.stdout + result.stderr
    return lab


def mode_file(tmp_path_factory, mode):
    path = tmp_path_factory.mktemp("tls") / f"{mode}.yaml"
    path.write_text(yaml.safe_dump({"hotstandby": {"tls": {"mode": mode}}}))
    return path



def test_primary_without_tls_serves_its_own_certificate_verified(lab):
    assert lab.query("master", "show ssl") == [("on",)]
    assert lab.replication_tls() == (True, "TLSv1.3", "verify-full")
    home = lab.home("master")
    served = lab.exec("master", f"cat {home}/.pg-hotstandby.server.crt")
    assert lab.exec("standby", f"cat {lab.home('standby')}/.pg-hotstandby.primary.crt") == served
    cert = tls.certificates(served, "served")[0]
    assert cert.self_signed and cert.names(lab.exec("master", "hostname -i").split()[0])


def test_a_certificate_not_pinned_is_refused_until_full_pins_it(lab):
    address = lab.exec("master", "hostname -i").split()[0]
    key, cert = tls.make("impostor", [], [address], datetime.datetime.now(datetime.timezone.utc))
    home = lab.home("master")
    for name, text, mode in ((".pg-hotstandby.server.key", key, "600"),
                             (".pg-hotstandby.server.crt", cert, "644")):
        encoded = base64.b64encode(text.encode()).decode()
        lab.exec("master", f"echo {encoded} | base64 -d > {home}/{name} && "
                           f"chown postgres: {home}/{name} && chmod {mode} {home}/{name}")
    lab.query("master", "select pg_reload_conf()")
    time.sleep(1)
    lab.query("master", "select pg_terminate_backend(pid) from pg_stat_replication")

    def refused():
        code, doc, stderr = lab.status()
        return code == 2 and "certificate verify failed" in stderr
    wait_for(refused)
    code, doc, stderr = lab.status()
    assert doc["hosts"][1]["wal"] != "streaming"
    assert "does not trust" in stderr and "run full to pin" in stderr

    result = fab(lab, "full")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TLS: pins master's certificate O=pg-hotstandby,CN=impostor" in result.stdout
    # No copy: the standby reconnects by itself once it has the certificate.
    assert "== sync ==" not in result.stdout and "copied" not in result.stdout
    assert lab.exec("standby", f"cat {lab.home('standby')}/.pg-hotstandby.primary.crt") == cert
    assert lab.replication_tls() == (True, "TLSv1.3", "verify-full")
    code, doc, _ = lab.status()
    assert code == 0
    assert doc["hosts"][1]["tls"] == {"protocol": "TLSv1.3", "verified": True,
                                      "sslmode": "verify-full"}


def test_own_pki_certificate_installed_and_its_ca_pinned(lab, tmp_path_factory):
    now = datetime.datetime.now(datetime.timezone.utc)
    address = lab.exec("master", "hostname -i").split()[0]
    ca_key, ca = tls.make("Example CA", [], [], now)
    key, cert = issued(ca_key, ca, "db1.example", address, now)
    folder = tmp_path_factory.mktemp("pki")
    for name, text in (("ca.crt", ca), ("db1.crt", cert), ("db1.key", key)):
        (folder / name).write_text(text)
    config = folder / "pki.yaml"
    config.write_text(yaml.safe_dump({"hotstandby": {"tls": {
        "mode": "verify", "ca_file": str(folder / "ca.crt"),
        "cert_file": str(folder / "db1.crt"), "key_file": str(folder / "db1.key")}}}))
    result = fab(lab, "full", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TLS: the certificate and key of hotstandby.tls.cert_file/key_file, CN=db1.example" \
        in result.stdout
    assert "TLS: pins hotstandby.tls.ca_file, the CA of master's certificate" in result.stdout
    assert lab.exec("standby", f"cat {lab.home('standby')}/.pg-hotstandby.primary.crt") == ca
    assert lab.exec("master", f"cat {lab.home('master')}/.pg-hotstandby.server.crt") == cert
    wait_for(lambda: lab.replication_tls() == (True, "TLSv1.3", "verify-full"))
    assert not any(line in result.stdout for line in key.splitlines()[1:-1])


def test_tls_require_encrypts_without_checking_the_primary(lab, tmp_path_factory):
    result = fab(lab, "full", config=mode_file(tmp_path_factory, "require"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "replication: TLS, not verified (tls.mode require)" in result.stdout
    wait_for(lambda: lab.replication_tls() == (True, "TLSv1.3", "require"))
    assert "sslrootcert" not in lab.query("standby", "show primary_conninfo")[0][0]
    code, doc, stderr = lab.status()   # status under the default, verify: a warning
    assert code == 1 and "without checking its certificate" in stderr
    assert doc["hosts"][1]["tls"]["verified"] is False


def test_tls_off_says_what_it_exposes(lab, tmp_path_factory):
    result = fab(lab, "full", config=mode_file(tmp_path_factory, "off"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "replication: not set up (tls.mode off)" in result.stdout
    assert "clear text" in result.stdout
    types = {r[0] for r in lab.query("master", "select type, user_name from pg_hba_file_rules")
             if r[1] == ["replicator"]}
    assert types == {"host"}
    assert lab.query("master", "show ssl") == [("off",)]   # the server's own setting again
    wait_for(lambda: lab.replication_tls() == (False, None, None))
    code, _, stderr = lab.status()
    assert code == 1 and "without TLS" in stderr


def test_no_key_or_password_in_any_output(lab):
    home = lab.home("master")
    body = lab.exec("master", f"grep -v -- ----- {home}/.pg-hotstandby.server.key").split()
    password = lab.exec("standby", f"cat {lab.home('standby')}/.pg-hotstandby.pgpass"
                        ).strip().split(":")[-1]
    assert len(OUTPUTS) == 5 and body and password
    for output in OUTPUTS:
        assert "PRIVATE KEY" not in output
        assert not any(line in output for line in body)
        assert password not in output


def test_switchover_there_and_back_keeps_a_verified_link(lab):
    result = fab(lab, "full")   # verify again, after tls.mode off above
    assert result.returncode == 0, result.stdout + result.stderr
    wait_for(lambda: lab.replication_tls() == (True, "TLSv1.3", "verify-full"))
    password = lab.exec("standby", f"cat {lab.home('standby')}/.pg-hotstandby.pgpass"
                        ).strip().split(":")[-1]
    for old, new in (("master", "standby"), ("standby", "master")):
        result = lab.fab("switchover", hosts=[old, new])
        out = result.stdout + result.stderr
        assert result.returncode == 0, out
        assert f"{old}: stopped through postgresql-15.service" in out
        assert f"proof: {new} received WAL up to " in out
        assert "PRIVATE KEY" not in out and password not in out
        assert lab.query(new, "select pg_is_in_recovery()") == [(False,)]
        wait_for(lambda: lab.replication_tls(new, old) == (True, "TLSv1.3", "verify-full"))
        assert lab.exec(old, f"cat {lab.home(old)}/.pg-hotstandby.primary.crt") == \
            lab.exec(new, f"cat {lab.home(new)}/.pg-hotstandby.server.crt")
        code, doc, stderr = lab.status(hosts=[new, old])
        assert code == 0, (doc, stderr)
        assert [(h["host"], h["role"]) for h in doc["hosts"]] == [(new, "primary"),
                                                                  (old, "standby")]
        assert doc["hosts"][1]["tls"] == {"protocol": "TLSv1.3", "verified": True,
                                          "sslmode": "verify-full"}
