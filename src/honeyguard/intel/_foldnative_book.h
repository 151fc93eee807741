/* The book's per-sighting update (IndicatorBook._add in intel/book.py) for the native fold:
 * included once, by _foldnative.c, after its names and helpers. */
/* ---- the book -------------------------------------------------------------------------------- */

typedef struct {
    PyObject *entries, *touched, *strengths, *half_lives, *names, *book;
    Py_ssize_t evidence_kept;
    long long evidence_seq;
} Book;

typedef struct {
    PyObject *at, *location, *sensor, *event_id, *cves, *techniques, *source;
    double posix;
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

static PyObject *entry_for(Book *b, PyObject *type, PyObject *value, PyObject *at)
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
    PyObject *entry = PyDict_GetItemWithError(by_value, value);
    if (entry != NULL) {
        Py_INCREF(entry);
        return entry;
    }
    if (PyErr_Occurred())
        return NULL;
    PyObject *args[4] = {type, value, at, at};
    entry = PyObject_Vectorcall(EntryType, args, 4, NULL);
    if (entry == NULL)
        return NULL;
    if (PyDict_SetItem(by_value, value, entry) < 0) {
        Py_DECREF(entry);
        return NULL;
    }
    return entry;
}

/* _with(entry.<name>, values) when values is not empty */
static int add_keys(PyObject *entry, PyObject *name, PyObject *values)
{
    int truth = PyObject_IsTrue(values);
    if (truth <= 0)
        return truth;
    PyObject *known = field(entry, name);
    if (known == NULL)
        return -1;
    if (known == Py_None) {
        Py_DECREF(known);
        known = PyDict_New();
        if (known == NULL)
            return -1;
    }
    PyObject *it = PyObject_GetIter(values);
    if (it == NULL) {
        Py_DECREF(known);
        return -1;
    }
    PyObject *item;
    int rc = 0;
    while ((item = PyIter_Next(it)) != NULL) {
        rc = PyObject_SetItem(known, item, Py_None);
        Py_DECREF(item);
        if (rc < 0)
            break;
    }
    Py_DECREF(it);
    if (rc == 0 && PyErr_Occurred())
        rc = -1;
    if (rc == 0)
        rc = PyObject_SetAttr(entry, name, known);
    Py_DECREF(known);
    return rc;
}

static int mark_in(PyObject *entry, PyObject *name, PyObject *key)
{
    PyObject *d = field(entry, name);
    if (d == NULL)
        return -1;
    int rc = PyDict_CheckExact(d) ? PyDict_SetItem(d, key, Py_None) : PyObject_SetItem(d, key, Py_None);
    Py_DECREF(d);
    return rc;
}

static int update_sum(Book *b, PyObject *acc, PyObject *type, PyObject *role, PyObject *weight_obj, double weight,
                      Sighted *s);

/* the role's decaying sum (the Accumulator.add of IndicatorBook._add, inline) */
static int add_to_sum(Book *b, PyObject *entry, PyObject *type, PyObject *role, PyObject *weight_obj, double weight,
                      Sighted *s)
{
    PyObject *tallies = field(entry, s_tallies);
    if (tallies == NULL)
        return -1;
    PyObject *tally = PyDict_GetItemWithError(tallies, s->source);
    if (tally == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(tallies);
            return -1;
        }
        PyObject *fresh = PyDict_New();
        if (fresh == NULL) {
            Py_DECREF(tallies);
            return -1;
        }
        tally = PyObject_CallOneArg(SourceType, fresh);
        Py_DECREF(fresh);
        if (tally == NULL || PyDict_SetItem(tallies, s->source, tally) < 0) {
            Py_XDECREF(tally);
            Py_DECREF(tallies);
            return -1;
        }
        Py_DECREF(tally); /* borrowed from here on: the tallies hold it */
    }
    PyObject *roles = field(tally, s_roles);
    Py_DECREF(tallies);
    if (roles == NULL)
        return -1;
    int rc = -1;
    PyObject *acc = PyDict_GetItemWithError(roles, role);
    if (acc == NULL) {
        if (PyErr_Occurred())
            goto done;
        PyObject *at = PyFloat_FromDouble(s->posix);
        if (at == NULL)
            goto done;
        PyObject *args[2] = {weight_obj, at};
        PyObject *fresh = PyObject_Vectorcall(AccumulatorType, args, 0, acc_kwnames);
        Py_DECREF(at);
        if (fresh == NULL)
            goto done;
        int set = PyDict_SetItem(roles, role, fresh);
        Py_DECREF(fresh);
        if (set < 0)
            goto done;
        PyObject *hl = half_life(b, type, role);
        if (hl == NULL)
            goto done;
        PyObject *slowest = field(entry, s_slowest);
        int faster = slowest ? PyObject_RichCompareBool(hl, slowest, Py_GT) : -1;
        Py_XDECREF(slowest);
        if (faster == 1)
            faster = PyObject_SetAttr(entry, s_slowest, hl) < 0 ? -1 : 1;
        Py_DECREF(hl);
        rc = faster < 0 ? -1 : 0;
        goto done;
    }
    Py_INCREF(acc); /* held across the half-life lookup, which may run Python code */
    rc = update_sum(b, acc, type, role, weight_obj, weight, s);
    Py_DECREF(acc);
done:
    Py_DECREF(roles);
    return rc;
}

/* an existing sum: set (it had none), added without decay (not newer), or decayed then added */
static int update_sum(Book *b, PyObject *acc, PyObject *type, PyObject *role, PyObject *weight_obj, double weight,
                      Sighted *s)
{
    int rc = -1;
    PyObject *last_obj = field(acc, s_at);
    if (last_obj == NULL)
        goto done;
    if (last_obj == Py_None) {
        Py_DECREF(last_obj);
        if (PyObject_SetAttr(acc, s_value, weight_obj) < 0 || set_double(acc, s_at, s->posix) < 0)
            goto done;
        rc = 0;
        goto done;
    }
    double last = PyFloat_AsDouble(last_obj);
    Py_DECREF(last_obj);
    if (last == -1.0 && PyErr_Occurred())
        goto done;
    double sum;
    if (get_double(acc, s_value, &sum) < 0)
        goto done;
    if (s->posix <= last) { /* not newer than the sum: added without decay */
        rc = set_double(acc, s_value, sum + weight);
        goto done;
    }
    PyObject *hl = half_life(b, type, role);
    if (hl == NULL)
        goto done;
    double seconds = PyFloat_AsDouble(hl);
    Py_DECREF(hl);
    if (seconds == -1.0 && PyErr_Occurred())
        goto done;
    if (seconds == 0.0) { /* as Python's division would */
        PyErr_SetString(PyExc_ZeroDivisionError, "float division by zero");
        goto done;
    }
    double factor = pow(2.0, (last - s->posix) / seconds);
    if (set_double(acc, s_value, sum * factor + weight) < 0 || set_double(acc, s_at, s->posix) < 0)
        goto done;
    rc = 0;
done:
    return rc;
}

/* An evidence item holds floats, datetimes, ints and strings: nothing that can refer back to it.
 * The collector's first pass over it would untrack it (as it does every such tuple); untracked now,
 * the items (most of what the book allocates) never load a pass at all. Kept tracked when any
 * part is a tracked container (an odd event's fields). */
static void untrack_if_atomic(PyObject *item)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(item); i++)
        if (PyObject_GC_IsTracked(PyTuple_GET_ITEM(item, i)))
            return;
    PyObject_GC_UnTrack(item);
}

/* the evidence heap: the sighting goes in unless the heap is full of stronger (or as strong and
 * newer) items */
static int add_evidence(Book *b, PyObject *entry, PyObject *weight_obj, double weight, PyObject *reason, Sighted *s)
{
    PyObject *kept = field(entry, s_evidence);
    if (kept == NULL)
        return -1;
    int rc = -1;
    Py_ssize_t size = PyObject_Length(kept);
    if (size < 0)
        goto done;
    int full = size >= b->evidence_kept;
    if (full) {
        PyObject *weakest = PySequence_GetItem(kept, 0);
        if (weakest == NULL)
            goto done;
        PyObject *w = PySequence_GetItem(weakest, 0);
        double low = w ? PyFloat_AsDouble(w) : -1.0;
        Py_XDECREF(w);
        if (w == NULL || (low == -1.0 && PyErr_Occurred())) {
            Py_DECREF(weakest);
            goto done;
        }
        int skip = weight < low;
        if (!skip && weight == low) {
            PyObject *when = PySequence_GetItem(weakest, 1);
            skip = when ? PyObject_RichCompareBool(s->at, when, Py_LE) : -1;
            Py_XDECREF(when);
        }
        Py_DECREF(weakest);
        if (skip < 0)
            goto done;
        if (skip) {
            rc = 0;
            goto done;
        }
    }
    b->evidence_seq += 1;
    PyObject *seq = PyLong_FromLongLong(b->evidence_seq);
    if (seq == NULL)
        goto done;
    PyObject *item = PyTuple_Pack(8, weight_obj, s->at, seq, reason, s->event_id, s->sensor, s->location, s->source);
    Py_DECREF(seq);
    if (item == NULL)
        goto done;
    untrack_if_atomic(item);
    PyObject *args[2] = {kept, item};
    PyObject *out = PyObject_Vectorcall(full ? heapreplace : heappush, args, 2, NULL);
    Py_DECREF(item);
    if (out == NULL)
        goto done;
    Py_DECREF(out);
    rc = 0;
done:
    Py_DECREF(kept);
    return rc;
}

static int compare_set(PyObject *entry, PyObject *name, PyObject *at, int op)
{
    PyObject *current = field(entry, name);
    if (current == NULL)
        return -1;
    int move = PyObject_RichCompareBool(at, current, op);
    Py_DECREF(current);
    if (move == 1)
        return PyObject_SetAttr(entry, name, at);
    return move;
}

static int add_counts(PyObject *entry, double weight)
{
    PyObject *n = field(entry, s_sightings);
    if (n == NULL)
        return -1;
    PyObject *more = PyNumber_Add(n, c_one);
    Py_DECREF(n);
    if (more == NULL)
        return -1;
    int rc = PyObject_SetAttr(entry, s_sightings, more);
    Py_DECREF(more);
    if (rc < 0)
        return -1;
    double weights;
    if (get_double(entry, s_weights, &weights) < 0)
        return -1;
    return set_double(entry, s_weights, weights + weight);
}

/* IndicatorBook._add for one sighting (type, value, role, behaviour, reason) */
static int add(Book *b, PyObject *seen, Sighted *s)
{
    if (!PyTuple_Check(seen) || PyTuple_GET_SIZE(seen) != 5) {
        PyErr_SetString(PyExc_TypeError, "a sighting is a 5-tuple");
        return -1;
    }
    PyObject *type = PyTuple_GET_ITEM(seen, 0), *value = PyTuple_GET_ITEM(seen, 1), *role = PyTuple_GET_ITEM(seen, 2);
    PyObject *behaviour = PyTuple_GET_ITEM(seen, 3), *reason = PyTuple_GET_ITEM(seen, 4);
    PyObject *weight_obj = PyDict_GetItemWithError(b->strengths, behaviour);
    if (weight_obj == NULL) {
        if (PyErr_Occurred())
            return -1;
        weight_obj = c_zero;
    }
    Py_INCREF(weight_obj); /* a borrowed value could go if a comparison ran Python code */
    int rc = -1;
    double weight = PyFloat_AsDouble(weight_obj);
    if (weight == -1.0 && PyErr_Occurred())
        goto out;
    PyObject *entry = entry_for(b, type, value, s->at);
    if (entry == NULL)
        goto out;
    PyObject *touched = field(entry, s_touched);
    int is_touched = touched ? PyObject_IsTrue(touched) : -1;
    Py_XDECREF(touched);
    if (is_touched < 0)
        goto out_entry;
    if (!is_touched && (PyObject_SetAttr(entry, s_touched, Py_True) < 0 || PyList_Append(b->touched, entry) < 0))
        goto out_entry;
    if (compare_set(entry, s_first_seen, s->at, Py_LT) < 0 || compare_set(entry, s_last_seen, s->at, Py_GT) < 0)
        goto out_entry;
    if (add_counts(entry, weight) < 0)
        goto out_entry;
    if (add_keys(entry, s_cves, s->cves) < 0 || add_keys(entry, s_techniques, s->techniques) < 0)
        goto out_entry;
    if (mark_in(entry, s_roles, role) < 0)
        goto out_entry;
    int truth = PyObject_IsTrue(s->sensor);
    if (truth < 0 || (truth && mark_in(entry, s_sensors, s->sensor) < 0))
        goto out_entry;
    truth = PyObject_IsTrue(s->location);
    if (truth < 0 || (truth && mark_in(entry, s_locations, s->location) < 0))
        goto out_entry;
    if (add_to_sum(b, entry, type, role, weight_obj, weight, s) < 0)
        goto out_entry;
    rc = add_evidence(b, entry, weight_obj, weight, reason, s);
out_entry:
    Py_DECREF(entry);
out:
    Py_DECREF(weight_obj);
    return rc;
}
