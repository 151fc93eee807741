/* What an event reveals (intel/sightings.py's seen_in) for the native fold: included once, by
 * _foldnative.c, after its names and helpers. */
/* ---- what an event reveals (sightings.py) ------------------------------------------------ */

typedef struct {
    PyObject *kind, *cves, *techniques, *iocs, *src_ip;
} EventView;

/* The reason of a sighting: format with ", ".join(items[:3]) (then kind, where format asks for
 * it); NULL on error. */
static PyObject *why_joined(const char *format, PyObject *items, PyObject *kind)
{
    PyObject *joined = join_three(items);
    if (joined == NULL)
        return NULL;
    PyObject *why = PyUnicode_FromFormat(format, joined, kind);
    Py_DECREF(joined);
    return why;
}

/* The source's sighting when the event's kind is in table (kind -> reason): a new 5-tuple; NULL
 * with no error when it is not, NULL with one on error. */
static PyObject *seen_if_listed(PyObject *table, EventView *ev, PyObject *role, PyObject *behaviour)
{
    PyObject *reason = PyDict_GetItemWithError(table, ev->kind);
    if (reason == NULL)
        return NULL;
    Py_INCREF(reason);
    return seen5(c_ip, ev->src_ip, role, behaviour, reason);
}

/* sightings._source_behaviour: a new 5-tuple, Py_None (new ref) when none, NULL on error,
 * or *python set when the event must go to sightings.seen_in. */
static PyObject *source_behaviour(PyObject *event, EventView *ev, int *python)
{
    int truth = PyObject_IsTrue(ev->cves);
    if (truth < 0)
        return NULL;
    if (truth) {
        PyObject *why = why_joined("exploit %S (%S)", ev->cves, ev->kind);
        return seen5(c_ip, ev->src_ip, c_exploiter, c_exploit, why);
    }
    PyObject *after = seen_if_listed(after_login, ev, c_exploiter, c_post_exploit);
    if (after != NULL || PyErr_Occurred())
        return after;
    int is_login = PyObject_RichCompareBool(ev->kind, c_ssh_login, Py_EQ);
    if (is_login < 0)
        return NULL;
    if (is_login) {
        PyObject *body = field(event, s_body);
        if (body == NULL)
            return NULL;
        int fits = PyObject_TypeCheck(body, (PyTypeObject *)SshLoginType);
        if (!fits) {
            Py_DECREF(body);
            *python = 1;
            return NULL;
        }
        PyObject *success = field(body, s_success);
        PyObject *method = success ? field(body, s_method) : NULL;
        PyObject *username = method ? field(body, s_username) : NULL;
        Py_DECREF(body);
        PyObject *out = NULL;
        int ok = username ? PyObject_IsTrue(success) : -1;
        if (ok == 1)
            out = seen5(c_ip, ev->src_ip, c_bruteforcer, c_login,
                        PyUnicode_FromFormat("guessed %S login as %R", method, username));
        else if (ok == 0)
            out = seen5(c_ip, ev->src_ip, c_bruteforcer, c_bruteforce,
                        PyUnicode_FromFormat("failed %S login as %R", method, username));
        Py_XDECREF(success);
        Py_XDECREF(method);
        Py_XDECREF(username);
        return out;
    }
    truth = PyObject_IsTrue(ev->techniques);
    if (truth < 0)
        return NULL;
    if (truth) {
        PyObject *it = PyObject_GetIter(ev->techniques);
        if (it == NULL)
            return NULL;
        int all_scan = 1;
        PyObject *item;
        while ((item = PyIter_Next(it)) != NULL) {
            int in = PySet_Contains(scan_techniques, item);
            Py_DECREF(item);
            if (in < 0) {
                Py_DECREF(it);
                return NULL;
            }
            if (!in) {
                all_scan = 0;
                break;
            }
        }
        Py_DECREF(it);
        if (PyErr_Occurred())
            return NULL;
        if (all_scan) {
            PyObject *rules = field(event, s_rules);
            if (rules == NULL)
                return NULL;
            PyObject *why = why_joined("scan (%S)", rules, NULL);
            Py_DECREF(rules);
            return seen5(c_ip, ev->src_ip, c_scanner, c_scan, why);
        }
        PyObject *why = why_joined("attack technique %S", ev->techniques, NULL);
        return seen5(c_ip, ev->src_ip, c_exploiter, c_technique, why);
    }
    PyObject *probe = seen_if_listed(unlabelled, ev, c_scanner, c_probe);
    if (probe != NULL || PyErr_Occurred())
        return probe;
    Py_RETURN_NONE;
}

/* seen_in for an event with IOCs: the source first, then each IOC's sightings, the first of each
 * (type, value, role) kept. A new list. */
static PyObject *with_revealed(PyObject *source, EventView *ev)
{
    PyObject *found = PyDict_New();
    if (found == NULL)
        return NULL;
    PyObject *revealed = PyList_New(0);
    if (revealed == NULL)
        goto fail;
    if (source != Py_None && PyList_Append(revealed, source) < 0)
        goto fail;
    PyObject *it = PyObject_GetIter(ev->iocs);
    if (it == NULL)
        goto fail;
    PyObject *ioc;
    while ((ioc = PyIter_Next(it)) != NULL) {
        PyObject *args[4] = {NULL, NULL, NULL, ev->kind};
        args[0] = field(ioc, s_type);
        args[1] = args[0] ? field(ioc, s_value) : NULL;
        args[2] = args[1] ? field(ioc, s_role) : NULL;
        Py_DECREF(ioc);
        PyObject *seens = args[2] ? PyObject_Vectorcall(from_ioc, args, 4, NULL) : NULL;
        Py_XDECREF(args[0]);
        Py_XDECREF(args[1]);
        Py_XDECREF(args[2]);
        if (seens == NULL) {
            Py_DECREF(it);
            goto fail;
        }
        PyObject *fast = PySequence_Fast(seens, "_from_ioc must return a sequence");
        Py_DECREF(seens);
        if (fast == NULL) {
            Py_DECREF(it);
            goto fail;
        }
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); i++) {
            if (PyList_Append(revealed, PySequence_Fast_GET_ITEM(fast, i)) < 0) {
                Py_DECREF(fast);
                Py_DECREF(it);
                goto fail;
            }
        }
        Py_DECREF(fast);
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        goto fail;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(revealed); i++) {
        PyObject *seen = PyList_GET_ITEM(revealed, i);
        PyObject *key = PySequence_GetSlice(seen, 0, 3);
        if (key == NULL)
            goto fail;
        PyObject *kept = PyDict_SetDefault(found, key, seen);
        Py_DECREF(key);
        if (kept == NULL)
            goto fail;
    }
    Py_DECREF(revealed);
    PyObject *values = PyDict_Values(found);
    Py_DECREF(found);
    return values;
fail:
    Py_XDECREF(revealed);
    Py_DECREF(found);
    return NULL;
}
