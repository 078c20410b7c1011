"""The benchmark's pure logic: statistics, probe gaps, tc commands, the table."""
import pytest

from bench import dataset, net, report, stats


def test_summarize_ignores_failed_repetitions():
    assert stats.summarize([3.0, None, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0,
                                                      "n": 3}
    assert stats.summarize([None]) is None
    assert stats.summarize([]) is None


def test_gap_is_longest_time_between_commits():
    successes = [0.01, 0.02, 0.03, 2.53, 2.54]
    assert stats.write_gaps(successes, [1.0, 2.0], 0.0, 2.55) == pytest.approx((2.5, 2))


def test_gap_counts_a_primary_down_at_the_end_of_the_window():
    # The last commit at 1.0, the run ends at 4.0: three seconds without writes.
    assert stats.write_gaps([0.5, 1.0], [2.0, 3.0], 0.5, 4.0)[0] == pytest.approx(3.0)


def test_gap_counts_a_primary_down_from_the_start_and_ignores_outside_points():
    gap, failed = stats.write_gaps([-5.0, 3.0, 3.01, 99.0], [-1.0, 1.0, 50.0], 0.0, 3.01)
    assert gap == pytest.approx(3.0)
    assert failed == 1


def test_gap_with_no_commit_at_all_is_the_window():
    assert stats.write_gaps([], [1.0], 2.0, 7.0) == (5.0, 0)


def test_ratio():
    assert stats.ratio(3.0, 2.0) == 1.5
    assert stats.ratio(None, 2.0) is None
    assert stats.ratio(1.0, 0) is None


@pytest.mark.parametrize("text, bits", [("1gbit", 10**9), ("500mbit", 5 * 10**8),
                                        ("2.5gbit", 25 * 10**8), ("100m", 10**8),
                                        ("unlimited", None), ("UNLIMITED", None)])
def test_parse_rate(text, bits):
    assert net.parse_rate(text) == bits


@pytest.mark.parametrize("text", ["fast", "1gbyte", "-1gbit", "0bit"])
def test_parse_rate_refuses(text):
    with pytest.raises(ValueError):
        net.parse_rate(text)


def test_label_round_trips():
    assert net.label(10**9) == "1gbit"
    assert net.label(5 * 10**8) == "500mbit"
    assert net.label(None) == "unlimited"


def test_tc_command_limits_egress_with_a_bucket_of_one_tick():
    cmd = net.tc_command(10**9)
    assert cmd == ("tc qdisc replace dev eth0 root tbf rate 1000000000bit "
                   "burst 1562500 latency 50ms")


def test_tc_command_small_rates_keep_a_minimum_bucket():
    assert "burst 65536 " in net.tc_command(10**6, dev="eth1")
    assert "dev eth1" in net.tc_command(10**6, dev="eth1")


def test_tc_command_unlimited_removes_the_limit_and_never_fails():
    assert net.tc_command(None) == "tc qdisc del dev eth0 root 2>/dev/null; true"


def result(method, times, gaps, standbys=1, bytes_=100e6, errors=(), **extra):
    reps = [{"time": t, "gap": g, "failed": int(g * 100), "bytes": bytes_}
            for t, g in zip(times, gaps)]
    reps += [{"error": e} for e in errors]
    return {"method": method, "standbys": standbys, "scale": 7, "mb": 231,
            "size_label": "231 MB", "bandwidth": "1gbit", "reps": reps, **extra}


def test_fmt_median_and_spread():
    assert report.fmt({"median": 2.0, "min": 1.0, "max": 3.25, "n": 3}) == "2.0 [1.0–3.2]"
    assert report.fmt({"median": 2.0, "min": 2.0, "max": 2.0, "n": 1}, 2) == "2.00"
    assert report.fmt(None) == "–"


def test_table_sets_figures_beside_the_same_runs_baselines():
    results = [result(report.GUIDE, [10.0, 12.0, 14.0], [8.0, 8.0, 9.0]),
               result(report.RAW, [4.0], [0.0]),
               result(report.BASEBACKUP, [5.0], [0.2]),
               result("fab full --method rsync-cold", [6.0], [0.8], fab_downtime=0.7),
               result("fab full --method rsync-cold", [9.0], [1.0], standbys=3)]
    rows = {(r[0], r[1]): dict(zip(report.HEADER, r)) for r in report.table_rows(results)}
    guide = rows[(report.GUIDE, "1")]
    assert guide["until streaming, s"] == "12.0 [10.0–14.0]"
    assert guide["× raw copy"] == "3.00×"
    assert guide["gap vs guide"] == "100%"
    fab = rows[("fab full --method rsync-cold", "1")]
    assert fab["× raw copy"] == "1.50×"
    assert fab["× pg_basebackup"] == "1.20×"
    assert fab["gap vs guide"] == "10%"
    assert fab["MB moved"] == "100"
    assert fab["MB/s"] == "17"
    three = rows[("fab full --method rsync-cold", "3")]
    assert "1.50× the time of 1 standby" in three["notes"]
    # The raw copy's probe shows load, not downtime: no comparison with the guide.
    assert rows[(report.RAW, "1")]["gap vs guide"] == "–"


def test_table_keeps_rows_that_failed_or_were_not_run():
    results = [result("repmgr standby clone", [], [], skipped="no package"),
               result("fab full --method rsync", [7.0], [1.0], errors=["fab exit 1: boom"])]
    rows = report.table_rows(results)
    assert rows[0][4] == "–" and rows[0][-1] == "not run: no package"
    assert rows[1][4] == "7.0" and "failed: fab exit 1: boom" in rows[1][-1]


def test_markdown_has_one_line_per_row_and_escapes_pipes():
    text = report.markdown([result(report.GUIDE, [1.0], [1.0], errors=["a | b"])])
    lines = text.splitlines()
    assert len(lines) == 3 and lines[0].startswith("| method |")
    assert "a \\| b" in lines[2]


def test_chart_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    report.chart([result(report.GUIDE, [10.0, 11.0], [8.0, 9.0]),
                  result(report.RAW, [4.0], [0.0])], tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_where_the_time_goes_gives_median_per_step():
    row = result(report.GUIDE, [10.0, 12.0], [8.0, 8.0])
    row["reps"][0]["steps"] = {"stop primary": 1.0, "rsync": 6.0}
    row["reps"][1]["steps"] = {"stop primary": 2.0, "rsync": 8.0}
    lines = report.where_time_goes([row, result(report.RAW, [4.0], [0.0])])
    assert lines == ["- guide by hand, 1 standby(s), 231 MB, 1gbit: stop primary 1.5, rsync 7.0 s"]


def test_parse_fab_summary():
    out = ("== summary ==\n"
           "  hosts: master (primary), standby\n"
           "  preflight                     0.4 s  0 changes\n"
           "  sync (first pass)             2.0 s  1 change\n"
           "  sync (second pass)            1.2 s  3 changes\n"
           "  primary downtime: at most 2.4 s; total 17.0 s; 12 changes\n")
    assert report.parse_fab_summary(out) == {
        "fab_downtime": 2.4,
        "steps": {"preflight": 0.4, "sync (first pass)": 2.0, "sync (second pass)": 1.2},
        "warnings": []}
    fallback = "!! standby2: copy from standby failed: rsync exit 20; copying from the primary"
    assert report.parse_fab_summary(out + fallback + "\n")["warnings"] == [fallback[3:]]
    assert report.parse_fab_summary("  primary downtime: none; total 3.0 s")["fab_downtime"] == 0.0


def test_targets_say_met_or_missed_and_by_how_much():
    default = "fab full --method rsync-cold"
    results = [result(report.GUIDE, [20.0], [8.0]),
               result(report.RAW, [10.0], [0.0]),
               result(report.BASEBACKUP, [11.0], [0.2]),
               result(default, [11.5], [3.0]),
               result("fab full --method rsync", [30.0], [1.5]),
               result(default, [18.0], [3.0], standbys=3)]
    lines = report.targets(results, default)
    # gap ≤ min(1 s, 10% of 8 s = 0.8 s)
    assert "- MISSED by 2.20: fab full --method rsync-cold, 231 MB, 1gbit: write gap s " \
           "(≤ one restart, ≤ 10% of the guide's) 3.00 (target ≤ 0.80)" in lines
    assert any(line.startswith("- met: fab full --method rsync-cold, 231 MB, 1gbit: time ÷ raw")
               for line in lines)
    assert any(line.startswith("- met: fab full --method rsync, ") and "25%" in line
               for line in lines)
    assert any(line.startswith("- MISSED by 0.07: fab full --method rsync-cold (3 standbys)")
               for line in lines)


def test_fan_out_rows_show_what_the_primary_sent_and_compare_with_one_standby():
    default = "fab full --method basebackup"
    rows = [result(default, [20.0], [0.3]),
            result(default, [27.0], [0.3], standbys=3),
            result("fab full --fan-out off", [45.0], [0.3], standbys=3),
            result("fab full --compress none", [22.0], [0.3]),
            result("fab full --compress none --fan-out off", [44.0], [0.3], standbys=3)]
    rows[1]["reps"][0]["primary_bytes"] = 450e6
    rows[2]["reps"][0]["primary_bytes"] = 1350e6
    rows[2]["reps"][0]["warnings"] = ["standby2: copy from standby failed: why"]
    notes = dict(((r[0], r[1]), r[-1]) for r in report.table_rows(rows))
    assert notes[default, "3"] == "1.35× the time of 1 standby; the primary sent 450 MB"
    # Without fan-out, set beside the default's one-standby row (the same run).
    assert notes["fab full --fan-out off", "3"] == (
        "1 warning(s) from fab, the first: standby2: copy from standby failed: why; "
        "2.25× the time of 1 standby; the primary sent 1350 MB")
    assert notes["fab full --compress none --fan-out off", "3"] == "2.00× the time of 1 standby"
    lines = report.targets(rows, default)
    assert any(line.startswith("- met: fab full --method basebackup (3 standbys)")
               and "(#15, fan-out) 1.35 (target ≤ 1.40)" in line for line in lines), lines
    assert any(line.startswith("- MISSED by 0.75: fab full --fan-out off (3 standbys)")
               for line in lines), lines
    assert not any("fan-out off" in line and "#15" in line for line in lines)


def test_a_rate_capped_row_shows_its_rate_on_the_wire_and_meets_or_misses_the_cap():
    default, capped = "fab full --method basebackup", "fab full --max-rate 50M"
    rows = [result(default, [20.0], [0.3]),
            result(capped, [30.0, 32.0], [0.5, 0.56], bytes_=500e6)]
    rows[1]["reps"][0]["copy_rate"] = 50.0e6
    rows[1]["reps"][1]["copy_rate"] = 55.6e6
    notes = dict((r[0], r[-1]) for r in report.table_rows(rows))
    assert "copy at 52.8 MB/s on the wire while it moved data (cap 52.4 MB/s)" in notes[capped]
    assert report.rate_cap(capped) == 51200 and report.rate_cap(default) is None
    lines = report.targets(rows, default)
    assert any(line.startswith("- met: fab full --max-rate 50M, 231 MB, 1gbit: |copy rate ÷ cap")
               for line in lines), lines
    assert any(line.startswith("- MISSED by 0.13: fab full --max-rate 50M") and "write gap" in line
               for line in lines), lines


def test_datasets_fill_database_bench():
    assert dataset.load_command("pgbench", 7) == "pgbench -i -q -s 7 bench 2>&1 | tail -1"
    realistic = dataset.load_command("realistic", 2)
    assert "-d bench" in realistic and "generate_series(1, 100000)" in realistic
    assert "sha256(" in realistic and "json_build_object(" in realistic
    with pytest.raises(ValueError, match="pgbench, realistic"):
        dataset.load_command("tpcc", 1)


def test_busy_rate_is_the_copys_rate_without_idle_spells_and_ramps():
    mb = 1e6
    samples = [(0, 0), (1, 0), (2, 20 * mb), (3, 72 * mb), (4, 124 * mb), (5, 176 * mb),
               (6, 200 * mb), (7, 200 * mb)]
    assert stats.busy_rate(samples) == pytest.approx(52 * mb)
    assert stats.busy_rate([(0, 5), (1, 5)]) is None and stats.busy_rate([]) is None


def test_lost_counts_acknowledged_commits_missing_afterwards():
    assert stats.lost([1, 2, 3, 4], [1, 2, 4, 99]) == 1
    assert stats.lost([1, 2], [2, 1]) == 0
    assert stats.lost([], []) == 0


SWITCHOVER_OUT = """\
== switch ==
  proof: standby received WAL up to 0/3000120, past master's shutdown checkpoint at 0/30000A8: it holds every commit master acknowledged
== summary ==
  switchover checks            0.8 s  0 changes
  switch                       1.4 s  4 changes
  proof: standby received WAL up to 0/3000120, past master's shutdown checkpoint at 0/30000A8: it holds every commit master acknowledged
  write outage: 1.2 s (master stopped -> standby accepts writes)
"""


def test_parse_switchover_reads_outage_proof_and_steps():
    found = report.parse_switchover(SWITCHOVER_OUT)
    assert found["outage"] == 1.2
    assert found["proof"].startswith("proof: standby received WAL up to 0/3000120")
    assert found["steps"] == {"switchover checks": 0.8, "switch": 1.4}
    assert report.parse_switchover("error: no") == {"outage": None, "proof": None, "steps": {}}


def switch_result(method, *reps):
    return {"method": method, "reps": list(reps)}


def switch_rep(**rep):
    return {"from": "master", "to": "standby", **rep}


def test_switchover_table_and_targets():
    results = [
        switch_result("fab switchover",
                      switch_rep(time=4.2, gap=1.1, failed=9, acked=700, lost=0, kept_bytes=0,
                                 bytes=2.5e6, fab_outage=0.9),
                      switch_rep(time=5.0, gap=0.5, failed=5, acked=800, lost=0, kept_bytes=0,
                                 bytes=2.1e6, fab_outage=0.7)),
        switch_result("fab promote + rejoin",
                      switch_rep(time=12.0, gap=3.5, failed=40, acked=900, lost=2,
                                 kept_bytes=80e6, bytes=6e6)),
        {**switch_result("repmgr standby switchover"), "skipped": "no repmgr"},
    ]
    rows = report.switchover_rows(results)
    assert rows[0] == ["fab switchover", "2", "4.6 [4.2–5.0]", "0.80 [0.50–1.10]", "7 [5–9]",
                       "1500", "0", "0 [0–0]", "2.3 [2.1–2.5]",
                       "fab's own outage figure 0.8 [0.7–0.9] s"]
    assert rows[1][1:3] == ["1", "12.0"] and rows[1][6:8] == ["2", "80"]
    assert rows[2][2] == "–" and rows[2][5] == "–" and rows[2][-1] == "not run: no repmgr"
    assert report.switchover_markdown(results).count("\n") == 4
    lines = report.switchover_targets(results)
    # The worst run counts.
    assert lines[:3] == ["- met: fab switchover: longest write gap s 1.10 (target ≤ 2)",
                         "- met: fab switchover: acknowledged commits lost 0.00 (target ≤ 0)",
                         "- met: fab switchover: data directory MB copied 0.00 (target ≤ 0)"]
    assert lines[3:] == [
        "- MISSED by 1.50: fab promote + rejoin: longest write gap s 3.50 (target ≤ 2)",
        "- MISSED by 2.00: fab promote + rejoin: acknowledged commits lost 2.00 (target ≤ 0)",
        "- MISSED by 80.00: fab promote + rejoin: data directory MB copied 80.00 (target ≤ 0)"]


def test_switchover_row_that_failed_keeps_its_reason_and_ledger_check():
    result = switch_result("fab switchover", switch_rep(error="fab exit 1: no", gap=30.0,
                                                        failed=3000, acked=10, lost=None,
                                                        kept_bytes=0, bytes=1e5))
    rows = report.switchover_rows([result])
    assert rows[0][2] == "–" and rows[0][5:7] == ["10", "–"]
    assert rows[0][-1] == ("failed: fab exit 1: no; ledger not checked: no host took writes "
                           "afterwards")
    assert report.switchover_targets([result]) == []


def test_change_ranges_update_a_middle_range_and_append_as_many():
    assert dataset.change_ranges(100, 0.05) == ((48, 52), (101, 105))
    assert dataset.change_ranges(3_500_000, 0.05) == ((1_662_501, 1_837_500),
                                                      (3_500_001, 3_675_000))
    assert dataset.change_ranges(3, 0.05) == ((2, 2), (4, 4))   # at least one row each


def test_change_command_changes_database_benchs_main_table():
    realistic = dataset.change_command("realistic", 2)
    assert "-d bench" in realistic
    assert "UPDATE events SET" in realistic and "id BETWEEN 47501 AND 52500" in realistic
    assert "generate_series(100001, 105000)" in realistic
    pgbench = dataset.change_command("pgbench", 1)
    assert "aid BETWEEN 47501 AND 52500" in pgbench
    assert "generate_series(100001, 105000)" in pgbench
    # The load makes the rows the change counts from.
    assert "generate_series(1, 100000)" in dataset.load_command("realistic", 2)
    with pytest.raises(ValueError, match="pgbench, realistic"):
        dataset.change_command("tpcc", 1)


DELTA_OUT = """\
== sync ==
  standby: online delta copy, primary running: holds an earlier copy of this primary; slot standby lost the WAL it needs: only what differs is sent
  standby: about 181 MB of 1204 MB to send (the WAL written since its copy; read in full on both hosts for --checksum)
  standby: copied master:/var/lib/postgresql/15/main (online: what changed, --checksum): 31 files, 98.4 MB in 12.1 s, zstd:1 on the wire
== summary ==
  preflight                    0.6 s  0 changes
  sync                        13.0 s  3 changes
"""


def test_parse_copy_reads_the_way_the_estimate_and_the_copy():
    found = report.parse_copy(DELTA_OUT)
    assert found["way"] == ("online delta copy, primary running: holds an earlier copy of this "
                            "primary; slot standby lost the WAL it needs: only what differs is "
                            "sent")
    assert (found["estimate_mb"], found["estimate_of_mb"]) == (181, 1204)
    assert found["estimate_why"] == "the WAL written since its copy"
    assert found["copied"].startswith("copied master:/var/lib/postgresql/15/main (online")
    fresh = report.parse_copy("  standby: pg_basebackup: holds no cluster: a fresh copy\n"
                              "  standby: copied master with pg_basebackup (primary running): "
                              "1100.0 MB in 10.0 s\n")
    assert fresh["way"] == "pg_basebackup: holds no cluster: a fresh copy"
    assert fresh["estimate_mb"] is None and fresh["copied"].startswith("copied master with")
    assert report.parse_copy("error: no")["way"] is None
    assert found["dated"] is None
    dated = "  standby: the primary's WAL summaries since its last restartpoint (0/5000028) " \
            "name 12 changed relation files: the others are not read\n"
    assert report.parse_copy(dated)["dated"].startswith("the primary's WAL summaries since")
    assert report.parse_copy(dated)["pages"] is None
    pages = "  standby: copied the changed pages of 14 relation files alone: 762.3 MB in 57 " \
            "ranges, 315.2 MB sent in 4 batches, in 4.1 s\n"
    copy = "  standby: copied master:/data (online: what changed, --checksum): 56 files\n"
    found = report.parse_copy(dated + pages + copy)
    assert found["pages"].startswith("copied the changed pages of 14")
    assert found["copied"].startswith("copied master:/data")
    assert report.parse_copy("  standby: every file compared: summarize_wal is off on the "
                             "primary\n")["dated"] == \
        "every file compared: summarize_wal is off on the primary"


def resync_rep(**rep):
    return {"gap": 0.05, "failed": 0, "restarted": False, **rep}


def resync_results():
    return [
        {"method": report.RESYNC_FRESH,
         "reps": [resync_rep(time=30.0, primary_bytes=500e6, steps={"sync": 20.0},
                             way="pg_basebackup: a fresh copy")]},
        {"method": report.RESYNC_DELTA,
         "reps": [resync_rep(time=15.0, primary_bytes=60e6, way="online delta copy, primary "
                             "running: slot standby lost the WAL it needs", estimate_mb=181,
                             estimate_of_mb=1204, estimate_why="the WAL written since its copy",
                             wal_bytes=17.2e6)]},
        {"method": report.RESYNC_RESUMED,
         "reps": [resync_rep(time=20.0, primary_bytes=260e6, gap=0.3, failed=2, restarted=True,
                             cut={"bytes": 250e6, "how": "fab full --method rsync: killed"})]},
        {"method": report.RESYNC_RESUMED_DEFAULT, "reps": [{"error": "the cut: no"}]},
    ]


def test_resync_table_sets_each_row_beside_the_fresh_copy_of_the_run():
    rows = report.resync_rows(resync_results())
    assert rows[0][:9] == [report.RESYNC_FRESH, "1", "30.0", "(baseline)", "500", "(baseline)",
                           "0.05", "0", "no"]
    assert "fab's sync step 20.0 s" in rows[0][9]
    assert rows[1][2:9] == ["15.0", "0.50×", "60", "0.12×", "0.05", "0", "no"]
    assert "fab estimated 181 MB of 1204 MB to send (the WAL written since its copy)" in rows[1][9]
    assert "the primary wrote 17.2 MB of WAL meanwhile" in rows[1][9]
    assert rows[2][2:9] == ["20.0", "0.67×", "260", "0.52×", "0.30", "2", "YES (1 run(s))"]
    assert rows[2][9].startswith("the cut run sent 250 MB (50% of the fresh copy's), then fab "
                                 "full --method rsync: killed; both runs together 1.02× the "
                                 "fresh copy's bytes")
    assert rows[3][2] == "–" and rows[3][-1] == "failed: the cut: no"
    assert report.resync_markdown(resync_results()).count("\n") == 5


def test_resync_targets_met_and_missed_against_the_fresh_copy():
    lines = report.resync_targets(resync_results())
    delta = report.RESYNC_DELTA
    assert f"- met: {delta}: bytes the primary sent ÷ the fresh copy's 0.12 (target ≤ 0.15)" \
        in lines
    assert f"- MISSED by 0.10: {delta}: time until streaming ÷ the fresh copy's 0.50 " \
           "(target ≤ 0.4)" in lines
    assert f"- met: {delta}: runs that restarted the primary 0.00 (target ≤ 0)" in lines
    resumed = report.RESYNC_RESUMED
    assert f"- met: {resumed}: bytes the resuming run's primary sent ÷ the fresh copy's 0.52 " \
           "(target ≤ 0.6)" in lines
    assert f"- MISSED by 1.00: {resumed}: runs that restarted the primary 1.00 (target ≤ 0)" \
        in lines
    assert f"- MISSED by 2.00: {resumed}: failed commits (worst run) 2.00 (target ≤ 0)" in lines
    assert f"- not measured: {report.RESYNC_RESUMED_DEFAULT}" in lines
    # Without the fresh copy nothing is set beside it.
    alone = report.resync_targets(resync_results()[1:2])
    assert alone[0] == (f"- not measured: {delta}: bytes the primary sent ÷ the fresh copy's "
                        "(no fresh copy)")


def test_write_resync_writes_the_table_targets_and_what_happened_before(tmp_path):
    meta = {"command": "inv bench --resync", "pg": 15, "bandwidth": "1gbit", "link_rate": 95,
            "dataset": "realistic", "scale": 70, "data": "2.1 GB", "reps": 1,
            "wall_time": 400.0, "changed": "5% changed", "slot_cap": "64MB",
            "wal_since_mb": 198, "background_kb_s": 15.3,
            "setup_note": "the first full failed (x); the standby streamed later",
            "machine": {"date": "d", "host": "h", "cpu": "c", "cores": 2, "memory": "m",
                        "kernel": "k", "docker": "v", "storage": "s"}}
    text = report.write_resync(resync_results(), tmp_path, meta)
    written = (tmp_path / "results.md").read_text()
    assert text in written and "Command: `inv bench --resync`" in written
    assert "Before the rows: the first full failed (x); the standby streamed later." in written
    assert '"results"' in (tmp_path / "results.json").read_text()
