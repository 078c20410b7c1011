"""Host keys checked as OpenSSH checks them, on real sshd: an unknown key is
refused by default and added with accept-new, a key filed under HostKeyAlias
is found, a jump host is checked too, and a changed key stops `full` before
anything changes (and shows in `status`).  One lab for the module; the
changed key comes last (it replaces the standby's keys)."""
import re
import subprocess

import pytest

# What `full` would change first on each host: its configs, a restart, the role.
SNAPSHOT = ("md5sum /etc/postgresql/15/main/*.conf /etc/postgresql/15/main/conf.d/* "
            "2>/dev/null; stat -c %Y /var/lib/postgresql/15/main/postmaster.pid; "
            "ls /var/backups/pg-hotstandby 2>&1; runuser -u postgres -- psql -Atc "
            "\"select rolname from pg_roles where rolname = 'replicator'\"")


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory(pg=15)


def ed25519_fingerprint(lab, host):
    """The fingerprint of the key the host's sshd presents, as ssh-keygen prints it."""
    pub = lab.exec(host, "cat /etc/ssh/ssh_host_ed25519_key.pub")
    printed = subprocess.run(["ssh-keygen", "-lf", "-"], input=pub, capture_output=True,
                             text=True, check=True).stdout
    return re.search(r"SHA256:\S+", printed).group(0)


def ssh_config(lab, tmp_path, strict, known_hosts, extra=""):
    """The lab's ssh_config with another known_hosts file and policy
    (strict None: the line left out, ssh's default)."""
    text = lab.ssh_config.read_text().replace(f"UserKnownHostsFile {lab.known_hosts}",
                                              f"UserKnownHostsFile {known_hosts}")
    text = text.replace("    StrictHostKeyChecking yes\n",
                        f"    StrictHostKeyChecking {strict}\n" if strict else "")
    path = tmp_path / "ssh_config"
    path.write_text(text + extra)
    return path


def lines_of(lab, host):
    return [line for line in lab.known_hosts.read_text().splitlines()
            if line.startswith(f"[127.0.0.1]:{lab.ports[host]},")]


def test_unknown_host_refused_by_default_and_added_with_accept_new(lab, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("".join(line + "\n" for line in lines_of(lab, "master")))
    fingerprint = ed25519_fingerprint(lab, "standby")
    name = f"[127.0.0.1]:{lab.ports['standby']}"

    for strict in (None, "ask", "yes"):
        refused = lab.fab("preflight", ssh_config=ssh_config(lab, tmp_path, strict, known))
        assert refused.returncode == 1, (strict, refused.stdout + refused.stderr)
        errors = [line for line in refused.stderr.splitlines() if line.strip()]
        assert errors == [f"error: standby: unknown SSH host key (ED25519 {fingerprint}) for "
                          f"{name}: check it and run `ssh -F {tmp_path / 'ssh_config'} standby` "
                          f"once, or add it with `ssh-keyscan -p {lab.ports['standby']} "
                          f"127.0.0.1 >> {known}`, then run again"], strict
        assert "preflight passed" not in refused.stdout

    added = lab.fab("preflight", ssh_config=ssh_config(lab, tmp_path, "accept-new", known))
    assert added.returncode == 0, added.stdout + added.stderr
    assert f"standby: new SSH host key (ED25519 {fingerprint}) added for {name} to {known}" \
        in added.stderr
    new_lines = known.read_text().splitlines()[len(lines_of(lab, "master")):]
    standby_ed25519 = lab.exec("standby", "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[:2]
    assert new_lines == [f"{name} {' '.join(standby_ed25519)}"]
    # Now filed: the strict default lets it through, and nothing more is added.
    again = lab.fab("preflight", ssh_config=ssh_config(lab, tmp_path, None, known))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "added" not in again.stderr and len(known.read_text().splitlines()) == \
        len(lines_of(lab, "master")) + 1


def test_host_key_alias_and_a_jump_host_are_checked(lab, tmp_path):
    """The standby reached through the master as a jump host named `jump`
    whose key is filed under a HostKeyAlias: unknown alias refused (naming the
    jump host), filed alias passes."""
    known = tmp_path / "known_hosts"
    known.write_text(lab.known_hosts.read_text())   # master and standby, not the alias
    jump = (f"\nHost jump\n    HostName 127.0.0.1\n    Port {lab.ports['master']}\n"
            f"    User admin\n    IdentityFile {lab.lab_dir / 'id_ed25519'}\n"
            f"    HostKeyAlias lab-jump\n    StrictHostKeyChecking yes\n"
            f"    UserKnownHostsFile {known}\n"
            f"Host standby-via-jump\n    HostName standby\n    Port 22\n    User admin\n"
            f"    IdentityFile {lab.lab_dir / 'id_ed25519'}\n    ProxyJump jump\n"
            f"    StrictHostKeyChecking yes\n    UserKnownHostsFile {known}\n")
    config = ssh_config(lab, tmp_path, "yes", known, extra=jump)
    refused = lab.fab("preflight", hosts=["master", "standby-via-jump"], ssh_config=config)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert (f"error: jump (jump host for standby-via-jump): unknown SSH host key (ED25519 "
            f"{ed25519_fingerprint(lab, 'master')}) for lab-jump: check it and run "
            f"`ssh -F {config} jump` once, or add it with ssh-keyscan, then run again") \
        in refused.stderr
    with known.open("a") as f:
        for line in lines_of(lab, "master"):
            f.write("lab-jump " + line.split(" ", 1)[1] + "\n")
    passed = lab.fab("preflight", hosts=["master", "standby-via-jump"], ssh_config=config)
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_changed_host_key_stops_full_before_any_change(lab, tmp_path):
    before = lab.on_each(SNAPSHOT)
    old = ed25519_fingerprint(lab, "standby")
    # The standby is reinstalled, or someone answers in its place: new keys.
    lab.exec("standby", "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null "
                        "&& systemctl restart ssh")
    new = ed25519_fingerprint(lab, "standby")
    assert new != old

    result = lab.fab("full")
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    name = f"[127.0.0.1]:{lab.ports['standby']}"
    assert errors[0].startswith(f"error: standby: SSH host key CHANGED (ED25519 {new}; "
                                f"{lab.known_hosts}:"), errors[0]
    assert "possible man in the middle" in errors[0]
    assert f"`ssh-keygen -f {lab.known_hosts} -R '{name}'`" in errors[0]
    assert lab.on_each(SNAPSHOT) == before

    # accept-new refuses a changed key too; `status` shows it as critical.
    config = ssh_config(lab, tmp_path, "accept-new", lab.known_hosts)
    assert "CHANGED" in lab.fab("preflight", ssh_config=config).stderr
    code, document, stderr = lab.status()
    assert code == 2 and f"SSH host key CHANGED (ED25519 {new}" in stderr, stderr
    assert lab.on_each(SNAPSHOT) == before
