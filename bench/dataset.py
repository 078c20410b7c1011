"""The benchmark's datasets, selectable with --dataset.

- pgbench: pgbench's tables.  Too kind to compression: pgbench_accounts is
  mostly blank padding (its files compress 14x with gzip -1).
- realistic: one table of what applications store, per row a hash as hex
  text, a SHA-256 digest (incompressible bytes), random numbers and a
  JSON-like text document with repeated keys.  Its heap compresses about
  2.4x with zstd -1 and 1.75x with lz4 (measured on 100 000 rows; each run
  measures the whole data directory again and prints it with the results).

Both are sized by the pgbench scale (--scales): the realistic table gets
ROWS_PER_SCALE rows per unit, about the data directory pgbench makes at that
scale (70 is about 1 GB).

change_command changes a share of either, as days of an application's work
do to a standby left behind (`inv bench --resync`): the rows of one range
updated, as many appended after the last.
"""
DATASETS = ("pgbench", "realistic")
ROWS_PER_SCALE = 50_000

REALISTIC_TABLE = """
CREATE TABLE events (
    id bigint PRIMARY KEY,
    account_hash text NOT NULL,
    digest bytea NOT NULL,
    amount bigint NOT NULL,
    ratio double precision NOT NULL,
    payload text NOT NULL
);"""
REALISTIC_ROWS = """
INSERT INTO events
SELECT i, md5(i::text || 'salt'), sha256(i::text::bytea), (random() * 1e9)::bigint, random(),
       json_build_object(
           'user', 'user' || (random() * 100000)::int,
           'action', (ARRAY['view', 'click', 'buy', 'share', 'login'])[1 + (random() * 4)::int],
           'tags', json_build_array(left(md5(random()::text), 8), left(md5(random()::text), 6)),
           'at', now() - random() * interval '365 days',
           'score', round((random() * 100)::numeric, 2),
           'ok', random() > 0.2)::text
FROM generate_series({first}, {last}) AS i;
"""
# The rows of one range updated: new versions of each, and of their index
# entries (the pages are full, so no HOT update), the old ones left dead.
REALISTIC_UPDATE = """
UPDATE events SET amount = amount + 1, ratio = random() WHERE id BETWEEN {first} AND {last};
"""
PGBENCH_CHANGE = """
UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN {first} AND {last};
INSERT INTO pgbench_accounts
SELECT i, (i - 1) / 100000 + 1, 0, '' FROM generate_series({new_first}, {new_last}) AS i;
"""
PGBENCH_ROWS_PER_SCALE = 100_000


def rows(dataset, scale):
    """How many rows of its main table a dataset has at this scale."""
    return int(scale) * (ROWS_PER_SCALE if dataset == "realistic" else PGBENCH_ROWS_PER_SCALE)


def psql(sql):
    return "psql -qX -v ON_ERROR_STOP=1 -d bench <<'SQL'\n" + sql + "SQL\n"


def load_command(dataset, scale):
    """Shell (as postgres on the primary) that fills database `bench`."""
    if dataset == "pgbench":
        return f"pgbench -i -q -s {int(scale)} bench 2>&1 | tail -1"
    if dataset == "realistic":
        return psql(REALISTIC_TABLE + REALISTIC_ROWS.format(first=1, last=rows(dataset, scale)))
    raise ValueError(f"dataset {dataset!r}: use one of {', '.join(DATASETS)}")


def change_ranges(total, share):
    """((first, last) of the rows updated, (first, last) of those appended):
    `share` of `total` rows each, the updated ones a range in the middle."""
    count = max(1, round(total * share))
    first = max(1, (total - count) // 2 + 1)
    return (first, first + count - 1), (total + 1, total + count)


def change_command(dataset, scale, share=0.05):
    """Shell (as postgres on the primary) that updates `share` of the rows of
    database `bench`'s main table in one range and appends as many."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset {dataset!r}: use one of {', '.join(DATASETS)}")
    (first, last), (new_first, new_last) = change_ranges(rows(dataset, scale), share)
    if dataset == "pgbench":
        return psql(PGBENCH_CHANGE.format(first=first, last=last, new_first=new_first,
                                          new_last=new_last))
    return psql(REALISTIC_UPDATE.format(first=first, last=last)
                + REALISTIC_ROWS.format(first=new_first, last=new_last))
