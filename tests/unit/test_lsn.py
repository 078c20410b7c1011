import pytest

from fabfile.knowledge.lsn import Lsn


@pytest.mark.parametrize("text", ["0/0", "0/3000028", "16/B374D848", "FFFFFFFF/FFFFFFFF"])
def test_printed_as_postgresql_prints_it(text):
    assert str(Lsn.parse(text)) == text


def test_compared_and_subtracted_as_byte_positions():
    assert Lsn.parse("0/3000060") < Lsn.parse("0/30000A0") < Lsn.parse("1/0")
    assert Lsn.parse("1/0") - Lsn.parse("0/FFFFFFFF") == 1
    assert Lsn.parse(" 16/b374d848\n") == (0x16 << 32) + 0xB374D848


@pytest.mark.parametrize("text", ["", "0", "0/", "/0", "1/2/3", "G/0", "123456789/0",
                                  "0/3000028; drop table x", None])
def test_anything_else_is_refused(text):
    with pytest.raises(ValueError):
        Lsn.parse(text)
    assert Lsn.parse_or_none(text) is None
