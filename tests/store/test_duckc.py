"""DuckDB through its C API: statements, parameters, Arrow views, errors, sharing a file, and the
GIL released while a statement runs."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from honeyguard.errors import StoreError
from honeyguard.model import Event
from honeyguard.store.duckc import ATTACHED, Database, DuckError
from honeyguard.store.events import EventBatch, EventQuery, EventStore
from tests.server.helpers import EventMaker

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _database(tmp_path: Path, **kw: bool) -> Database:
    return Database.open(tmp_path / "d.duckdb", **kw)


def test_statements_and_text_parameters(tmp_path: Path) -> None:
    database = _database(tmp_path)
    con = database.connect()
    con.execute(f"CREATE TABLE {ATTACHED}.t (n INTEGER, s VARCHAR)").close()
    con.execute("INSERT INTO t VALUES (CAST(? AS INTEGER), ?), (2, ?)", ["1", "one", None]).close()
    assert con.rows("SELECT n, s FROM t ORDER BY n") == [(1, "one"), (2, None)]
    assert con.rows("SELECT s FROM t WHERE s = ?", ["it's; DROP TABLE t"]) == []  # bound, never spliced
    assert con.rows("SELECT count(*) FROM t") == [(2,)]
    con.close()
    database.release()


def test_the_file_is_duckdb_own_format(tmp_path: Path) -> None:
    """Written through the C API, read back by the duckdb module (and the other way round)."""
    database = _database(tmp_path)
    con = database.connect()
    con.execute(f"CREATE TABLE {ATTACHED}.t AS SELECT range AS n FROM range(5)").close()
    con.close()
    database.release()
    with duckdb.connect(str(tmp_path / "d.duckdb")) as other:
        assert other.execute("SELECT sum(n) FROM t").fetchall() == [(10,)]
        other.execute("INSERT INTO t VALUES (100)")
    database = _database(tmp_path, read_only=True)
    assert database.connect().rows("SELECT max(n) FROM t") == [(100,)]
    database.release()


def test_errors_carry_duckdb_message(tmp_path: Path) -> None:
    database = _database(tmp_path)
    con = database.connect()
    with pytest.raises(DuckError, match="nowhere"):
        con.execute("SELECT * FROM nowhere")
    with pytest.raises(DuckError, match="Conversion Error"):
        con.execute("SELECT CAST(? AS INTEGER)", ["not a number"])
    assert con.rows("SELECT 42") == [(42,)]  # the connection is still usable
    database.release()


def test_an_arrow_table_is_a_view_for_the_block_only(tmp_path: Path) -> None:
    database = _database(tmp_path)
    con = database.connect()
    table = pa.table({"n": pa.array(range(10_000), pa.int64()), "s": pa.array([str(i) for i in range(10_000)])})
    with con.scanning("incoming", table):
        assert con.rows("SELECT count(*), sum(n), max(length(s)) FROM incoming") == [(10_000, 49_995_000, 4)]
    with pytest.raises(DuckError, match="incoming"):
        con.execute("SELECT * FROM incoming")
    database.release()


def test_scanning_many_tables_leaks_no_arrow_memory(tmp_path: Path) -> None:
    database = _database(tmp_path)
    con = database.connect()
    before = pa.total_allocated_bytes()
    for round_ in range(50):
        numbers = pa.chunked_array([range(round_, round_ + 1_000), range(1_000)], pa.int64())  # two chunks
        table = pa.table({"n": numbers, "s": pa.array(["x"] * 2_000)})
        with con.scanning("incoming", table):
            con.rows("SELECT sum(n), count(s) FROM incoming")
        del table
    assert pa.total_allocated_bytes() <= before + 64 * 1024
    database.release()


def test_a_failed_statement_inside_a_scan_still_drops_the_view(tmp_path: Path) -> None:
    database = _database(tmp_path)
    con = database.connect()
    with pytest.raises(DuckError), con.scanning("incoming", pa.table({"n": [1, 2]})):
        con.execute("SELECT no_such_column FROM incoming")
    assert con.rows("SELECT count(*) FROM duckdb_views() WHERE view_name = 'incoming'") == [(0,)]
    database.release()


def test_stores_of_one_file_share_one_database(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    first, second = EventStore(path), EventStore(path)
    assert first._db is second._db
    first.close()
    assert second.count() == 0  # still open for the other store
    second.close()
    reader = EventStore(path, read_only=True)  # closed by the last: the file opens afresh
    with pytest.raises(StoreError, match="already open in this process read-only"):
        EventStore(path)
    reader.close()


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    path.write_bytes(b"this is not a DuckDB file" * 200)
    with pytest.raises(StoreError, match=r"cannot open event store .*e\.duckdb"):
        EventStore(path)
    with pytest.raises(StoreError, match="cannot open event store"):
        EventStore(tmp_path / "missing.duckdb", read_only=True)


def test_a_read_only_store_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    EventStore(path).close()
    reader = EventStore(path, read_only=True)
    with pytest.raises(DuckError, match="read-only"):
        reader._con.execute("DELETE FROM events")  # the connection itself refuses
    reader.close()


def test_the_gil_is_released_while_a_statement_runs(tmp_path: Path) -> None:
    """A long statement in one thread; the other thread keeps running Python meanwhile (with the
    GIL held through the call it could not, until the statement ended)."""
    database = _database(tmp_path)
    con = database.connect()
    finished = threading.Event()

    def long_statement() -> None:
        con.rows("SELECT count(*) FROM range(250000000) WHERE (range * 7) % 1000003 = 5")
        finished.set()

    worker = threading.Thread(target=long_statement)
    worker.start()
    time.sleep(0.2)
    ran = 0
    while ran < 1000 and not finished.is_set():
        ran += sum(1 for _ in range(100)) // 100
    assert ran == 1000 and not finished.is_set(), "Python could not run while DuckDB worked"
    worker.join()
    database.release()


def test_two_stores_of_one_file_insert_at_once_each_event_once(tmp_path: Path) -> None:
    """The Arrow view is the database's: scans of stores sharing it take turns."""
    path = tmp_path / "e.duckdb"
    stores = [EventStore(path), EventStore(path)]
    maker = EventMaker("s1")
    events = [maker.connect(T0 + timedelta(milliseconds=i)) for i in range(4000)]
    failures: list[BaseException] = []

    def insert(store: EventStore, part: list[Event]) -> None:
        try:
            for at in range(0, len(part), 50):
                assert store.insert(EventBatch.from_events(part[at : at + 50])).accepted == len(part[at : at + 50])
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=insert, args=(store, events[i::2])) for i, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert stores[0].count() == stores[0].count(distinct=True) == 4000
    for store in stores:
        store.close()


def test_closing_a_store_twice_leaves_the_other_store_open(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    first, second = EventStore(path), EventStore(path)
    first.close()
    first.close()
    assert second.count() == 0
    third = EventStore(path)
    assert third._db is second._db
    second.close()
    third.close()


def test_closed_results_and_connections_are_errors_not_crashes(tmp_path: Path) -> None:
    database = _database(tmp_path)
    con = database.connect()
    result = con.execute("SELECT 1")
    result.close()
    with pytest.raises(DuckError, match="closed"):
        _ = result.row_count
    with pytest.raises(DuckError, match="closed"):
        result.table()
    con.close()
    with pytest.raises(DuckError, match="closed"):
        con.execute("SELECT 1")
    database.release()


def test_text_that_is_not_utf8_is_a_store_error(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "e.duckdb")
    with pytest.raises(StoreError, match="not valid text"):
        store.query(EventQuery(sensor="\ud800"))
    store.close()


def test_a_kept_statement_reads_each_new_view_of_the_name(tmp_path: Path) -> None:
    """Prepared once, run over views made anew for every batch: DuckDB binds it again each time,
    so every run reads its own batch (never a dropped view's freed Arrow data)."""
    database = _database(tmp_path)
    con = database.connect()
    con.execute(f"CREATE TABLE {ATTACHED}.t (n INTEGER)").close()
    sql = "INSERT INTO t SELECT n FROM (SELECT n FROM incoming LIMIT 1000000) WHERE n >= CAST(? AS INTEGER)"
    for start in range(0, 5000, 1000):
        with con.scanning("incoming", pa.table({"n": pa.array(range(start, start + 1000), pa.int32())})):
            con.execute(sql, [str(start + 500)], keep=True).close()
        assert con.rows("SELECT count(*) FROM duckdb_views() WHERE view_name = 'incoming'") == [(0,)]
    assert sql in con._kept  # (with the view's DROP, also kept)
    halves = con.rows("SELECT n // 1000, count(*), min(n) FROM t GROUP BY ALL ORDER BY 1")
    assert halves == [(k, 500, k * 1000 + 500) for k in range(5)]
    with pytest.raises(DuckError, match="incoming"):  # no view now: an error, the statement still kept
        con.execute(sql, ["0"], keep=True)
    con.close()
    assert con._kept == {}
    database.release()


_THREE = pa.table({"n": pa.array(range(1000), pa.int32()), "s": pa.array(["a", "b"] * 500),
                   "m": pa.array(range(1000), pa.int64())})


@pytest.mark.parametrize("sql", [
    "SELECT m FROM incoming",  # one column of three: DuckDB would read the first as it
    "SELECT s, m FROM incoming",
    "SELECT count(*) FROM incoming WHERE m >= 500",  # a filter the scan would not apply
    "SELECT count(*) FROM incoming WHERE s = 'a'",  # (it crashed the process)
    "SELECT n, s, m FROM incoming WHERE n < 10",
])
def test_a_statement_reading_an_arrow_view_in_part_is_refused(tmp_path: Path, sql: str) -> None:
    database = _database(tmp_path)
    con = database.connect()
    with pytest.raises(DuckError, match="every column, in order"), con.scanning("incoming", _THREE):
        con.rows(sql)
    with con.scanning("incoming", _THREE):  # read whole (LIMIT keeps filters above the scan): right
        whole = ("SELECT count(*), sum(m) FROM (SELECT * FROM incoming LIMIT 1000000)"
                 " WHERE m >= 500 AND s = 'a' AND n >= 0")
        assert con.rows(whole) == [(250, sum(range(500, 1000, 2)))]
    con.close()
    database.release()
