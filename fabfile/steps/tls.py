"""TLS on the replication link: read what the primary serves, decide what it
serves and what the standbys pin (knowledge/tls.py), put the certificate and
key on the primary, and the pinned certificate on each standby.  What a
standby pins comes from the primary's own file, read through the tool's SSH
connection: never from the network the replication crosses."""
import datetime
from pathlib import Path

from ..hosts.cluster import ClusterError, home
from ..knowledge.shell import sh
from ..knowledge import tls
from . import server


def decide(run):
    """The run's tls.Plan (run.tls calls this once)."""
    p, cfg = run.primary, run.settings.tls
    if cfg.mode == "off":
        return tls.Plan("off", {})
    values = server.config_values(p, ["ssl", "ssl_cert_file"])
    cert_file = values.get("ssl_cert_file") or "server.crt"
    if not cert_file.startswith("/"):   # relative to the data directory, as the server reads it
        cert_file = f"{p.layout.data_dir}/{cert_file}"
    ours = tls.server_settings(home(p))
    served = tls.Served(
        ssl=values.get("ssl") == "on", cert_file=cert_file,
        cert_text=None if cert_file == tls.SNAKEOIL else p.read(cert_file, links=True),
        key_present=key_present(p, ours))
    try:
        return tls.decide(cfg.mode, served, own_files(cfg), home(p), p.name,
                          run.primary_address(), p.facts.get("address", []),
                          datetime.datetime.now(datetime.timezone.utc), p.layout.major)
    except tls.TlsError as exc:
        raise ClusterError(f"{p.name}: {exc}") from None


def decide_upstream(run, upstream):
    """The tls.Plan of a standby that feeds others (run.tls_of calls this
    once): a certificate of its own, made by the tool and kept in its postgres
    home (no copy carries it), reused while it names its address.  The
    user's own PKI (hotstandby.tls.*) is the primary's: not used here."""
    cfg = run.settings.tls
    if cfg.mode == "off":
        return tls.Plan("off", {})
    ours = tls.server_settings(home(upstream))
    served = tls.Served(
        ssl=False, cert_file=ours["ssl_cert_file"],
        cert_text=upstream.read(ours["ssl_cert_file"]),
        key_present=key_present(upstream, ours))
    try:
        return tls.decide(cfg.mode, served, tls.Own(), home(upstream), upstream.name,
                          run.address(upstream), upstream.facts.get("address", []),
                          datetime.datetime.now(datetime.timezone.utc), upstream.layout.major)
    except tls.TlsError as exc:
        raise ClusterError(f"{upstream.name}: {exc}") from None


def key_present(host, ours):
    return host.query(sh("[ -f {key} ] && [ ! -L {key} ]", key=ours["ssl_key_file"]),
                      user="postgres", warn=True).exited == 0


def own_files(cfg):
    """The user's certificate, key and CA (control-machine paths), read."""
    def text(path):
        return Path(path).expanduser().read_text() if path else None
    return tls.Own(ca_text=text(cfg.ca_file), cert_text=text(cfg.cert_file),
                   key_text=text(cfg.key_file))


def install(run, report, host=None):
    """The certificate and key of the primary (or host: a standby that feeds
    others) in its postgres home (key 0600, written before the certificate
    that names it); once per run."""
    p = host or run.primary
    plan = run.tls_of(p)
    if plan.install and p.name not in run.state.tls_served:
        cert_pem, key_pem = plan.install
        ours = tls.server_settings(home(p))
        p.install(ours["ssl_key_file"], key_pem, owner="postgres", mode="600")
        p.install(ours["ssl_cert_file"], cert_pem, owner="postgres", mode="644")
        what = "a new key and self-signed certificate" if plan.made \
            else "the certificate and key of hotstandby.tls.cert_file/key_file"
        report.change(p.name, f"TLS: {what}, {plan.cert.describe()}, in "
                              f"{ours['ssl_cert_file']} (key: {ours['ssl_key_file']}, 0600)")
    run.state.tls_served.add(p.name)


def pin(run, standby):
    """The certificate the standby checks its feeder (the primary, or its
    upstream) with; a change, or None."""
    feeder = run.feeder(standby)
    plan = run.tls_of(feeder)
    if not plan.pin:
        return None
    path = run.pinned_path(standby)
    if standby.read(path) == plan.pin:
        return None
    standby.install(path, plan.pin, owner="postgres", mode="644")
    what = f"{feeder.name}'s certificate"
    if run.settings.tls.ca_file and feeder is run.primary:
        what = f"hotstandby.tls.ca_file, the CA of {what}"
    elif plan.pin != plan.cert.pem:
        what = f"the root of the chain of {what}"
    return f"TLS: pins {what} {plan.cert.describe()} in {path}"

