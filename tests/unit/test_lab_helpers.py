import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docker"))
import lab  # noqa: E402


def test_ssh_config_entries():
    text = lab.render_ssh_config({"master": 40001, "standby": 40002}, "/r/.lab/id_ed25519",
                                 "/r/.lab/known_hosts")
    blocks = text.split("\n\n")
    assert blocks[0].splitlines()[0] == "Host master"
    assert "    Port 40001" in blocks[0] and "    Port 40002" in blocks[1]
    assert "    User admin" in blocks[1] and "    HostName 127.0.0.1" in blocks[1]
    assert "    IdentityFile /r/.lab/id_ed25519" in blocks[1]
    # Host keys checked, against the lab's own file: no blanket "no".
    assert "    StrictHostKeyChecking yes" in blocks[1]
    assert "    UserKnownHostsFile /r/.lab/known_hosts" in blocks[1]
    assert "StrictHostKeyChecking no" not in text and "/dev/null" not in text


def test_known_hosts_from_the_hosts_public_keys():
    keys = {"master": "ssh-ed25519 AAAAC3Nz root@master\necdsa-sha2-nistp256 AAAAE2Vj root@m\n"}
    text = lab.render_known_hosts({"master": 40001, "standby": 40002}, keys)
    assert text == ("[127.0.0.1]:40001,master ssh-ed25519 AAAAC3Nz\n"
                    "[127.0.0.1]:40001,master ecdsa-sha2-nistp256 AAAAE2Vj\n")


def test_compose_detection_prefers_v2():
    assert lab.compose_command(which=lambda n: "/usr/bin/" + n,
                               probe=lambda: True) == ["docker", "compose"]


def test_compose_detection_falls_back_to_v1():
    found = {"docker": "/usr/bin/docker", "docker-compose": "/usr/bin/docker-compose"}
    assert lab.compose_command(which=found.get, probe=lambda: False) == ["docker-compose"]


def test_compose_detection_none():
    with pytest.raises(lab.LabError, match="no Compose tool"):
        lab.compose_command(which=lambda n: None, probe=lambda: False)


def test_parse_port():
    assert lab.parse_port("127.0.0.1:49153\n") == 49153
    assert lab.parse_port("warning: x\n127.0.0.1:5\n") == 5
    with pytest.raises(lab.LabError):
        lab.parse_port("")


def test_host_names_and_images():
    assert lab.host_names(3) == ["master", "standby", "standby2", "standby3"]
    with pytest.raises(lab.LabError):
        lab.host_names(4)
    assert lab.image_tag(17, "generic") == "pg-hotstandby-lab:17-generic-systemd"
    assert lab.image_tag(15, "debian", "plain") == "pg-hotstandby-lab:15-debian-plain"
    assert lab.base_tag(18) == "pg-hotstandby-base:sid-systemd"
    systemd = lab.Lab(pg=15).compose_files
    assert lab.SYSTEMD_FILE in systemd and lab.SYSTEMD_FILE not in lab.Lab(init="plain").compose_files
