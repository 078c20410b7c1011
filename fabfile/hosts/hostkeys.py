"""Host keys checked at connect, as OpenSSH checks them.

Fabric hands paramiko AutoAddPolicy and no known_hosts, so any key would do.
`guard` gives a connection, and each ProxyJump hop before it, a Guard
instead: at each connect it reads the known_hosts files the host's ssh_config
names, offers the key types filed for the host first (as ssh does), and lets
knowledge/hostkeys.py decide on the key presented.  A refusal is raised before
the login, so nothing has run on that host.
"""
import getpass
import os
import sys
import threading
from pathlib import Path

from fabric import Connection
from paramiko import MissingHostKeyPolicy, Transport

from ..knowledge import hostkeys as kh

# Hosts are opened in threads (status): one writer at a time per process.
_adding = threading.Lock()


class HostKeyRefused(Exception):
    """One line: the host, its key's type and fingerprint, and the fix."""


def guard(conn, label, ssh_config_path=None):
    """Check every host key this connection meets, its jump hosts' included."""
    checker = Guard(conn, label, ssh_config_path)
    conn.client.set_missing_host_key_policy(checker)
    # A new dict: Fabric may hand every connection the config's own.
    conn.connect_kwargs = dict(conn.connect_kwargs, transport_factory=checker.transport)
    if isinstance(conn.gateway, Connection):
        guard(conn.gateway, f"{conn.gateway.original_host} (jump host for {label})",
              ssh_config_path)


def _read(path):
    try:
        return Path(path).read_text(errors="replace")
    except OSError:   # missing or unreadable: ssh skips it too
        return ""


class Guard(MissingHostKeyPolicy):
    """paramiko's policy hook, called on every connect: the client itself is
    given no keys, so the whole decision is ours."""

    def __init__(self, conn, label, ssh_config_path):
        self.conn, self.label, self.ssh_config_path = conn, label, ssh_config_path

    def transport(self, sock, **kwargs):
        """paramiko's transport_factory: the files are read here, at connect."""
        conn, cfg = self.conn, self.conn.ssh_config
        try:
            self.strict = kh.mode(cfg.get("stricthostkeychecking"))
        except kh.HostKeyConfigError as exc:
            raise HostKeyRefused(f"{self.label}: {exc}") from None
        self.alias = cfg.get("hostkeyalias")
        self.name = kh.lookup_name(conn.host, conn.port, self.alias)
        self.user_files, global_files = kh.known_hosts_files(
            cfg, str(Path.home()), getpass.getuser(), conn.host, conn.port)
        self.entries = [entry for path in self.user_files + global_files
                        for entry in kh.parse(_read(path), path)]
        transport = Transport(sock, **kwargs)
        options = transport.get_security_options()
        options.key_types = kh.order_algorithms(options.key_types, self.entries, self.name)
        return transport

    def missing_host_key(self, client, hostname, key):
        keytype, blob = key.get_name(), key.asbytes()
        verdict = kh.check(self.entries, self.name, keytype, blob)
        action = kh.action(self.strict, verdict.status)
        if action == "refuse":
            first_file = self.user_files[0] if self.user_files else "~/.ssh/known_hosts"
            ssh = "ssh " + (f"-F {self.ssh_config_path} " if self.ssh_config_path else "") \
                + self.conn.original_host
            raise HostKeyRefused(kh.refusal(
                self.label, verdict, self.name, keytype, blob, ssh,
                kh.keyscan_command(self.conn.host, self.conn.port, self.alias, first_file)))
        if action == "warn":
            print(kh.changed_warning(self.label, verdict, self.name, keytype, blob),
                  file=sys.stderr)
        elif action == "add":
            self.add(keytype, blob)

    def add(self, keytype, blob):
        """File a new key in the first user file, as ssh does (accept-new, no)."""
        if not self.user_files:
            print(f"warning: {self.label}: no UserKnownHostsFile to add its new host key to",
                  file=sys.stderr)
            return
        path = Path(self.user_files[0])
        hashed = str(self.conn.ssh_config.get("hashknownhosts", "no")).lower() == "yes"
        line = kh.known_hosts_line(self.name, keytype, blob, hashed)
        with _adding:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(path, "a+b") as f:
                f.seek(0, os.SEEK_END)
                if f.tell():   # a last line without its newline would swallow ours
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        f.write(b"\n")
                f.write(line.encode())
        print(kh.added_note(self.label, self.name, keytype, blob, path, self.strict),
              file=sys.stderr)
