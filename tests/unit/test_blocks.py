from fabfile.knowledge import blocks, passwords


def test_block_added_replaced_and_removed():
    text = "local all all peer\n"
    once = blocks.replace_block(text, ["a", "b"], at="start")
    assert once == f"{blocks.BEGIN}\na\nb\n{blocks.END}\nlocal all all peer\n"
    assert blocks.replace_block(once, ["a", "b"], at="start") == once       # idempotent
    changed = blocks.replace_block(once, ["c"])
    assert changed.count(blocks.BEGIN) == 1 and "\nc\n" in changed and "\na\n" not in changed
    assert blocks.block_lines(changed) == ["c"]
    assert blocks.replace_block(changed, []) == text


def test_block_lines_with_quotes_survive():
    # patchwork's append() mangled lines holding a quote and appended them again
    line = "listen_addresses = '*'"
    text = blocks.replace_block("", [line])
    assert blocks.replace_block(text, [line]) == text
    assert blocks.block_lines(text) == [line]


def test_password_verifiers():
    # md5: 'md5' + md5(password + role); SCRAM verifier made by PostgreSQL 15
    assert passwords.matches("md53175bce1d3201d16594cebf9d7eb3f9d", "postgres", "postgres")
    scram = ("SCRAM-SHA-256$4096:PbNnYRMUFuEpaklo7Qb8EA==$"
             "7JK1auENjRCVF007aWlpHK5deCxOKQNCiLTCL7A0KbQ=:"
             "FY/kneJg5lsFUQt0VwVT7dksa25L+GMI3VRm7/1c9zw=")   # 'secret', by PostgreSQL 17
    assert passwords.matches(scram, "vtest", "secret")
    assert not passwords.matches(scram, "vtest", "Secret")
    assert not passwords.matches("md53175bce1d3201d16594cebf9d7eb3f9d", "postgres", "other")
    assert not passwords.matches("", "r", "x")
    assert not passwords.matches("SCRAM-SHA-256$garbage", "r", "x")


def test_diff_of_a_changed_and_a_new_file():
    changed = blocks.diff("a = 1\nb = 2\n", "a = 1\nb = 3\n", "/etc/x.conf").splitlines()
    assert changed[:2] == ["--- /etc/x.conf", "+++ /etc/x.conf"]
    assert "-b = 2" in changed and "+b = 3" in changed and " a = 1" in changed
    new = blocks.diff(None, "a = 1\n", "/etc/y.conf").splitlines()
    assert new[0] == "--- /dev/null" and new[-1] == "+a = 1"
