/* The native book's record of one indicator (IndicatorBook's _Entry, intel/book.py) for
 * _foldnative.c: included once, after its names and helpers.
 *
 * Why its own layout: a sighting of a known indicator updated some thirty Python objects (the
 * entry, its dicts of roles, sensors and locations, its tallies, sums and evidence tuples), each a
 * cache miss in a large book; the fold was bound by memory. Here the counters and sums are C
 * fields of one struct, the small sets are arrays of their keys, and the evidence heap is an
 * array of C items ordered by C comparisons. Its Python form (the _Entry the Python fold keeps)
 * is built on demand by record(), for the book's readers; the tests hold the two equal.
 *
 * An Entry holds only what an event's fields hold (strings, datetimes, ints, floats): it is not
 * tracked by the garbage collector (an odd event whose fields are containers referring back to the
 * book could only leak, never be freed while in use). */

/* ---- datetimes compared in C --------------------------------------------------------------- */

/* (DateKey and date_key: _foldnative.c, beside posix_of) */

/* a <op> b for datetimes (Py_LT, Py_LE, Py_GT, Py_EQ): 1, 0, or -1 with the comparison's error */
static int date_compare(PyObject *a, DateKey ka, PyObject *b, DateKey kb, int op)
{
    if (!(ka.exact && kb.exact))
        return PyObject_RichCompareBool(a, b, op);
    switch (op) {
    case Py_LT:
        return ka.us < kb.us;
    case Py_LE:
        return ka.us <= kb.us;
    case Py_GT:
        return ka.us > kb.us;
    default:
        return ka.us == kb.us;
    }
}

/* ---- keyed arrays: an entry's small sets and tables ---------------------------------------- */

/* Keys in insertion order (a dict's order), each with a payload of val_size bytes (zeroed when
 * added). Found as a dict finds them: identity, else the hash it had when added equal and ==;
 * past INDEX_FROM keys through a dict of key -> position. */
#define INDEX_FROM 8

typedef struct {
    PyObject **keys; /* owned */
    Py_hash_t *hashes;
    char *vals;
    Py_ssize_t n, cap;
    PyObject *index; /* key -> position, once n > INDEX_FROM */
    int mixed;       /* some key is not an exact str */
} Keys;

static int same_text(PyObject *a, PyObject *b)
{
    Py_ssize_t length = PyUnicode_GET_LENGTH(a);
    return length == PyUnicode_GET_LENGTH(b) && PyUnicode_KIND(a) == PyUnicode_KIND(b) &&
           memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)length * PyUnicode_KIND(a)) == 0;
}

/* a dict's lookup over the keys, the generic way: hash, then == (which may run Python code; the
 * record is busy meanwhile: nothing changes the keys) */
static Py_ssize_t keys_find_slow(Keys *k, PyObject *key)
{
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1)
        return -2;
    for (Py_ssize_t i = 0; i < k->n; i++) {
        PyObject *known = k->keys[i];
        if (k->hashes[i] != hash)
            continue;
        Py_INCREF(known);
        int equal = PyObject_RichCompareBool(known, key, Py_EQ);
        Py_DECREF(known);
        if (equal != 0)
            return equal < 0 ? -2 : i;
    }
    return -1;
}

/* the key's position; -1 when absent, -2 on error */
static Py_ssize_t keys_find(Keys *k, PyObject *key)
{
    if (k->index != NULL) {
        PyObject *at = PyDict_GetItemWithError(k->index, key);
        if (at == NULL)
            return PyErr_Occurred() ? -2 : -1;
        return PyLong_AsSsize_t(at);
    }
    for (Py_ssize_t i = 0; i < k->n; i++)
        if (k->keys[i] == key)
            return i;
    if (!PyUnicode_CheckExact(key) || k->mixed)
        return keys_find_slow(k, key);
    for (Py_ssize_t i = 0; i < k->n; i++)
        if (same_text(k->keys[i], key))
            return i;
    return -1;
}

/* *block reallocated to size bytes; -1 with MemoryError (the block unchanged) */
static int grow_block(void **block, size_t size)
{
    void *grown = PyMem_Realloc(*block, size);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *block = grown;
    return 0;
}

static int keys_index(Keys *k)
{
    PyObject *index = PyDict_New();
    if (index == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < k->n; i++) {
        PyObject *at = PyLong_FromSsize_t(i);
        int rc = at == NULL ? -1 : PyDict_SetItem(index, k->keys[i], at);
        Py_XDECREF(at);
        if (rc < 0) {
            Py_DECREF(index);
            return -1;
        }
    }
    k->index = index;
    return 0;
}

/* appends key (absent) with a zeroed payload: its position, or -1 on error (nothing added) */
static Py_ssize_t keys_add(Keys *k, PyObject *key, size_t val_size)
{
    Py_hash_t hash = PyObject_Hash(key); /* (an exact str's is cached: it was looked up already) */
    if (hash == -1)
        return -1;
    if (k->n == k->cap) {
        size_t cap = k->cap ? (size_t)k->cap * 2 : 1;
        if (grow_block((void **)&k->keys, cap * sizeof(PyObject *)) < 0 ||
            grow_block((void **)&k->hashes, cap * sizeof(Py_hash_t)) < 0 ||
            (val_size && grow_block((void **)&k->vals, cap * val_size) < 0))
            return -1; /* (the blocks grown so far stay: cap still tells their common size) */
        k->cap = (Py_ssize_t)cap;
    }
    Py_ssize_t at = k->n;
    if (k->index != NULL) {
        PyObject *position = PyLong_FromSsize_t(at);
        int rc = position == NULL ? -1 : PyDict_SetItem(k->index, key, position);
        Py_XDECREF(position);
        if (rc < 0)
            return -1;
    }
    k->keys[at] = Py_NewRef(key);
    k->hashes[at] = hash;
    if (val_size)
        memset(k->vals + (size_t)at * val_size, 0, val_size);
    k->mixed |= !PyUnicode_CheckExact(key);
    k->n += 1;
    if (k->n > INDEX_FROM && k->index == NULL && keys_index(k) < 0)
        PyErr_Clear(); /* (found by scanning until an index can be made) */
    return at;
}

/* adds key if absent: its position, or -1 on error */
static Py_ssize_t keys_put(Keys *k, PyObject *key, size_t val_size)
{
    Py_ssize_t at = keys_find(k, key);
    if (at == -2)
        return -1;
    return at >= 0 ? at : keys_add(k, key, val_size);
}

static void keys_clear(Keys *k)
{
    for (Py_ssize_t i = 0; i < k->n; i++)
        Py_DECREF(k->keys[i]);
    PyMem_Free(k->keys);
    PyMem_Free(k->hashes);
    PyMem_Free(k->vals);
    Py_CLEAR(k->index);
    memset(k, 0, sizeof *k);
}

/* {key: None, ...} in order */
static PyObject *keys_dict(Keys *k)
{
    PyObject *out = PyDict_New();
    for (Py_ssize_t i = 0; out != NULL && i < k->n; i++)
        if (PyDict_SetItem(out, k->keys[i], Py_None) < 0)
            Py_CLEAR(out);
    return out;
}

/* ---- the record ---------------------------------------------------------------------------- */

typedef struct {
    double value, at; /* an Accumulator: the sum, and the POSIX time it is as of */
} Sum;

/* (strength, at, tie-breaker, reason, event_id, sensor, location, source), as the Python fold's
 * evidence tuples */
typedef struct {
    double weight;
    long long seq;
    DateKey at_key;
    PyObject *at, *reason, *event_id, *sensor, *location, *source;
} Evidence;

typedef struct {
    PyObject_HEAD
    PyObject *type, *value, *id;
    PyObject *first_seen, *last_seen;
    DateKey first_key, last_key;
    long long sightings;
    double weights, slowest;
    char touched, allowlisted;
    char busy; /* being updated or read out: Python code run meanwhile may not change it */
    Keys roles, sensors, locations, cves, techniques; /* cves, techniques: None while empty */
    Keys tallies; /* by source; each payload a Keys of the source's roles, each payload a Sum */
    Evidence *evidence;
    Py_ssize_t n_evidence, cap_evidence;
} Entry;

static PyTypeObject EntryNativeType;

static Entry *entry_new(PyObject *type, PyObject *value, PyObject *at)
{
    Entry *e = PyObject_New(Entry, &EntryNativeType);
    if (e == NULL)
        return NULL;
    memset((char *)e + sizeof(PyObject), 0, sizeof(Entry) - sizeof(PyObject));
    e->type = Py_NewRef(type);
    e->value = Py_NewRef(value);
    e->id = Py_NewRef(Py_None);
    e->first_seen = Py_NewRef(at);
    e->last_seen = Py_NewRef(at);
    e->first_key = e->last_key = date_key(at);
    return e;
}

static void evidence_clear(Evidence *item)
{
    Py_XDECREF(item->at);
    Py_XDECREF(item->reason);
    Py_XDECREF(item->event_id);
    Py_XDECREF(item->sensor);
    Py_XDECREF(item->location);
    Py_XDECREF(item->source);
}

static void entry_dealloc(Entry *e)
{
    Py_XDECREF(e->type);
    Py_XDECREF(e->value);
    Py_XDECREF(e->id);
    Py_XDECREF(e->first_seen);
    Py_XDECREF(e->last_seen);
    keys_clear(&e->roles);
    keys_clear(&e->sensors);
    keys_clear(&e->locations);
    keys_clear(&e->cves);
    keys_clear(&e->techniques);
    for (Py_ssize_t i = 0; i < e->tallies.n; i++)
        keys_clear(&((Keys *)e->tallies.vals)[i]);
    keys_clear(&e->tallies);
    for (Py_ssize_t i = 0; i < e->n_evidence; i++)
        evidence_clear(&e->evidence[i]);
    PyMem_Free(e->evidence);
    PyObject_Free(e);
}

/* ---- the evidence heap: heapq's algorithm over (weight, at, seq) ----------------------------- */

/* The items' datetimes are borrowed by the comparisons: the record is busy while they run, so no
 * item leaves the heap, nor the heap its array, until they return. */

/* a < b as the tuples compare: 1, 0, -1 on error (seqs differ: nothing after them is read) */
static int evidence_lt(Evidence *a, Evidence *b)
{
    if (a->weight != b->weight)
        return a->weight < b->weight;
    if (a->at != b->at) {
        int equal = date_compare(a->at, a->at_key, b->at, b->at_key, Py_EQ);
        if (equal < 0)
            return -1;
        if (!equal)
            return date_compare(a->at, a->at_key, b->at, b->at_key, Py_LT);
    }
    return a->seq < b->seq;
}

/* heapq._siftdown: the item at pos moves up past every parent it is less than */
static int sift_down(Evidence *heap, Py_ssize_t pos)
{
    while (pos > 0) {
        Py_ssize_t parent = (pos - 1) >> 1;
        int less = evidence_lt(&heap[pos], &heap[parent]);
        if (less < 0)
            return -1;
        if (!less)
            break;
        Evidence swap = heap[parent];
        heap[parent] = heap[pos];
        heap[pos] = swap;
        pos = parent;
    }
    return 0;
}

/* heapq._siftup from the root: the smaller child moves up to a leaf, then the item sifts down */
static int sift_up(Evidence *heap, Py_ssize_t end)
{
    Py_ssize_t pos = 0, limit = end >> 1;
    while (pos < limit) {
        Py_ssize_t child = 2 * pos + 1;
        if (child + 1 < end) {
            int less = evidence_lt(&heap[child], &heap[child + 1]);
            if (less < 0)
                return -1;
            child += !less;
        }
        Evidence swap = heap[child];
        heap[child] = heap[pos];
        heap[pos] = swap;
        pos = child;
    }
    return sift_down(heap, pos);
}

/* ---- its Python form ------------------------------------------------------------------------- */

static PyObject *evidence_tuple(Evidence *item)
{
    PyObject *weight = PyFloat_FromDouble(item->weight);
    PyObject *seq = weight ? PyLong_FromLongLong(item->seq) : NULL;
    PyObject *out = seq ? PyTuple_Pack(8, weight, item->at, seq, item->reason, item->event_id, item->sensor,
                                       item->location, item->source)
                        : NULL;
    Py_XDECREF(weight);
    Py_XDECREF(seq);
    return out;
}

static PyObject *evidence_list(Entry *e)
{
    PyObject *out = PyList_New(e->n_evidence);
    for (Py_ssize_t i = 0; out != NULL && i < e->n_evidence; i++) {
        PyObject *item = evidence_tuple(&e->evidence[i]);
        if (item == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, i, item);
    }
    return out;
}

/* {role: Accumulator(value=..., at=...)} of one source */
static PyObject *sums_dict(Keys *roles)
{
    PyObject *out = PyDict_New();
    for (Py_ssize_t i = 0; out != NULL && i < roles->n; i++) {
        Sum *sum = &((Sum *)roles->vals)[i];
        PyObject *args[2] = {PyFloat_FromDouble(sum->value), PyFloat_FromDouble(sum->at)};
        PyObject *acc = args[0] && args[1] ? PyObject_Vectorcall(AccumulatorType, args, 0, acc_kwnames) : NULL;
        Py_XDECREF(args[0]);
        Py_XDECREF(args[1]);
        if (acc == NULL || PyDict_SetItem(out, roles->keys[i], acc) < 0)
            Py_CLEAR(out);
        Py_XDECREF(acc);
    }
    return out;
}

static PyObject *tallies_dict(Entry *e)
{
    PyObject *out = PyDict_New();
    for (Py_ssize_t i = 0; out != NULL && i < e->tallies.n; i++) {
        PyObject *roles = sums_dict(&((Keys *)e->tallies.vals)[i]);
        PyObject *tally = roles ? PyObject_CallOneArg(SourceType, roles) : NULL;
        Py_XDECREF(roles);
        if (tally == NULL || PyDict_SetItem(out, e->tallies.keys[i], tally) < 0)
            Py_CLEAR(out);
        Py_XDECREF(tally);
    }
    return out;
}

/* Entry.record(evidence=True): the _Entry the Python fold would hold (its evidence left empty
 * when not wanted: the defense loop decides without it) */
static PyObject *entry_record(Entry *e, PyObject *const *args, Py_ssize_t nargs)
{
    int evidence = nargs == 0 ? 1 : nargs == 1 ? PyObject_IsTrue(args[0]) : -1;
    if (evidence < 0) {
        if (nargs > 1)
            PyErr_SetString(PyExc_TypeError, "record(evidence=True)");
        return NULL;
    }
    if (EntryType == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_foldnative.configure was not called");
        return NULL;
    }
    if (e->busy) {
        PyErr_SetString(PyExc_RuntimeError, "an indicator's record was read while it was being updated");
        return NULL;
    }
    e->busy = 1; /* building it may run Python code (an odd key's hash): nothing may change it */
    PyObject *v[17] = {NULL};
    v[0] = Py_NewRef(e->type);
    v[1] = Py_NewRef(e->value);
    v[2] = Py_NewRef(e->first_seen);
    v[3] = Py_NewRef(e->last_seen);
    v[4] = Py_NewRef(e->id);
    v[5] = PyLong_FromLongLong(e->sightings);
    v[6] = keys_dict(&e->roles);
    v[7] = keys_dict(&e->sensors);
    v[8] = keys_dict(&e->locations);
    v[9] = e->cves.n ? keys_dict(&e->cves) : Py_NewRef(Py_None);
    v[10] = e->techniques.n ? keys_dict(&e->techniques) : Py_NewRef(Py_None);
    v[11] = tallies_dict(e);
    v[12] = evidence ? evidence_list(e) : PyList_New(0);
    v[13] = Py_NewRef(e->allowlisted ? Py_True : Py_False);
    v[14] = Py_NewRef(e->touched ? Py_True : Py_False);
    v[15] = PyFloat_FromDouble(e->weights);
    v[16] = PyFloat_FromDouble(e->slowest);
    PyObject *out = NULL;
    int complete = 1;
    for (int i = 0; i < 17; i++)
        complete &= v[i] != NULL;
    if (complete)
        out = PyObject_Vectorcall(EntryType, v, 17, NULL);
    for (int i = 0; i < 17; i++)
        Py_XDECREF(v[i]);
    e->busy = 0;
    return out;
}

/* Entry(type, value, at): a new record, first and last seen at ``at`` (IndicatorBook._entry) */
static PyObject *entry_tp_new(PyTypeObject *Py_UNUSED(cls), PyObject *args, PyObject *kwargs)
{
    PyObject *type, *value, *at;
    static char *keywords[] = {"type", "value", "at", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO:Entry", keywords, &type, &value, &at))
        return NULL;
    return (PyObject *)entry_new(type, value, at);
}

static PyObject *entry_get_object(Entry *e, void *offset)
{
    return Py_NewRef(*(PyObject **)((char *)e + (size_t)offset));
}

static PyObject *entry_get_flag(Entry *e, void *offset)
{
    return PyBool_FromLong(*((char *)e + (size_t)offset));
}

static int entry_set_flag(Entry *e, PyObject *value, void *offset)
{
    int truth = value == NULL ? -1 : PyObject_IsTrue(value);
    if (value == NULL)
        PyErr_SetString(PyExc_AttributeError, "cannot delete the attribute");
    if (truth < 0)
        return -1;
    *((char *)e + (size_t)offset) = (char)truth;
    return 0;
}

static int entry_set_id(Entry *e, PyObject *value, void *Py_UNUSED(closure))
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete the attribute");
        return -1;
    }
    if (value != Py_None && !PyUnicode_Check(value)) { /* (nothing that could refer back to it) */
        PyErr_SetString(PyExc_TypeError, "an indicator's id is a str or None");
        return -1;
    }
    Py_SETREF(e->id, Py_NewRef(value));
    return 0;
}

#define ENTRY_OBJECT(name) (void *)offsetof(Entry, name)
static PyGetSetDef entry_getset[] = {
    {"type", (getter)entry_get_object, NULL, "the indicator's type", ENTRY_OBJECT(type)},
    {"value", (getter)entry_get_object, NULL, "the indicator's value", ENTRY_OBJECT(value)},
    {"id", (getter)entry_get_object, (setter)entry_set_id, "indicator_id, once read", ENTRY_OBJECT(id)},
    {"touched", (getter)entry_get_flag, (setter)entry_set_flag, "listed in the book's touched list",
     ENTRY_OBJECT(touched)},
    {"allowlisted", (getter)entry_get_flag, (setter)entry_set_flag, "allowlisted", ENTRY_OBJECT(allowlisted)},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef entry_methods[] = {
    {"record", (PyCFunction)(void (*)(void))entry_record, METH_FASTCALL,
     "record(evidence=True) -> _Entry: this record in the Python fold's form (without evidence: an empty list)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EntryNativeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "honeyguard.intel._foldnative.Entry",
    .tp_basicsize = sizeof(Entry),
    .tp_dealloc = (destructor)entry_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One indicator's record in the native book (read it through record()).",
    .tp_new = entry_tp_new,
    .tp_getset = entry_getset,
    .tp_methods = entry_methods,
};
