/* The book's per-sighting update (IndicatorBook._add in intel/book.py) for the native fold:
 * included once, by _foldnative.c, after its names and helpers. */
/* ---- the book -------------------------------------------------------------------------------- */

typedef struct {
    PyObject *entries, *touched, *strengths, *half_lives, *names, *book;
    Py_ssize_t evidence_kept;
    long long evidence_seq;
    int guarded; /* marked busy by this call (load_book), unmarked by finish_book */
} Book;

typedef struct {
    PyObject *at, *location, *sensor, *event_id, *cves, *techniques, *source;
    double posix;
    DateKey at_key;
} Sighted;

/* book._half_life(type, role) as an owned object: the cached figure, else the method (which
 * caches it). ``or`` semantics: a missing or zero figure asks the method. */
static PyObject *half_life(Book *b, PyObject *type, PyObject *role)
{
    PyObject *by_role = PyDict_GetItemWithError(b->half_lives, type);
    if (by_role != NULL) {
        PyObject *found = PyDict_GetItemWithError(by_role, role);
        if (found != NULL) {
            int truth = PyObject_IsTrue(found);
            if (truth < 0)
                return NULL;
            if (truth) {
                Py_INCREF(found);
                return found;
            }
        }
    }
    if (PyErr_Occurred())
        return NULL;
    PyObject *args[3] = {b->book, type, role};
    return PyObject_VectorcallMethod(s_half_life_method, args, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

#define MAX_NAMES 4096 /* sensors, locations, CVEs and techniques are few; odd streams stop adding */

/* *name replaced by the book's first copy of that text (an exact str only): the entries' sets
 * then find their key by identity instead of comparing text they last read events ago (a cache
 * miss each), and the evidence shares one copy. */
static int canonical(Book *b, PyObject **name)
{
    if (!PyUnicode_CheckExact(*name))
        return 0;
    PyObject *found = PyDict_GetItemWithError(b->names, *name);
    if (found != NULL) {
        Py_INCREF(found);
        Py_SETREF(*name, found);
        return 0;
    }
    if (PyErr_Occurred())
        return -1;
    return PyDict_GET_SIZE(b->names) < MAX_NAMES ? PyDict_SetItem(b->names, *name, *name) : 0;
}

/* the book's record for (type, value), made (first and last seen at ``at``) when it has none */
static Entry *entry_for(Book *b, PyObject *type, PyObject *value, PyObject *at)
{
    PyObject *by_value = PyDict_GetItemWithError(b->entries, type);
    if (by_value == NULL) {
        if (PyErr_Occurred())
            return NULL;
        PyObject *fresh = PyDict_New();
        if (fresh == NULL)
            return NULL;
        int rc = PyDict_SetItem(b->entries, type, fresh);
        Py_DECREF(fresh);
        if (rc < 0)
            return NULL;
        by_value = fresh; /* borrowed: the book holds it */
    }
    PyObject *found = PyDict_GetItemWithError(by_value, value);
    if (found != NULL) {
        if (!Py_IS_TYPE(found, &EntryNativeType)) {
            PyErr_SetString(PyExc_TypeError, "the book holds a record the native fold did not make");
            return NULL;
        }
        return (Entry *)Py_NewRef(found);
    }
    if (PyErr_Occurred())
        return NULL;
    Entry *entry = entry_new(type, value, at);
    if (entry == NULL)
        return NULL;
    if (PyDict_SetItem(by_value, value, (PyObject *)entry) < 0) {
        Py_DECREF(entry);
        return NULL;
    }
    return entry;
}

/* _with(entry.<set>, values) when values is not empty: a set that was None (empty) is made only
 * when every value went in (as dict.fromkeys would be); an existing one keeps what went in before
 * an error (as the loop over it does). (A truthy ``values`` that yields nothing leaves it None
 * here where Python makes it {}: event lists are never such.) */
static int add_keys(Book *b, Keys *known, PyObject *values)
{
    int truth = PyObject_IsTrue(values);
    if (truth <= 0)
        return truth;
    Keys fresh = {0};
    int made = known->n > 0;
    Keys *into = made ? known : &fresh;
    PyObject *it = PyObject_GetIter(values);
    if (it == NULL)
        return -1;
    PyObject *item;
    int rc = 0;
    while (rc == 0 && (item = PyIter_Next(it)) != NULL) {
        rc = canonical(b, &item) < 0 || keys_put(into, item, 0) < 0 ? -1 : 0;
        Py_DECREF(item);
    }
    Py_DECREF(it);
    if (rc == 0 && PyErr_Occurred())
        rc = -1;
    if (!made) {
        if (rc == 0)
            *known = fresh;
        else
            keys_clear(&fresh);
    }
    return rc;
}

/* the half-life of (type, role) in seconds; -1 with the error (half-lives are positive) */
static double half_life_seconds(Book *b, PyObject *type, PyObject *role)
{
    PyObject *hl = half_life(b, type, role);
    if (hl == NULL)
        return -1.0;
    double seconds = PyFloat_AsDouble(hl);
    Py_DECREF(hl);
    return seconds;
}

/* the source's sum for the role (the Accumulator.add of IndicatorBook._add, inline) */
static int add_to_sum(Book *b, Entry *e, PyObject *type, PyObject *role, double weight, Sighted *s)
{
    Py_ssize_t t = keys_put(&e->tallies, s->source, sizeof(Keys));
    if (t < 0)
        return -1;
    Keys *roles = &((Keys *)e->tallies.vals)[t];
    Py_ssize_t r = keys_find(roles, role);
    if (r == -2)
        return -1;
    if (r == -1) { /* a new sum: nothing to decay yet */
        if ((r = keys_add(roles, role, sizeof(Sum))) < 0)
            return -1;
        ((Sum *)roles->vals)[r] = (Sum){weight, s->posix};
        double seconds = half_life_seconds(b, type, role);
        if (seconds == -1.0 && PyErr_Occurred())
            return -1;
        if (seconds > e->slowest)
            e->slowest = seconds;
        return 0;
    }
    Sum *sum = &((Sum *)roles->vals)[r];
    if (s->posix <= sum->at) { /* not newer than the sum: added without decay */
        sum->value += weight;
        return 0;
    }
    double seconds = half_life_seconds(b, type, role); /* (may run Python code: the record is busy) */
    if (seconds == -1.0 && PyErr_Occurred())
        return -1;
    if (seconds == 0.0) { /* as Python's division would */
        PyErr_SetString(PyExc_ZeroDivisionError, "float division by zero");
        return -1;
    }
    double factor = pow(2.0, (sum->at - s->posix) / seconds);
    if (isinf(factor)) { /* as math.pow raises (a negative half-life) */
        PyErr_SetString(PyExc_OverflowError, "math range error");
        return -1;
    }
    sum->value = sum->value * factor + weight;
    sum->at = s->posix;
    return 0;
}

/* the evidence heap: the sighting goes in unless the heap is full of stronger (or as strong and
 * newer) items */
static int add_evidence(Book *b, Entry *e, double weight, PyObject *reason, Sighted *s)
{
    int full = e->n_evidence >= b->evidence_kept;
    if (full) { /* the cheap test first: most sightings of a busy indicator add no evidence */
        if (e->n_evidence == 0) {
            PyErr_SetString(PyExc_IndexError, "list index out of range");
            return -1;
        }
        Evidence *weakest = &e->evidence[0];
        if (weight < weakest->weight)
            return 0;
        if (weight == weakest->weight) {
            int older = date_compare(s->at, s->at_key, weakest->at, weakest->at_key, Py_LE);
            if (older != 0)
                return older < 0 ? -1 : 0;
        }
    } else if (e->n_evidence == e->cap_evidence) {
        Py_ssize_t cap = e->cap_evidence ? e->cap_evidence * 2 : 4;
        if (grow_block((void **)&e->evidence, (size_t)cap * sizeof(Evidence)) < 0)
            return -1;
        e->cap_evidence = cap;
    }
    b->evidence_seq += 1;
    Evidence item = {weight,
                     b->evidence_seq,
                     s->at_key,
                     Py_NewRef(s->at),
                     Py_NewRef(reason),
                     Py_NewRef(s->event_id),
                     Py_NewRef(s->sensor),
                     Py_NewRef(s->location),
                     Py_NewRef(s->source)};
    if (!full) {
        e->evidence[e->n_evidence++] = item;
        return sift_down(e->evidence, e->n_evidence - 1);
    }
    Evidence weakest = e->evidence[0];
    e->evidence[0] = item;
    int rc = sift_up(e->evidence, e->n_evidence);
    evidence_clear(&weakest);
    return rc;
}

/* *seen moved to the sighting's time when that time is <op> it */
static int move_seen(PyObject **seen, DateKey *key, Sighted *s, int op)
{
    int moves = date_compare(s->at, s->at_key, *seen, *key, op);
    if (moves > 0) {
        Py_SETREF(*seen, Py_NewRef(s->at));
        *key = s->at_key;
    }
    return moves < 0 ? -1 : 0;
}

/* at < first_seen, at > last_seen: moved */
static int widen_seen(Entry *e, Sighted *s)
{
    if (move_seen(&e->first_seen, &e->first_key, s, Py_LT) < 0)
        return -1;
    return move_seen(&e->last_seen, &e->last_key, s, Py_GT);
}

/* IndicatorBook._add: one sighting of (type, value) in a role, with its strength and reason */
static int add_sighting(Book *b, PyObject *type, PyObject *value, PyObject *role, double weight, PyObject *reason,
                        Sighted *s)
{
    Entry *e = entry_for(b, type, value, s->at);
    if (e == NULL)
        return -1;
    if (e->busy) { /* (the book's own guard keeps folds from nesting: only a read can be under way) */
        PyErr_SetString(PyExc_RuntimeError, "an indicator's record was updated while it was being read");
        Py_DECREF(e);
        return -1;
    }
    e->busy = 1; /* comparisons and hashes may run Python code: it may not change this record */
    int rc = -1;
    if (!e->touched) {
        e->touched = 1;
        if (PyList_Append(b->touched, (PyObject *)e) < 0)
            goto out;
    }
    if (widen_seen(e, s) < 0)
        goto out;
    e->sightings += 1;
    e->weights += weight;
    if (add_keys(b, &e->cves, s->cves) < 0 || add_keys(b, &e->techniques, s->techniques) < 0)
        goto out;
    if (keys_put(&e->roles, role, 0) < 0)
        goto out;
    int truth = PyObject_IsTrue(s->sensor);
    if (truth < 0 || (truth && keys_put(&e->sensors, s->sensor, 0) < 0))
        goto out;
    truth = PyObject_IsTrue(s->location);
    if (truth < 0 || (truth && keys_put(&e->locations, s->location, 0) < 0))
        goto out;
    if (add_to_sum(b, e, type, role, weight, s) < 0)
        goto out;
    rc = add_evidence(b, e, weight, reason, s);
out:
    e->busy = 0;
    Py_DECREF(e);
    return rc;
}

/* one sighting (type, value, role, behaviour, reason) of an event */
static int add(Book *b, PyObject *seen, Sighted *s)
{
    if (!PyTuple_Check(seen) || PyTuple_GET_SIZE(seen) != 5) {
        PyErr_SetString(PyExc_TypeError, "a sighting is a 5-tuple");
        return -1;
    }
    PyObject *weight_obj = PyDict_GetItemWithError(b->strengths, PyTuple_GET_ITEM(seen, 3));
    if (weight_obj == NULL && PyErr_Occurred())
        return -1;
    double weight = 0.0;
    if (weight_obj != NULL) {
        Py_INCREF(weight_obj); /* a borrowed value could go if its __float__ ran Python code */
        weight = PyFloat_AsDouble(weight_obj);
        Py_DECREF(weight_obj);
        if (weight == -1.0 && PyErr_Occurred())
            return -1;
    }
    return add_sighting(b, PyTuple_GET_ITEM(seen, 0), PyTuple_GET_ITEM(seen, 1), PyTuple_GET_ITEM(seen, 2), weight,
                        PyTuple_GET_ITEM(seen, 4), s);
}
