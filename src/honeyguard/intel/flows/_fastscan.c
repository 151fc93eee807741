/* The native one-pass reader of VPC Flow Logs v2 (docs/flows.md, "The reader").
 *
 * A Scanner is fed a file's text in chunks. It accepts only lines of the strict well-formed shape
 *   2 <acct> <eni> <ipv4> <ipv4> <int> <int> <int> <int> <int> <int> <end> ACCEPT|REJECT OK
 * (single spaces, canonical dotted quads and integers) and folds them into groups keyed by
 * (src, dst, service port, from_client, proto), exactly as scan.py's pre_aggregate_sql would.
 * Every other line (and the file's first line) is returned verbatim as "leftover" text, which the
 * caller runs through the lenient DuckDB reader: so every odd case keeps DuckDB's exact meaning and
 * this file only has to be right about the easy one.
 *
 * Safety: every read is bounded by the chunk's length, a line is at most MAX_LINE bytes before it is
 * passed on verbatim, tables are capped (a line that would exceed a cap is leftover too), and the
 * GIL is released only around code that touches no Python object.
 */
#include "_fastscan_lines.h"
#include "_fastscan_conv.h"

/* ---- the Python type -------------------------------------------------------------------- */

static PyObject *leftover_bytes(Buf *left) {
    PyObject *out = left->failed ? PyErr_NoMemory() : PyBytes_FromStringAndSize(left->data ? left->data : "", (Py_ssize_t)left->len);
    free(left->data);
    return out;
}

static int claim(Scanner *s) {
    if (s->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Scanner is in use by another thread");
        return 0;
    }
    s->busy = 1;
    return 1;
}

static PyObject *Scanner_feed(Scanner *s, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    if (!claim(s)) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Buf left = {0};
    Py_BEGIN_ALLOW_THREADS
    scan_chunk(s, view.buf, (size_t)view.len, &left);
    Py_END_ALLOW_THREADS
    s->busy = 0;
    PyBuffer_Release(&view);
    return leftover_bytes(&left);
}

static PyObject *Scanner_finish(Scanner *s, PyObject *Py_UNUSED(ignored)) {
    if (!claim(s)) return NULL;
    Buf left = {0};
    if (s->overlong) buf_add(&left, "\n", 1);
    else if (s->npartial) {
        s->partial[s->npartial] = '\n';
        take_line(s, s->partial, s->npartial, &left, 0);
    }
    s->overlong = 0;
    s->npartial = 0;
    s->first_line = 1;
    s->busy = 0;
    return leftover_bytes(&left);
}

/* Add another (finished) scanner's groups into this one. Its caps were set so that the sum fits. */
static PyObject *Scanner_merge(Scanner *s, PyObject *arg);

static PyObject *Scanner_counts(Scanner *s, PyObject *Py_UNUSED(ignored)) {
    if (s->busy) return PyErr_Format(PyExc_RuntimeError, "Scanner is in use by another thread");
    return Py_BuildValue("nn", (Py_ssize_t)s->ngroups, (Py_ssize_t)s->nstarts);
}

static PyObject *Scanner_rejected(Scanner *s, PyObject *Py_UNUSED(ignored)) {
    const Group *r = &s->rejected;
    if (s->busy) return PyErr_Format(PyExc_RuntimeError, "Scanner is in use by another thread");
    if (!r->flows) Py_RETURN_NONE;
    PyObject *bytes = _PyLong_FromByteArray((const unsigned char *)&r->bytes, sizeof(i128), 1, 1);
    if (!bytes) return NULL;
    return Py_BuildValue("LLLNLLL", (long long)r->flows, (long long)r->accepted, (long long)r->probes, bytes,
                         (long long)r->max_bytes, (long long)r->first, (long long)r->last);
}

/* Arrow buffers of the groups: src and dst as dotted-quad strings (int32 offsets + text), then
 * port, from_client, proto, flows, accepted, probes, max_bytes, first, last as int64, bytes as
 * 16-byte little-endian integers (a decimal128(38, 0) array), and the starts as (group, t, p). */
static PyObject *Scanner_export(Scanner *s, PyObject *Py_UNUSED(ignored)) {
    size_t n = s->ngroups, m = s->nstarts;
    if (s->busy) return PyErr_Format(PyExc_RuntimeError, "Scanner is in use by another thread");
    if (n > INT32_MAX / 16) return PyErr_Format(PyExc_OverflowError, "too many groups");
    PyObject *bufs[17] = {0};
    PyObject *out = NULL;
    for (int i = 0; i < 2; i++) {
        bufs[2 * i] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((n + 1) * sizeof(int32_t)));
        bufs[2 * i + 1] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 15 + 1));
    }
    for (int i = 4; i < 13; i++) bufs[i] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * sizeof(int64_t)));
    bufs[13] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * sizeof(i128)));
    for (int i = 14; i < 17; i++) bufs[i] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(m * sizeof(int64_t)));
    for (int i = 0; i < 17; i++)
        if (!bufs[i]) goto done;
    for (int side = 0; side < 2; side++) {
        int32_t *offsets = (int32_t *)PyBytes_AS_STRING(bufs[2 * side]);
        char *text = PyBytes_AS_STRING(bufs[2 * side + 1]);
        size_t at = 0;
        offsets[0] = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t a = s->keys[i].addrs;
            at += render_ipv4(text + at, (uint32_t)(side == 0 ? a >> 32 : a));
            offsets[i + 1] = (int32_t)at;
        }
        if (_PyBytes_Resize(&bufs[2 * side + 1], (Py_ssize_t)(at ? at : 1)) < 0) goto done;
    }
    int64_t *cols[9];
    for (int i = 0; i < 9; i++) cols[i] = (int64_t *)PyBytes_AS_STRING(bufs[4 + i]);
    i128 *sums = (i128 *)PyBytes_AS_STRING(bufs[13]);
    for (size_t i = 0; i < n; i++) {
        const Group *g = &s->groups[i];
        uint32_t rest = s->keys[i].rest;
        cols[0][i] = rest & 0xFFFF;
        cols[1][i] = rest >> 24 & 1;
        cols[2][i] = rest >> 16 & 0xFF;
        cols[3][i] = g->flows;
        cols[4][i] = g->accepted;
        cols[5][i] = g->probes;
        cols[6][i] = g->max_bytes;
        cols[7][i] = g->first;
        cols[8][i] = g->last;
        memcpy(&sums[i], &g->bytes, sizeof(i128));
    }
    int64_t *sg = (int64_t *)PyBytes_AS_STRING(bufs[14]), *st = (int64_t *)PyBytes_AS_STRING(bufs[15]),
            *sp = (int64_t *)PyBytes_AS_STRING(bufs[16]);
    for (size_t i = 0; i < m; i++) {
        sg[i] = s->starts[i].group;
        st[i] = s->starts[i].t;
        sp[i] = s->starts[i].port;
    }
    out = PyTuple_New(17);
    if (out)
        for (int i = 0; i < 17; i++) {
            PyTuple_SET_ITEM(out, i, bufs[i]);
            bufs[i] = NULL;
        }
done:
    for (int i = 0; i < 17; i++) Py_XDECREF(bufs[i]);
    return out;
}

static PyTypeObject ScannerType;

/* The scanners of a conversations() call, claimed (none in use elsewhere), or NULL. */
static Scanner **claim_all(Scanner *s, PyObject *others, size_t *count) {
    Py_ssize_t n = PyTuple_GET_SIZE(others);
    Scanner **all = PyMem_Malloc((size_t)(n + 1) * sizeof(Scanner *));
    if (!all) return (Scanner **)PyErr_NoMemory();
    all[0] = s;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyTuple_GET_ITEM(others, i);
        int repeated = 0;
        for (Py_ssize_t k = 0; k <= i; k++) repeated |= (PyObject *)all[k] == o;
        if (!PyObject_TypeCheck(o, &ScannerType) || repeated) {
            PyMem_Free(all);
            return (Scanner **)PyErr_Format(PyExc_TypeError, "conversations() takes other, distinct Scanners");
        }
        all[i + 1] = (Scanner *)o;
    }
    for (Py_ssize_t k = 0; k <= n; k++)
        if (!claim(all[k])) {
            while (k-- > 0) all[k]->busy = 0;
            PyMem_Free(all);
            return NULL;
        }
    *count = (size_t)n + 1;
    return all;
}

/* conversations(*others) -> (conversations, addresses, starts, wide, (Arrow buffers...)): this scanner's
 * groups and the others' folded together (without merging the scanners first). */
static PyObject *Scanner_conversations(Scanner *s, PyObject *others) {
    size_t count = 0, groups = 0;
    Scanner **all = claim_all(s, others, &count);
    if (!all) return NULL;
    for (size_t k = 0; k < count; k++) groups += all[k]->ngroups;
    PyObject *bufs[CONV_BUFFERS] = {0}, *out = NULL, *tuple = NULL;
    Convs c = {0};
    int wide = 0;
    if (groups > INT32_MAX / 16) PyErr_Format(PyExc_OverflowError, "too many groups");
    else {
        int ok;
        Py_BEGIN_ALLOW_THREADS
        ok = fold_convs(all, count, &c);
        Py_END_ALLOW_THREADS
        if (!ok) PyErr_NoMemory();
        else if (export_convs(all, count, &c, bufs, &wide) && (tuple = PyTuple_New(CONV_BUFFERS)) != NULL) {
            size_t starts = 0;
            for (size_t k = 0; k < count; k++) starts += all[k]->nstarts;
            for (int i = 0; i < CONV_BUFFERS; i++) {
                PyTuple_SET_ITEM(tuple, i, bufs[i]);
                bufs[i] = NULL;
            }
            out = Py_BuildValue("nnnNN", (Py_ssize_t)c.n, (Py_ssize_t)c.naddrs, (Py_ssize_t)starts,
                                PyBool_FromLong(wide), tuple);
        }
    }
    for (int i = 0; i < CONV_BUFFERS; i++) Py_XDECREF(bufs[i]);
    convs_free(&c);
    for (size_t k = 0; k < count; k++) all[k]->busy = 0;
    PyMem_Free(all);
    return out;
}


static int merge_groups(Scanner *s, const Scanner *o) {
    uint32_t *map = malloc((o->ngroups ? o->ngroups : 1) * sizeof(uint32_t));
    if (!map) return 0;
    for (size_t i = 0; i < o->ngroups; i++) {
        const Group *g = &o->groups[i];
        const Slot *k = &o->keys[i];
        int64_t index = upsert(s, k->addrs, k->rest, hash_key(k->addrs, k->rest), 0);
        if (index < 0) {
            free(map);
            return 0;
        }
        map[i] = (uint32_t)index;
        add_into(&s->groups[index], g->flows, g->accepted, g->probes, g->bytes, g->max_bytes, g->first, g->last);
    }
    for (size_t i = 0; i < o->nstarts; i++) {
        if (!reserve_start(s, 0)) {
            free(map);
            return 0;
        }
        Start st = o->starts[i];
        st.group = map[st.group];
        s->starts[s->nstarts++] = st;
    }
    const Group *r = &o->rejected;
    if (r->flows) add_into(&s->rejected, r->flows, r->accepted, r->probes, r->bytes, r->max_bytes, r->first, r->last);
    free(map);
    return 1;
}

static PyObject *Scanner_merge(Scanner *s, PyObject *arg) {
    if (!PyObject_TypeCheck(arg, &ScannerType) || arg == (PyObject *)s)
        return PyErr_Format(PyExc_TypeError, "merge() takes another Scanner");
    Scanner *o = (Scanner *)arg;
    if (!claim(s)) return NULL;
    if (!claim(o)) {
        s->busy = 0;
        return NULL;
    }
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = merge_groups(s, o);
    Py_END_ALLOW_THREADS
    s->busy = o->busy = 0;
    if (!ok) return PyErr_NoMemory(); /* s may hold part of o: the caller discards s */
    Py_RETURN_NONE;
}

static int copy_u32s(PyObject *obj, uint32_t **out, size_t *count, size_t multiple) {
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0) return 0;
    int ok = view.len % (Py_ssize_t)(4 * multiple) == 0;
    if (!ok) PyErr_SetString(PyExc_ValueError, "bad packed uint32 array length");
    else if (view.len) {
        *out = malloc((size_t)view.len);
        if (!*out) {
            PyErr_NoMemory();
            ok = 0;
        } else {
            memcpy(*out, view.buf, (size_t)view.len);
            *count = (size_t)view.len / (4 * multiple);
        }
    }
    PyBuffer_Release(&view);
    return ok;
}

static int Scanner_init(Scanner *s, PyObject *args, PyObject *kwds) {
    static char *names[] = {"networks", "beacon", "probe_packets", "max_groups", "max_starts", NULL};
    PyObject *networks, *beacon;
    long long probe, max_groups, max_starts;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOLLL", names, &networks, &beacon, &probe, &max_groups, &max_starts))
        return -1;
    if (s->busy || s->groups || s->nets || s->beacon || s->beacon_slots || max_groups < 0 || max_starts < 0) {
        PyErr_SetString(PyExc_ValueError, "a Scanner is set up once, with non-negative caps");
        return -1;
    }
    if (!copy_u32s(networks, &s->nets, &s->nnets, 2) || !copy_u32s(beacon, &s->beacon, &s->nbeacon, 1)) return -1;
    for (size_t i = 1; i < s->nbeacon; i++)
        if (s->beacon[i - 1] >= s->beacon[i]) {
            PyErr_SetString(PyExc_ValueError, "beacon targets must be sorted and distinct");
            return -1;
        }
    size_t size = 16;
    while (size < 2 * s->nbeacon) size *= 2;
    s->beacon_slots = calloc(size, sizeof(uint32_t));
    if (!s->beacon_slots) {
        PyErr_NoMemory();
        return -1;
    }
    s->beacon_mask = (uint32_t)(size - 1);
    for (size_t i = 0; i < s->nbeacon; i++) {
        uint32_t ip = s->beacon[i], j = (ip * 0x9E3779B1u) >> 7 & s->beacon_mask;
        if (!ip) {
            s->beacon_zero = 1;
            continue;
        }
        while (s->beacon_slots[j]) j = (j + 1) & s->beacon_mask;
        s->beacon_slots[j] = ip;
    }
    s->probe_packets = probe;
    s->max_groups = (size_t)max_groups;
    s->max_starts = (size_t)max_starts;
    s->first_line = 1;
    s->rejected.first = INT64_MAX;
    s->rejected.last = INT64_MIN;
    s->rejected.max_bytes = INT64_MIN;
    return 0;
}

static void Scanner_dealloc(Scanner *s) {
    free(s->groups);
    free(s->keys);
    free(s->slots);
    free(s->starts);
    free(s->nets);
    free(s->beacon);
    free(s->beacon_slots);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyMethodDef Scanner_methods[] = {
    {"feed", (PyCFunction)Scanner_feed, METH_O, "Scan a chunk of text; returns the leftover lines."},
    {"finish", (PyCFunction)Scanner_finish, METH_NOARGS, "End of file: the last line; returns the leftover."},
    {"merge", (PyCFunction)Scanner_merge, METH_O, "Add another scanner's groups into this one."},
    {"counts", (PyCFunction)Scanner_counts, METH_NOARGS, "(groups, starts)."},
    {"rejected", (PyCFunction)Scanner_rejected, METH_NOARGS, "Inbound rejected totals, or None."},
    {"export", (PyCFunction)Scanner_export, METH_NOARGS, "The groups as Arrow buffers."},
    {"conversations", (PyCFunction)Scanner_conversations, METH_VARARGS,
     "The conversations of this and other scanners, as Arrow buffers."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "honeyguard.intel.flows._fastscan.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Folds well-formed VPC flow log v2 lines; returns the others verbatim.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
};

static int compare_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* ipv4_set(b"v1 \nv2 \n...") -> the sorted, distinct values that are canonical dotted quads (by the
 * very test a record's address passes), as a packed uint32 array for Scanner(beacon=...). */
static PyObject *ipv4_set(PyObject *Py_UNUSED(module), PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const char *p = view.buf, *end = p + view.len;
    size_t n = 0;
    uint32_t *out = malloc(((size_t)view.len / 8 + 1) * sizeof(uint32_t)); /* a value takes >= 8 bytes */
    if (!out) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        uint32_t ip;
        const char *after = read_ipv4(p, line_end, &ip); /* needs the value's trailing space */
        if (after && after == line_end) out[n++] = ip;
        p = line_end + 1;
    }
    PyBuffer_Release(&view);
    qsort(out, n, sizeof(uint32_t), compare_u32);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (!distinct || out[distinct - 1] != out[i]) out[distinct++] = out[i];
    PyObject *result = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)(distinct * sizeof(uint32_t)));
    free(out);
    return result;
}

static PyMethodDef module_methods[] = {
    {"ipv4_set", (PyCFunction)ipv4_set, METH_O, "Canonical dotted quads of 'value \\n' lines, packed."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastscan", "Native VPC flow log reader.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__fastscan(void) {
    if (PyType_Ready(&ScannerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&ScannerType);
    if (PyModule_AddObject(m, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(&ScannerType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "MAX_LINE", MAX_LINE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
