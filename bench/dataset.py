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
"""
DATASETS = ("pgbench", "realistic")
ROWS_PER_SCALE = 50_000

REALISTIC = """
CREATE TABLE events (
    id bigint PRIMARY KEY,
    account_hash text NOT NULL,
    digest bytea NOT NULL,
    amount bigint NOT NULL,
    ratio double precision NOT NULL,
    payload text NOT NULL
);
INSERT INTO events
SELECT i, md5(i::text || 'salt'), sha256(i::text::bytea), (random() * 1e9)::bigint, random(),
       json_build_object(
           'user', 'user' || (random() * 100000)::int,
           'action', (ARRAY['view', 'click', 'buy', 'share', 'login'])[1 + (random() * 4)::int],
           'tags', json_build_array(left(md5(random()::text), 8), left(md5(random()::text), 6)),
           'at', now() - random() * interval '365 days',
           'score', round((random() * 100)::numeric, 2),
           'ok', random() > 0.2)::text
FROM generate_series(1, {rows}) AS i;
"""


def load_command(dataset, scale):
    """Shell (as postgres on the primary) that fills database `bench`."""
    if dataset == "pgbench":
        return f"pgbench -i -q -s {int(scale)} bench 2>&1 | tail -1"
    if dataset == "realistic":
        sql = REALISTIC.format(rows=int(scale) * ROWS_PER_SCALE)
        return "psql -qX -v ON_ERROR_STOP=1 -d bench <<'SQL'\n" + sql + "SQL\n"
    raise ValueError(f"dataset {dataset!r}: use one of {', '.join(DATASETS)}")

