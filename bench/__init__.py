"""The benchmark of issue #7: primary write-unavailability and time until the
standby streams, for pg-hotstandby's `full` beside the guide done by hand, a
bare pg_basebackup, repmgr's `standby clone` and a raw tar copy, in one run on
the Docker lab.  `inv bench --quick` or `python -m bench --help`.

Pure logic (statistics, probe gaps, tc commands, table) lives in stats.py,
net.py and report.py and is unit-tested (tests/unit/test_bench.py); benchlab.py
drives the lab, methods.py holds what each row does, run.py the order of runs.
"""
