/* One event's fold for _foldnative.c (included once, after _foldnative_seen.h and
 * _foldnative_book.h): the event read, what it reveals (seen_in), and each sighting added to the
 * book with the event's sensor, location, time and id. */
/* ---- one event ------------------------------------------------------------------------------- */

static void clear_view(EventView *ev, Sighted *s)
{
    Py_CLEAR(ev->kind);
    Py_CLEAR(ev->cves);
    Py_CLEAR(ev->techniques);
    Py_CLEAR(ev->iocs);
    Py_CLEAR(ev->src_ip);
    Py_CLEAR(s->at);
    Py_CLEAR(s->location);
    Py_CLEAR(s->sensor);
    Py_CLEAR(s->event_id);
    Py_CLEAR(s->source);
}

/* seen_in(event): a new tuple (one sighting), list, or Py_None (none) */
static PyObject *seen_of(PyObject *event, EventView *ev)
{
    int download = PyObject_RichCompareBool(ev->kind, c_download, Py_EQ);
    int upload = download == 0 ? PyObject_RichCompareBool(ev->kind, c_upload, Py_EQ) : 0;
    if (download < 0 || upload < 0)
        return NULL;
    if (download || upload) /* the rare shapes (a body to read as an IOC): Python's own seen_in */
        return PyObject_CallOneArg(seen_in_py, event);
    int python = 0;
    PyObject *source = source_behaviour(event, ev, &python);
    if (python) /* a body that is not its kind's type: Python's seen_in says what it says */
        return PyObject_CallOneArg(seen_in_py, event);
    if (source == NULL)
        return NULL;
    int iocs = PyObject_IsTrue(ev->iocs);
    if (iocs <= 0) {
        if (iocs < 0)
            Py_CLEAR(source);
        return source; /* a tuple, or None */
    }
    PyObject *out = with_revealed(source, ev);
    Py_DECREF(source);
    return out;
}

static int load_view(PyObject *event, EventView *ev, Sighted *s)
{
    if ((ev->kind = field(event, s_kind)) == NULL || (ev->cves = field(event, s_cves)) == NULL ||
        (ev->techniques = field(event, s_techniques)) == NULL ||
        (ev->iocs = field(event, s_iocs)) == NULL || (ev->src_ip = field(event, s_src_ip)) == NULL)
        return -1;
    s->cves = ev->cves;
    s->techniques = ev->techniques;
    return 0;
}

static int load_sighted(Book *b, PyObject *event, PyObject *sources, Sighted *s)
{
    if ((s->sensor = field(event, s_sensor)) == NULL || (s->at = field(event, s_ts)) == NULL ||
        (s->location = field(event, s_location)) == NULL ||
        (s->event_id = field(event, s_id)) == NULL)
        return -1;
    if (canonical(b, &s->sensor) < 0 || canonical(b, &s->location) < 0)
        return -1;
    PyObject *source = PyDict_GetItemWithError(sources, s->sensor);
    if (source != NULL) {
        Py_INCREF(source);
    } else {
        if (PyErr_Occurred())
            return -1;
        source = PyUnicode_FromFormat("sensor:%S", s->sensor);
        if (source == NULL || PyDict_SetItem(sources, s->sensor, source) < 0) {
            Py_XDECREF(source);
            return -1;
        }
    }
    s->source = source;
    s->at_key = date_key(s->at);
    return posix_of(s->at, &s->posix);
}

static int fold_event(Book *b, PyObject *sources, PyObject *event)
{
    EventView ev = {0};
    Sighted s = {0};
    int rc = -1;
    if (load_view(event, &ev, &s) < 0)
        goto out;
    PyObject *seen = seen_of(event, &ev);
    if (seen == NULL)
        goto out;
    if (seen == Py_None) {
        rc = 0;
    } else if (PyTuple_Check(seen)) {
        rc = load_sighted(b, event, sources, &s) < 0 ? -1 : add(b, seen, &s);
    } else {
        PyObject *fast = PySequence_Fast(seen, "seen_in must return a sequence");
        if (fast != NULL) {
            rc = PySequence_Fast_GET_SIZE(fast) == 0 ? 0 : load_sighted(b, event, sources, &s);
            /* the size read on every pass and each item held: add may run any Python code */
            for (Py_ssize_t i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(fast); i++) {
                PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
                Py_INCREF(item);
                rc = add(b, item, &s);
                Py_DECREF(item);
            }
            Py_DECREF(fast);
        }
    }
    Py_DECREF(seen);
out:
    clear_view(&ev, &s);
    return rc;
}
