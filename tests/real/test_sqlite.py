#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_sqlite.py — the sqlite3 shell on a generated SQL script (tables, 20,000 inserts in
transactions, indexes, joins, aggregates, a CTE, an update and a delete, integrity check) into
a database file, without and with the shim: identical stdout, stderr and exit status; then a
second script that fails on purpose (same error message and status). Compared under three
shim configurations (--variant): lock timing as `perfshim run` sets it, CPU sampling at
1000 Hz, and every lock acquisition timed (PERFSHIM_LOCK_SAMPLE=1)."""
import os
import shutil

import realtest
from realtest import pstest

ROWS = 20000


def script():
    out = ["PRAGMA journal_mode=DELETE;",
           "CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT);",
           "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER REFERENCES customer(id),"
           " amount REAL, note TEXT);",
           "BEGIN;"]
    cities = ["Oslo", "Lima", "Pune", "Kyiv", "Accra", "Quito", "Perth"]
    for i in range(1, 501):
        out.append("INSERT INTO customer VALUES (%d, 'customer %d', '%s');"
                   % (i, i, cities[i % len(cities)]))
    for i in range(1, ROWS + 1):
        if i % 5000 == 0:
            out += ["COMMIT;", "BEGIN;"]
        out.append("INSERT INTO orders (customer, amount, note) VALUES (%d, %d.%02d, '%s');"
                   % (1 + (i * 7919) % 500, (i * 37) % 1000, i % 100, "n" * (i % 40)))
    out += ["COMMIT;",
            "CREATE INDEX orders_customer ON orders(customer);",
            "CREATE INDEX orders_amount ON orders(amount DESC);",
            "CREATE UNIQUE INDEX customer_name ON customer(name);",
            ".headers on", ".mode list",
            "SELECT count(*), printf('%.2f', sum(amount)), max(length(note)) FROM orders;",
            "SELECT c.city, count(*) AS n, printf('%.2f', avg(o.amount)) FROM orders o"
            " JOIN customer c ON c.id = o.customer GROUP BY c.city ORDER BY n DESC, c.city;",
            "SELECT name FROM customer WHERE id IN (SELECT customer FROM orders"
            " WHERE amount > 990 GROUP BY customer HAVING count(*) > 3) ORDER BY id LIMIT 20;",
            "WITH RECURSIVE fib(a, b, n) AS (SELECT 0, 1, 0 UNION ALL SELECT b, a + b, n + 1"
            " FROM fib WHERE n < 60) SELECT group_concat(a, ',') FROM fib;",
            "UPDATE orders SET note = upper(note) || '!' WHERE id % 3 = 0;",
            "DELETE FROM orders WHERE amount < 10;",
            "SELECT count(*), sum(length(note)) FROM orders;",
            "SELECT * FROM orders ORDER BY amount DESC, id LIMIT 15;",
            "EXPLAIN QUERY PLAN SELECT * FROM orders WHERE customer = 42;",
            "VACUUM;",
            "PRAGMA integrity_check;"]
    return "\n".join(out) + "\n"


def main():
    args = realtest.parse_args(lambda ap: realtest.add_variant_arg(
        ap, ["shim", "cpu:PERFSHIM_CPU_HZ=1000", "exact:PERFSHIM_LOCK_SAMPLE=1"]))
    ck = pstest.Checker("real sqlite3")
    sqlite = shutil.which("sqlite3")
    if not sqlite:
        ck.skip("sqlite3 is not installed (scripts/install-deps.sh installs it)")
    base = pstest.tmpdir("real-sqlite")
    sql = os.path.join(base, "script.sql")
    with open(sql, "w") as f:
        f.write(script())
    bad = os.path.join(base, "bad.sql")
    with open(bad, "w") as f:
        f.write("CREATE TABLE t(a);\nINSERT INTO t VALUES (1);\nSELECT * FROM missing_table;\n"
                "SELECT 'not reached';\n")

    def session(side):
        db = os.path.join(side.dir, "test.db")
        with open(sql) as f:
            good = side.run([sqlite, "-bail", db], stdin=f, cwd=base)
        with open(bad) as f:
            failing = side.run([sqlite, "-bail", ":memory:"], stdin=f, cwd=base)
        return good, failing

    bg, bf = session(realtest.Side(args, "bare", base))
    ck.equal(bg.returncode, 0, "script succeeds without the shim")
    ck.check(b"\nok\n" in bg.stdout and str(ROWS).encode() in bg.stdout,
             "the script ran to its integrity check", pstest.describe(bg))
    ck.check(bf.returncode != 0 and b"missing_table" in bf.stderr,
             "the failing script fails without the shim", pstest.describe(bf))
    for name, env in realtest.variants(args):
        side = realtest.Side(args, name, base, env)
        sg, sf = session(side)
        realtest.compare(ck, "sqlite3 script [%s]" % name, bg, sg)
        realtest.compare(ck, "sqlite3 failing script [%s]" % name, bf, sf)
        realtest.check_traces(ck, side, "sqlite3", min_allocs=20000)
    realtest.cleanup(args, base)
    ck.done()


if __name__ == "__main__":
    main()
