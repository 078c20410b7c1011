"""Switchover's pure decisions: the candidate's bounds, the proof, what a
candidate stopped mid-promotion became, the switch's steps in a plan."""
import pytest

from fabfile.knowledge import switchover
from fabfile.knowledge.lsn import Lsn

MB = 1 << 20


def refusal(state="streaming", primary="0/5000000", replayed="0/5000000", seconds=None,
            max_bytes=16 * MB, max_seconds=10):
    return switchover.lag_refusal("db2", "db1", state, Lsn.parse(primary),
                                  Lsn.parse_or_none(replayed), seconds, max_bytes, max_seconds)


def test_a_caught_up_candidate_passes():
    assert refusal() is None
    assert refusal(replayed="0/4F00000", seconds=0.2) is None
    # Replayed past the primary's position read a moment earlier: not negative lag.
    assert refusal(replayed="0/5000100") is None


@pytest.mark.parametrize("state", [None, "catchup", "startup"])
def test_a_candidate_that_does_not_stream_is_refused(state):
    assert refusal(state=state).startswith("db2 does not stream from db1 (its WAL sender: ")


def test_the_bounds_refuse_with_the_setting_to_raise():
    assert "hotstandby.switchover.max_lag_bytes (16777216)" in refusal(replayed="0/3000000")
    assert refusal(replayed="0/3000000", max_bytes=64 * MB) is None
    assert "replayed nothing" in refusal(replayed="")
    assert "replays 12.5 s behind db1" in refusal(seconds=12.5)
    assert "max_lag_seconds (10)" in refusal(seconds=12.5)
    assert refusal(seconds=12.5, max_seconds=20) is None


def test_the_proof_holds_only_past_a_clean_shutdown_checkpoint():
    checkpoint = Lsn.parse("0/5000028")
    held = switchover.proof("db1", "shut down", checkpoint, "db2", Lsn.parse("0/50000A0"))
    assert held.holds
    assert held.line == ("proof: db2 received WAL up to 0/50000A0, past db1's shutdown "
                         "checkpoint at 0/5000028: it holds every commit db1 acknowledged")
    for received in (checkpoint, Lsn.parse("0/4000000"), None):
        short = switchover.proof("db1", "shut down", checkpoint, "db2", received)
        assert not short.holds and short.line.startswith("no proof: db2 received WAL up to ")
    for state in ("in production", "shut down in recovery", ""):
        unclean = switchover.proof("db1", state, checkpoint, "db2", Lsn.parse("1/0"))
        assert not unclean.holds and "did not shut down cleanly" in unclean.line
    assert not switchover.proof("db1", "shut down", None, "db2", Lsn.parse("1/0")).holds


def test_a_candidate_stopped_mid_promotion_is_a_standby_only_if_it_says_so():
    assert switchover.promoted("shut down in recovery") is False
    for state in ("shut down", "in production", "in crash recovery", ""):
        assert switchover.promoted(state) is True


def test_the_switch_in_order():
    steps = switchover.switch_steps("db1", "postgresql@15-main", "db2")
    assert [host for host, _ in steps] == ["db1", "db1", "db2", "db2"]
    assert steps[0][1].startswith("CHECKPOINT")
    assert steps[1][1].startswith("stop through postgresql@15-main")
    assert steps[2][1].startswith("prove it received WAL past db1's shutdown checkpoint")
    assert steps[3][1].startswith("promote")


OLD_PEM = "-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----\n"
NEW_PEM = "-----BEGIN CERTIFICATE-----\nnew\n-----END CERTIFICATE-----\n"


def test_a_sibling_pins_both_certificates_across_the_switch():
    assert switchover.sibling_pin(OLD_PEM, NEW_PEM) == OLD_PEM + NEW_PEM
    assert switchover.sibling_pin(OLD_PEM.rstrip("\n"), NEW_PEM) == OLD_PEM + NEW_PEM


@pytest.mark.parametrize("old, new", [(None, NEW_PEM), (OLD_PEM, None), (None, None),
                                      (OLD_PEM, OLD_PEM), (OLD_PEM + NEW_PEM, NEW_PEM)])
def test_a_sibling_pin_with_nothing_to_add_is_none(old, new):
    assert switchover.sibling_pin(old, new) is None
