"""DuckDB through its C API (ctypes), for the event store: statements run without Python's GIL.

Why not the ``duckdb`` module's own client: it takes the GIL some twenty times an insert (a
signal check after each task it runs, the Arrow source's Python side, binding), and in the
collector another thread holds the GIL most of the time (decoding and folding events). Each take
waited up to the switch interval while the core DuckDB runs on idled: under a busy GIL an insert
measured about twice its quiet wall time. ctypes releases the GIL for the whole of each call that
does DuckDB work, and the C API never asks for it.

The library is the one the ``duckdb`` package ships (its extension module exports the C API), so
the file format and SQL are exactly those of ``duckdb.connect``. The database file is attached to
an in-memory database: the C API's Arrow scan creates a view, which must not land in the file.
``Database.open`` shares one instance per file within a process (two instances of one file in a
process would not see each other's locks).
"""

from __future__ import annotations

import ctypes
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from ctypes import POINTER, Structure, byref, c_char_p, c_int, c_uint64, c_void_p
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

#: The name the database file is attached under: SQL names its tables ``events_db.<table>``.
ATTACHED = "events_db"


class DuckError(Exception):
    """DuckDB refused a statement or could not open the database (the message is DuckDB's)."""


class _ArrowSchema(Structure):  # the Arrow C data interface's struct (9 words)
    _fields_ = [("words", c_void_p * 9)]


class _ArrowArray(Structure):  # 10 words; ``release`` is the 9th
    _fields_ = [("words", c_void_p * 10)]

    @property
    def released(self) -> bool:
        return not self.words[8]


_RELEASE = ctypes.PYFUNCTYPE(None, c_void_p)  # an Arrow struct's release callback (quick: GIL kept)


def _release(struct: _ArrowSchema | _ArrowArray, slot: int) -> None:
    """Release an exported Arrow struct unless its consumer did (release slot NULL)."""
    if struct.words[slot]:
        _RELEASE(struct.words[slot])(ctypes.addressof(struct))


_OK = 0


#: (name, argument types, result type). The calls that take DuckDB milliseconds release the GIL
#: (ctypes.CDLL): opening and closing, preparing a statement (the insert's takes about 3 ms), running
#: one, creating the Arrow view. The others keep it (ctypes.PyDLL): each release means taking the
#: GIL again after, which waited up to a switch interval behind the decoding thread: released
#: around every call, a third of an insert's time went to taking it back.
_SIGNATURES = {
    "duckdb_open_ext": ([c_char_p, POINTER(c_void_p), c_void_p, POINTER(c_char_p)], c_int),
    "duckdb_close": ([POINTER(c_void_p)], None),
    "duckdb_connect": ([c_void_p, POINTER(c_void_p)], c_int),
    "duckdb_disconnect": ([POINTER(c_void_p)], None),
    "duckdb_free": ([c_void_p], None),
    "duckdb_prepare": ([c_void_p, c_char_p, POINTER(c_void_p)], c_int),
    "duckdb_prepare_error": ([c_void_p], c_char_p),
    "duckdb_destroy_prepare": ([POINTER(c_void_p)], None),
    "duckdb_bind_varchar_length": ([c_void_p, c_uint64, c_char_p, c_uint64], c_int),
    "duckdb_bind_null": ([c_void_p, c_uint64], c_int),
    "duckdb_execute_prepared_arrow": ([c_void_p, POINTER(c_void_p)], c_int),
    "duckdb_query_arrow_error": ([c_void_p], c_char_p),
    "duckdb_query_arrow_schema": ([c_void_p, POINTER(c_void_p)], c_int),
    "duckdb_query_arrow_array": ([c_void_p, POINTER(c_void_p)], c_int),
    "duckdb_arrow_row_count": ([c_void_p], c_uint64),
    "duckdb_destroy_arrow": ([POINTER(c_void_p)], None),
    "duckdb_arrow_array_scan": ([c_void_p, c_char_p, c_void_p, c_void_p, POINTER(c_void_p)], c_int),
    "duckdb_destroy_arrow_stream": ([POINTER(c_void_p)], None),
}
_RELEASING = frozenset(
    {"duckdb_open_ext", "duckdb_close", "duckdb_prepare", "duckdb_execute_prepared_arrow", "duckdb_arrow_array_scan"}
)


class _Api:
    """The C API of the DuckDB the ``duckdb`` package loaded (its extension module exports it)."""

    def __init__(self) -> None:
        try:
            import _duckdb

            releasing, holding = ctypes.CDLL(_duckdb.__file__), ctypes.PyDLL(_duckdb.__file__)
            for name, (args, result) in _SIGNATURES.items():
                function = getattr(releasing if name in _RELEASING else holding, name)
                function.argtypes, function.restype = args, result
                setattr(self, name.removeprefix("duckdb_"), function)
        except (ImportError, OSError, AttributeError) as exc:  # another duckdb build than pyproject's
            raise DuckError(f"the installed duckdb package does not expose DuckDB's C API ({exc})") from None


@cache
def _library() -> Any:
    return _Api()


class Result:
    """A statement's rows, fetched lazily as Arrow record batches."""

    def __init__(self, handle: c_void_p) -> None:
        self._handle = handle

    def _open_handle(self) -> c_void_p:
        if not self._handle:
            raise DuckError("the result is closed")
        return self._handle

    @property
    def row_count(self) -> int:
        return int(_library().arrow_row_count(self._open_handle()))

    def table(self) -> pa.Table:
        lib, handle = _library(), self._open_handle()
        schema_struct = _ArrowSchema()
        if lib.query_arrow_schema(handle, byref(c_void_p(ctypes.addressof(schema_struct)))) != _OK:
            raise DuckError(_text(lib.query_arrow_error(handle)))
        schema = pa.Schema._import_from_c(ctypes.addressof(schema_struct))
        batches: list[pa.RecordBatch] = []
        while True:
            array = _ArrowArray()
            if lib.query_arrow_array(handle, byref(c_void_p(ctypes.addressof(array)))) != _OK:
                raise DuckError(_text(lib.query_arrow_error(handle)))
            if array.released:  # no chunk left
                return pa.Table.from_batches(batches, schema)
            batches.append(pa.RecordBatch._import_from_c(ctypes.addressof(array), schema))

    def close(self) -> None:
        if self._handle:
            _library().destroy_arrow(byref(self._handle))
            self._handle = c_void_p()


#: Arrow structs a view may still point at because dropping the view failed: kept, never freed.
_stranded: list[object] = []


class Connection:
    """One connection: use it from one thread at a time."""

    def __init__(self, database: c_void_p, scan_lock: threading.Lock) -> None:
        self._handle = c_void_p()
        self._scan_lock = scan_lock
        self._kept: dict[str, c_void_p] = {}  # prepared statements kept for reuse, by SQL
        self._views: dict[str, tuple[str, ...]] = {}  # Arrow views being scanned -> their columns
        self._whole: set[tuple[str, tuple[tuple[str, ...], ...]]] = set()  # statements checked to read them whole
        if _library().connect(database, byref(self._handle)) != _OK:
            raise DuckError("cannot connect to the database")

    def execute(self, sql: str, params: Sequence[str | None] = (), *, keep: bool = False) -> Result:
        """Run one statement, its ``?`` parameters bound as text (SQL casts what needs a type).
        ``keep``: prepare it once and reuse it (the collector's insert measured 3 ms to prepare;
        DuckDB binds it again by itself where the views it reads were made anew).
        While an Arrow view is scanned, a statement must read its rows whole (see ``scanning``):
        one that would not is refused, checked once per statement and view shape."""
        if self._views:
            self._check_reads_whole(sql, params)
        return self._run(sql, params, keep=keep)

    def _run(self, sql: str, params: Sequence[str | None], *, keep: bool = False) -> Result:
        if not self._handle:
            raise DuckError("the connection is closed")
        lib = _library()
        statement = self._kept.get(sql) if keep else None
        fresh = statement is None
        if statement is None:
            statement = c_void_p()
        try:
            if fresh and lib.prepare(self._handle, sql.encode(), byref(statement)) != _OK:
                raise DuckError(_text(lib.prepare_error(statement)))
            for index, value in enumerate(params, start=1):
                _bind(lib, statement, index, value)
            result = c_void_p()
            state = lib.execute_prepared_arrow(statement, byref(result))
            if state != _OK:
                message = _text(lib.query_arrow_error(result))
                lib.destroy_arrow(byref(result))
                raise DuckError(message)
            if fresh and keep:
                self._kept[sql], statement = statement, None
            return Result(result)
        finally:
            if fresh and statement is not None:
                lib.destroy_prepare(byref(statement))

    def rows(self, sql: str, params: Sequence[str | None] = ()) -> list[tuple]:  # type: ignore[type-arg]
        """The statement's rows as Python tuples."""
        result = self.execute(sql, params)
        try:
            table = result.table()
        finally:
            result.close()
        columns = [column.to_pylist() for column in table.columns]
        return list(zip(*columns, strict=True)) if columns else []

    def _check_reads_whole(self, sql: str, params: Sequence[str | None]) -> None:
        """Refuse a statement whose plan reads a scanned Arrow view in part: DuckDB pushes
        column choices and filters into its Arrow scan, and the C API's scan ignores them (it
        hands over every column of every row, and DuckDB then reads the wrong columns, or
        skips no row: wrong rows, or a crash)."""
        key = (sql, tuple(self._views.values()))
        if key in self._whole:
            return
        result = self._run(f"EXPLAIN (FORMAT JSON) {sql}", params)
        try:
            plan = json.loads(result.table().column(1)[0].as_py())
        finally:
            result.close()
        shapes = set(self._views.values())
        for scan in _arrow_scans(plan):
            info = scan.get("extra_info") or {}
            read = info.get("Projections", ())
            read = (read,) if isinstance(read, str) else tuple(read)
            if read not in shapes or info.get("Filters"):
                raise DuckError(
                    "a statement over an Arrow view must read every column, in order, and filter none "
                    f"of them directly (DuckDB's C API scan would not apply it): reads {list(read)}"
                    + (f" with filters {info['Filters']}" if info.get("Filters") else "")
                )
        if len(self._whole) >= 256:  # (statements over views are the store's few; bounded anyway)
            self._whole.clear()
        self._whole.add(key)

    @contextmanager
    def scanning(self, name: str, table: pa.Table) -> Iterator[None]:
        """``table`` readable once as the view ``name`` for the block's statements (a statement
        reading it twice would find it empty the second time). DuckDB reads the table's columns
        in place, as one record batch: no Python runs while it scans them. Statements must read
        its rows whole, every column in order, no column filtered where it is read (in SQL over
        it, a filter on an expression of a column, a join or a subquery): others are refused.

        The view is the database's, seen by every connection: one scan at a time per database.
        (Not ``duckdb_arrow_scan`` over a stream: it never releases the schemas it asks the
        stream for, about 2.5 KB of Arrow memory lost an insert.)"""
        if not self._handle:
            raise DuckError("the connection is closed")
        batch = _one_batch(table)
        schema, array = _ArrowSchema(), _ArrowArray()
        batch._export_to_c(ctypes.addressof(array), ctypes.addressof(schema))
        stream = c_void_p()
        lib = _library()
        with self._scan_lock:
            state, dropped = -1, False
            try:
                state = lib.arrow_array_scan(
                    self._handle, name.encode(), ctypes.addressof(schema), ctypes.addressof(array), byref(stream)
                )
                if state != _OK:
                    raise DuckError(f"cannot read the Arrow table as {name}")
                self._views[name] = tuple(table.schema.names)
                try:
                    yield
                finally:
                    del self._views[name]
                    self._run(f'DROP VIEW IF EXISTS "{name}"', (), keep=True).close()
                    dropped = True
            finally:
                if state == _OK and not dropped:  # the view may still point at them
                    _stranded.append((schema, array, stream))
                else:
                    if stream:
                        lib.destroy_arrow_stream(byref(stream))
                    _release(array, 8)  # unread: still ours
                    _release(schema, 7)

    def close(self) -> None:
        if self._handle:
            lib = _library()
            for statement in self._kept.values():
                lib.destroy_prepare(byref(statement))
            self._kept.clear()
            lib.disconnect(byref(self._handle))
            self._handle = c_void_p()


class Database:
    """A DuckDB file attached as ``ATTACHED`` to an in-memory database. Get one with ``open``:
    stores of one file in one process share it, as ``duckdb.connect`` shares its instance (two
    instances of one file in a process would not see each other's locks). Each ``open`` is
    matched by one ``release``."""

    _shared: dict[str, tuple[Database, int]] = {}  # resolved path -> (database, users)
    _shared_lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, *, read_only: bool = False) -> Database:
        key = str(path.resolve())
        with cls._shared_lock:
            database, users = cls._shared.get(key, (None, 0))
            if database is None:
                database = cls(path, read_only=read_only)
                database._key = key
            elif database.read_only != read_only:
                mode = "read-only" if database.read_only else "for writing"
                raise DuckError(f"{path} is already open in this process {mode}")
            cls._shared[key] = (database, users + 1)
            return database

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        lib = _library()
        self.read_only = read_only
        self._key: str | None = None
        self._scan_lock = threading.Lock()
        self._handle = c_void_p()
        error = c_char_p()
        if lib.open_ext(b":memory:", byref(self._handle), None, byref(error)) != _OK:
            message = _text(error.value)
            lib.free(ctypes.cast(error, c_void_p))
            raise DuckError(message)
        setup: Connection | None = None
        try:
            setup = Connection(self._handle, self._scan_lock)
            mode = " (READ_ONLY)" if read_only else ""
            setup.execute(f"ATTACH '{_quoted(str(path))}' AS {ATTACHED}{mode}").close()
        except DuckError:
            if setup is not None:
                setup.close()
            lib.close(byref(self._handle))
            raise
        self._setup = setup

    def connect(self) -> Connection:
        """A new connection; unqualified names find the file's tables (create them qualified)."""
        connection = Connection(self._handle, self._scan_lock)
        try:
            connection.execute(f"SET search_path = 'memory.main,{ATTACHED}.main'").close()
        except DuckError:
            connection.close()
            raise
        return connection

    def release(self) -> None:
        """One user done; the last one detaches the file (DuckDB checkpoints it) and closes."""
        with Database._shared_lock:
            if not self._handle:
                return
            if self._key is not None:
                database, users = Database._shared.get(self._key, (None, 0))
                if database is self and users > 1:
                    Database._shared[self._key] = (self, users - 1)
                    return
                if database is self:
                    del Database._shared[self._key]
            try:
                self._setup.execute(f"DETACH {ATTACHED}").close()
            finally:
                self._setup.close()
                _library().close(byref(self._handle))
                self._handle = c_void_p()


def _arrow_scans(node: object) -> Iterator[dict[str, Any]]:
    """The Arrow scans of a plan in EXPLAIN's JSON."""
    if isinstance(node, dict):
        if node.get("name") == "ARROW_SCAN":
            yield node
        for value in node.values():
            yield from _arrow_scans(value)
    elif isinstance(node, list):
        for value in node:
            yield from _arrow_scans(value)


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    """The table as a single record batch (a table of several chunks is copied into one)."""
    columns = table.combine_chunks().columns  # each of at most one chunk now
    arrays = [column.chunk(0) if column.num_chunks else pa.array([], column.type) for column in columns]
    return pa.RecordBatch.from_arrays(arrays, schema=table.schema)


def _bind(lib: ctypes.CDLL, statement: c_void_p, index: int, value: str | None) -> None:
    if value is None:
        state = lib.bind_null(statement, index)
    else:
        try:
            data = value.encode()
        except UnicodeEncodeError as exc:  # a lone surrogate: no UTF-8 for it
            raise DuckError(f"parameter {index} is not valid text: {exc.reason}") from None
        state = lib.bind_varchar_length(statement, index, data, len(data))
    if state != _OK:
        raise DuckError(f"cannot bind parameter {index}")


def _quoted(text: str) -> str:
    return text.replace("'", "''")


def _text(message: bytes | None) -> str:
    return message.decode("utf-8", "replace") if message else "unknown DuckDB error"
