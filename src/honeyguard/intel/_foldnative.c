/* The indicator book's fold (IndicatorBook.observe_events, intel/book.py) in C.
 *
 * Why native: the fold runs for every ingested event with the GIL held, and in Python it measured
 * 7-9 us an event, the largest share of the collector's GIL time. This is the same fold with the
 * same float operations in the same order; what the book keeps of each indicator is a C record
 * (_foldnative_entry.h: Entry, whose record() is the Python fold's _Entry), so a sighting of a
 * known indicator reads and writes a few cache lines instead of some thirty Python objects.
 *
 * What an event reveals (sightings.seen_in) is computed here for the common shapes: the source's
 * behaviour, and its IOCs through sightings._from_ioc (Python, cached). The rare shapes (download
 * and upload events, a body that is not the kind's type) go to sightings.seen_in itself.
 *
 * ``candidates`` is take_touched's first pass (the upper bound of each touched indicator's
 * confidence, asked of the defense loop's filter) over the same records; ``add`` is one sighting
 * given whole (an imported indicator).
 *
 * The Python objects the fold needs (record types, the sightings tables) are handed over once by
 * ``configure`` (intel/foldnative.py); the book's own state is read from the book on each call.
 * _foldnative_seen.h reads the events, _foldnative_entry.h is the record, _foldnative_book.h
 * updates the book, _foldnative_event.h folds one event with them.
 * Every call runs with the GIL held. An odd input raises where the Python fold raises, the book
 * left as the Python fold leaves it (the same steps in the same order; the tests compare both).
 * Memory: only the book's own records grow, as in Python; nothing is kept between calls.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <structmember.h>

/* handed over by configure() */
static PyObject *EntryType, *SourceType, *AccumulatorType, *SshLoginType;
static PyObject *from_ioc, *seen_in_py;
static PyObject *after_login, *unlabelled, *scan_techniques;

/* interned names and constants */
static PyObject *s_kind, *s_cves, *s_techniques, *s_rules, *s_iocs, *s_src_ip, *s_sensor, *s_location, *s_id, *s_ts,
    *s_body, *s_success, *s_method, *s_username, *s_type, *s_value, *s_role;
static PyObject *s_entries, *s_touched_list, *s_sources, *s_strengths, *s_half_lives, *s_evidence_kept,
    *s_evidence_seq, *s_half_life_method, *s_timestamp, *s_names;
static PyObject *s_at, *s_native_busy;
static PyObject *c_ip, *c_exploiter, *c_exploit, *c_post_exploit, *c_bruteforcer, *c_login, *c_bruteforce,
    *c_scanner, *c_scan, *c_technique, *c_probe, *c_ssh_login, *c_download, *c_upload, *c_comma,
    *acc_kwnames;

/* ---- record fields, read in their slots --------------------------------------------------- */

/* The fold reads a few fields of the same records millions of times: events, the book's entries,
 * sums and tallies (msgspec Structs, whose fields are slots). PyObject_GetAttr finds the slot's
 * descriptor by name on every call (a third of the fold's own time, measured); this remembers, per
 * (type, name), the slot's offset, and reads it there. Only where that is exactly what Python's
 * generic getattr would do: the type uses it, the name is a plain object slot of the type or a
 * base (a member descriptor, T_OBJECT_EX, no flags), and the type has not changed since (its
 * version tag: CPython 3.11 never reuses one; where a type gets none the cache is not used).
 * Anything else, and an empty slot (the AttributeError), goes through PyObject_GetAttr. Writes
 * always go through PyObject_SetAttr: msgspec's own setattr checks frozen types and re-tracks
 * untracked structs given a container, which a write in the slot would skip. */
#define SLOT_CACHE 128
typedef struct {
    PyTypeObject *type; /* not owned: a freed type's address can only come back with a new version tag */
    PyObject *name;
    unsigned int version;
    Py_ssize_t offset; /* -1: ask Python */
} Slot;
static Slot slot_cache[SLOT_CACHE];

static Slot *slot_of(PyTypeObject *t, PyObject *name)
{
    Slot *e = &slot_cache[(((uintptr_t)t >> 4) * 31u + ((uintptr_t)name >> 4)) % SLOT_CACHE];
    if (e->type == t && e->name == name && (t->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) &&
        e->version == t->tp_version_tag)
        return e;
    e->type = NULL;
    e->name = name;
    e->offset = -1;
    if (t->tp_getattro != PyObject_GenericGetAttr)
        return e;
    PyObject *descr = _PyType_Lookup(t, name); /* borrowed; gives the type a version tag */
    if (!(t->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG))
        return e; /* nothing to tell a later change by: ask Python each time */
    e->type = t;
    e->version = t->tp_version_tag;
    if (descr != NULL && Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        /* (a descriptor of this type or a base: one copied into an unrelated class would read
         * another layout, where Python's member_get raises TypeError) */
        if (member->type == T_OBJECT_EX && member->flags == 0 && member->offset > 0 &&
            PyType_IsSubtype(t, PyDescr_TYPE(descr)) &&
            (size_t)member->offset + sizeof(PyObject *) <= (size_t)t->tp_basicsize) {
            e->offset = member->offset;
        }
    }
    return e;
}

/* getattr(obj, name): a new reference, or NULL with the error */
static PyObject *field(PyObject *obj, PyObject *name)
{
    Slot *e = slot_of(Py_TYPE(obj), name);
    if (e->offset > 0) {
        PyObject *value = *(PyObject **)((char *)obj + e->offset);
        if (value != NULL)
            return Py_NewRef(value);
    }
    return PyObject_GetAttr(obj, name);
}

/* ---- small helpers ------------------------------------------------------------------------- */

/* float(v) into *out, v's reference stolen (v NULL: the error of whatever made it) */
static int take_double(PyObject *v, double *out)
{
    if (v == NULL)
        return -1;
    *out = PyFloat_AsDouble(v);
    Py_DECREF(v);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* int(getattr(obj, name)) into *out */
static int get_long_long(PyObject *obj, PyObject *name, long long *out)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's days_from_civil */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* An exact UTC datetime as its microseconds since 1970 (``exact``); any other (naive, another
 * zone, a subclass) is left to Python: its comparisons, its timestamp(). */
typedef struct {
    int64_t us;
    int exact;
} DateKey;

static DateKey date_key(PyObject *at)
{
    DateKey key = {0, 0};
    if (PyDateTime_CheckExact(at) && ((PyDateTime_DateTime *)at)->hastzinfo &&
        ((PyDateTime_DateTime *)at)->tzinfo == PyDateTime_TimeZone_UTC) {
        int64_t days = days_from_civil(PyDateTime_GET_YEAR(at), (unsigned)PyDateTime_GET_MONTH(at),
                                       (unsigned)PyDateTime_GET_DAY(at));
        int64_t seconds = days * 86400 + PyDateTime_DATE_GET_HOUR(at) * 3600 +
                          PyDateTime_DATE_GET_MINUTE(at) * 60 + PyDateTime_DATE_GET_SECOND(at);
        key.us = seconds * 1000000 + PyDateTime_DATE_GET_MICROSECOND(at);
        key.exact = 1;
    }
    return key;
}

/* at.timestamp(): for a UTC datetime the same integer microseconds over 10**6 Python computes
 * (exact below 2**53, then one correctly rounded division); any other datetime asks Python. */
static int posix_of(PyObject *at, double *out)
{
    DateKey key = date_key(at);
    if (key.exact) {
        *out = (double)key.us / 1e6;
        return 0;
    }
    return take_double(PyObject_CallMethodNoArgs(at, s_timestamp), out);
}

/* ", ".join(items[:3]) */
static PyObject *join_three(PyObject *items)
{
    PyObject *head = PySequence_GetSlice(items, 0, 3);
    if (head == NULL)
        return NULL;
    PyObject *joined = PyUnicode_Join(c_comma, head);
    Py_DECREF(head);
    return joined;
}

static PyObject *seen5(PyObject *type, PyObject *value, PyObject *role, PyObject *behaviour, PyObject *reason)
{
    if (reason == NULL)
        return NULL;
    PyObject *t = PyTuple_Pack(5, type, value, role, behaviour, reason);
    Py_DECREF(reason);
    return t;
}

#include "_foldnative_seen.h"
#include "_foldnative_entry.h"
#include "_foldnative_book.h"
#include "_foldnative_event.h"

/* ---- module ---------------------------------------------------------------------------------- */

static int load_book(PyObject *book, Book *b)
{
    b->book = book;
    if ((b->entries = PyObject_GetAttr(book, s_entries)) == NULL ||
        (b->touched = PyObject_GetAttr(book, s_touched_list)) == NULL ||
        (b->strengths = PyObject_GetAttr(book, s_strengths)) == NULL ||
        (b->half_lives = PyObject_GetAttr(book, s_half_lives)) == NULL ||
        (b->names = PyObject_GetAttr(book, s_names)) == NULL)
        return -1;
    if (!PyDict_Check(b->entries) || !PyList_Check(b->touched) || !PyDict_Check(b->strengths) ||
        !PyDict_Check(b->half_lives) || !PyDict_Check(b->names)) {
        PyErr_SetString(PyExc_TypeError, "not an IndicatorBook");
        return -1;
    }
    long long kept;
    if (get_long_long(book, s_evidence_kept, &kept) < 0)
        return -1;
    if (kept > PY_SSIZE_T_MAX || kept < PY_SSIZE_T_MIN) { /* (PyLong_AsSsize_t's error) */
        PyErr_SetString(PyExc_OverflowError, "Python int too large to convert to C ssize_t");
        return -1;
    }
    b->evidence_kept = (Py_ssize_t)kept;
    if (get_long_long(book, s_evidence_seq, &b->evidence_seq) < 0)
        return -1;
    /* One fold at a time per book: Python code a fold runs (an odd key's __eq__, a datetime
     * subclass) could fold into it again, with the evidence counter read before this one wrote
     * it back. */
    PyObject *busy = PyObject_GetAttr(book, s_native_busy);
    int nested = busy == NULL ? -1 : PyObject_IsTrue(busy);
    Py_XDECREF(busy);
    if (nested != 0) {
        if (nested > 0)
            PyErr_SetString(PyExc_RuntimeError, "the book's fold was re-entered from Python code it ran");
        return -1;
    }
    if (PyObject_SetAttr(book, s_native_busy, Py_True) < 0)
        return -1;
    b->guarded = 1;
    return 0;
}

/* the book's evidence counter written back (even after an error: the items carry it), then its
 * tables released; failed, or 1 when the write fails */
static int finish_book(PyObject *book, Book *b, long long seq_before, int failed)
{
    if (b->evidence_seq != seq_before) {
        PyObject *exc_type, *exc_value, *exc_tb;
        PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
        PyObject *seq = PyLong_FromLongLong(b->evidence_seq);
        if (seq == NULL || PyObject_SetAttr(book, s_evidence_seq, seq) < 0)
            failed = 1;
        Py_XDECREF(seq);
        if (exc_type != NULL)
            PyErr_Restore(exc_type, exc_value, exc_tb);
    }
    if (b->guarded) {
        PyObject *exc_type, *exc_value, *exc_tb;
        PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
        if (PyObject_SetAttr(book, s_native_busy, Py_False) < 0)
            failed = 1;
        if (exc_type != NULL)
            PyErr_Restore(exc_type, exc_value, exc_tb);
    }
    Py_XDECREF(b->entries);
    Py_XDECREF(b->touched);
    Py_XDECREF(b->strengths);
    Py_XDECREF(b->half_lives);
    Py_XDECREF(b->names);
    return failed;
}

/* Events are folded well after they were decoded (after their batch's commit): out of the
 * caches. The fold reads each one's record and a few of its fields; the record of the one a few
 * places ahead is fetched meanwhile. */
#define PREFETCH_AHEAD 8

static void prefetch_event(PyObject *event)
{
    const char *at = (const char *)event;
    __builtin_prefetch(at);
    __builtin_prefetch(at + 64);
    __builtin_prefetch(at + 128);
}

/* the field objects of an event whose record was fetched already */
static void prefetch_fields(PyObject *event)
{
    static PyObject **names[] = {&s_src_ip, &s_ts, &s_id, &s_cves};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        Slot *slot = slot_of(Py_TYPE(event), *names[i]);
        if (slot->offset > 0) {
            PyObject *value = *(PyObject **)((char *)event + slot->offset);
            if (value != NULL)
                __builtin_prefetch(value);
        }
    }
}

static PyObject *observe(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "observe(book, events)");
        return NULL;
    }
    if (EntryType == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_foldnative.configure was not called");
        return NULL;
    }
    Book b = {0};
    PyObject *sources = NULL, *it = NULL, *event;
    long long count = 0;
    int failed = load_book(args[0], &b) < 0;
    long long seq_before = b.evidence_seq;
    if (!failed && (sources = PyObject_GetAttr(args[0], s_sources)) == NULL)
        failed = 1;
    if (!failed && !PyDict_Check(sources)) {
        PyErr_SetString(PyExc_TypeError, "not an IndicatorBook");
        failed = 1;
    }
    if (!failed && (it = PyObject_GetIter(args[1])) == NULL)
        failed = 1;
    PyObject *list = PyList_CheckExact(args[1]) ? args[1] : NULL;
    while (!failed && (event = PyIter_Next(it)) != NULL) {
        if (list != NULL && count + PREFETCH_AHEAD < PyList_GET_SIZE(list))
            prefetch_event(PyList_GET_ITEM(list, count + PREFETCH_AHEAD));
        if (list != NULL && count + PREFETCH_AHEAD / 2 < PyList_GET_SIZE(list))
            prefetch_fields(PyList_GET_ITEM(list, count + PREFETCH_AHEAD / 2));
        count += 1;
        failed = fold_event(&b, sources, event) < 0;
        Py_DECREF(event);
    }
    if (!failed && PyErr_Occurred())
        failed = 1;
    Py_XDECREF(it);
    Py_XDECREF(sources);
    failed = finish_book(args[0], &b, seq_before, failed);
    return failed ? NULL : PyLong_FromLongLong(count);
}

/* add(book, type, value, role, weight, reason, at, posix, source, location, sensor, event_id, cves,
 * techniques): IndicatorBook._add, one sighting given whole (an imported indicator's) */
static PyObject *add_one(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 14 || !PyFloat_Check(args[4]) || !PyFloat_Check(args[7])) {
        PyErr_SetString(PyExc_TypeError, "add(book, type, value, role, weight: float, reason, at, posix: float, "
                                         "source, location, sensor, event_id, cves, techniques)");
        return NULL;
    }
    Book b = {0};
    int failed = load_book(args[0], &b) < 0;
    long long seq_before = b.evidence_seq;
    Sighted s = {args[6], args[9], args[10], args[11], args[12], args[13], args[8], PyFloat_AS_DOUBLE(args[7]),
                 date_key(args[6])};
    if (!failed)
        failed = add_sighting(&b, args[1], args[2], args[3], PyFloat_AS_DOUBLE(args[4]), args[5], &s) < 0;
    failed = finish_book(args[0], &b, seq_before, failed);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

/* book._upper_confidence(entry, now): the same float operations (see book.py) */
static int upper_confidence(Entry *e, double now, long *out)
{
    double weights = e->weights, slowest = e->slowest, last;
    if (posix_of(e->last_seen, &last) < 0)
        return -1;
    double age = now - last;
    if (age > 0.0 && slowest > 0.0)
        weights *= pow(2.0, -age / slowest);
    double decayed = exp(-weights);
    if (isinf(decayed)) {
        PyErr_SetString(PyExc_OverflowError, "math range error");
        return -1;
    }
    double bound = ceil(100.0 * (1.0 - decayed));
    if (isnan(bound) || bound < -1e15) { /* weights are sums of strengths (>= 0): never here */
        PyErr_SetString(PyExc_ValueError, "confidence bound out of range");
        return -1;
    }
    long above = (long)bound + 1;
    *out = above > 100 ? 100 : above;
    return 0;
}

/* The answer of a PolicyFloors (intel/floors.py) read from its tables: 1 or 0, -1 on error, or
 * -2 when they do not tell (a type it has no floor for yet, an odd table): then ask it. */
static int at_floor(PyObject *floors, PyObject *decided, PyObject *type, PyObject *value, long bound)
{
    if (!PyUnicode_CheckExact(type) || !PyUnicode_CheckExact(value))
        return -2; /* (exact str keys; an odd key in the tables may still run its __eq__: each
                    * borrowed answer is used before the next call, the set held across its test) */
    PyObject *floor = PyDict_GetItemWithError(floors, type);
    if (floor == NULL)
        return PyErr_Occurred() ? -1 : -2;
    if (!PyLong_CheckExact(floor))
        return -2;
    int overflow;
    long least = PyLong_AsLongAndOverflow(floor, &overflow);
    if (least == -1 && PyErr_Occurred())
        return -1;
    if (overflow != 0)
        return -2;
    if (bound >= least)
        return 1;
    PyObject *values = PyDict_GetItemWithError(decided, type);
    if (values == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (!PySet_CheckExact(values))
        return -2;
    Py_INCREF(values); /* an odd member's __eq__ may run code, and drop it from the table */
    int in = PySet_Contains(values, value);
    Py_DECREF(values);
    return in;
}

/* whether wanted(type, value, bound) holds for the entry (from the tables when given): 1, 0, -1 */
static int wants(Entry *entry, double now, PyObject *wanted, PyObject *floors, PyObject *decided)
{
    long bound;
    PyObject *call[3] = {Py_NewRef(entry->type), Py_NewRef(entry->value), NULL};
    int keep = -1;
    if (upper_confidence(entry, now, &bound) == 0) {
        keep = floors == NULL ? -2 : at_floor(floors, decided, call[0], call[1], bound);
        if (keep == -2 && (call[2] = PyLong_FromLong(bound)) != NULL) {
            PyObject *answer = PyObject_Vectorcall(wanted, call, 3, NULL);
            keep = answer == NULL ? -1 : PyObject_IsTrue(answer);
            Py_XDECREF(answer);
        }
        if (keep == -2)
            keep = -1;
    }
    Py_XDECREF(call[0]);
    Py_XDECREF(call[1]);
    Py_XDECREF(call[2]);
    return keep;
}

/* candidates(entries, now, wanted[, floors, decided]): clears each entry's touched mark; returns
 * those for which wanted(type, value, upper bound of the confidence at now) is true
 * (IndicatorBook.take_touched). With a PolicyFloors' tables (type -> floor, type -> set of
 * values), its answer is read from them, and wanted is asked only where they do not tell. */
static PyObject *candidates(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if ((nargs != 3 && nargs != 5) || !PyList_Check(args[0]) || !PyFloat_Check(args[1]) ||
        !PyCallable_Check(args[2]) || (nargs == 5 && (!PyDict_CheckExact(args[3]) || !PyDict_CheckExact(args[4])))) {
        PyErr_SetString(PyExc_TypeError, "candidates(entries: list, now: float, wanted[, floors: dict, decided: dict])");
        return NULL;
    }
    PyObject *entries = args[0], *wanted = args[2];
    PyObject *floors = nargs == 5 ? args[3] : NULL, *decided = nargs == 5 ? args[4] : NULL;
    double now = PyFloat_AS_DOUBLE(args[1]);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entries); i++) {
        if (!Py_IS_TYPE(PyList_GET_ITEM(entries, i), &EntryNativeType)) {
            PyErr_SetString(PyExc_TypeError, "candidates: the entries are the native book's records");
            return NULL;
        }
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entries); i++)
        ((Entry *)PyList_GET_ITEM(entries, i))->touched = 0;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    /* the tables held: wanted may run any code, and replace them */
    Py_XINCREF(floors);
    Py_XINCREF(decided);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entries); i++) {
        PyObject *entry = PyList_GET_ITEM(entries, i);
        Py_INCREF(entry); /* wanted may run any code, the list included */
        int keep = Py_IS_TYPE(entry, &EntryNativeType) ? wants((Entry *)entry, now, wanted, floors, decided) : -1;
        if (keep < 0 && !PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "candidates: the entries are the native book's records");
        if (keep == 1 && PyList_Append(out, entry) < 0)
            keep = -1;
        Py_DECREF(entry);
        if (keep < 0) {
            Py_CLEAR(out);
            break;
        }
    }
    Py_XDECREF(floors);
    Py_XDECREF(decided);
    return out;
}

static PyObject *configure(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *v[9];
    if (!PyArg_ParseTuple(args, "OOOOOOO!O!O:configure", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &PyDict_Type,
                          &v[6], &PyDict_Type, &v[7], &v[8]))
        return NULL;
    for (int i = 0; i < 4; i++) {
        if (!PyType_Check(v[i])) {
            PyErr_SetString(PyExc_TypeError, "configure: the first four arguments are types");
            return NULL;
        }
    }
    if (!PyAnySet_Check(v[8])) {
        PyErr_SetString(PyExc_TypeError, "configure: scan techniques must be a set");
        return NULL;
    }
    PyObject **slots[9] = {&EntryType, &SourceType,  &AccumulatorType, &SshLoginType,   &from_ioc,
                           &seen_in_py, &after_login, &unlabelled,      &scan_techniques};
    for (int i = 0; i < 9; i++) {
        Py_INCREF(v[i]);
        Py_XSETREF(*slots[i], v[i]);
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"observe", (PyCFunction)(void (*)(void))observe, METH_FASTCALL,
     "observe(book, events) -> int: IndicatorBook.observe_events, natively."},
    {"candidates", (PyCFunction)(void (*)(void))candidates, METH_FASTCALL,
     "candidates(entries, now, wanted[, floors, decided]) -> list: the touched entries whose confidence bound wanted "
     "accepts."},
    {"add", (PyCFunction)(void (*)(void))add_one, METH_FASTCALL,
     "add(book, type, value, role, weight, reason, at, posix, source, location, sensor, event_id, cves, "
     "techniques): IndicatorBook._add, natively."},
    {"configure", configure, METH_VARARGS,
     "configure(Entry, Source, Accumulator, SshLogin, from_ioc, seen_in, after_login, unlabelled, "
     "scan_techniques): the Python fold's record types and the sightings tables."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_foldnative", "The indicator book's fold, natively (see intel/book.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

static int intern(PyObject **slot, const char *text)
{
    *slot = PyUnicode_InternFromString(text);
    return *slot == NULL ? -1 : 0;
}

PyMODINIT_FUNC PyInit__foldnative(void)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL)
        return NULL;
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_kind, "kind"},
        {&s_cves, "cves"},
        {&s_techniques, "techniques"},
        {&s_rules, "rules"},
        {&s_iocs, "iocs"},
        {&s_src_ip, "src_ip"},
        {&s_sensor, "sensor"},
        {&s_location, "location"},
        {&s_id, "id"},
        {&s_ts, "ts"},
        {&s_body, "body"},
        {&s_success, "success"},
        {&s_method, "method"},
        {&s_username, "username"},
        {&s_type, "type"},
        {&s_value, "value"},
        {&s_role, "role"},
        {&s_entries, "_entries"},
        {&s_touched_list, "_touched"},
        {&s_sources, "_sources"},
        {&s_strengths, "_strengths"},
        {&s_half_lives, "_half_lives"},
        {&s_evidence_kept, "_evidence_kept"},
        {&s_evidence_seq, "_evidence_seq"},
        {&s_half_life_method, "_half_life"},
        {&s_names, "_names"},
        {&s_native_busy, "_native_busy"},
        {&s_timestamp, "timestamp"},
        {&s_at, "at"},
        {&c_ip, "ip"},
        {&c_exploiter, "exploiter"},
        {&c_exploit, "exploit"},
        {&c_post_exploit, "post-exploit"},
        {&c_bruteforcer, "bruteforcer"},
        {&c_login, "login"},
        {&c_bruteforce, "bruteforce"},
        {&c_scanner, "scanner"},
        {&c_scan, "scan"},
        {&c_technique, "technique"},
        {&c_probe, "probe"},
        {&c_ssh_login, "ssh.login"},
        {&c_download, "download"},
        {&c_upload, "upload"},
        {&c_comma, ", "},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (intern(names[i].slot, names[i].text) < 0)
            return NULL;
    if ((acc_kwnames = PyTuple_Pack(2, s_value, s_at)) == NULL || PyType_Ready(&EntryNativeType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module != NULL && PyModule_AddObjectRef(module, "Entry", (PyObject *)&EntryNativeType) < 0)
        Py_CLEAR(module);
    return module;
}
