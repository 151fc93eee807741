/* A request the sensor recorded (str method, target, version and header pairs, bytes body) as the
 * bytes its HTTP subject is matched on, and the 'request' field cut from them (included by
 * _decoders.c; the Python twins are httpsubject.python_recorded_raw and python_unix_head).
 *
 * Why native: every recorded request is labelled, and its head was joined, formatted and encoded
 * in Python (~0.4 us); a str whose characters all fit a byte (CPython's 1-byte kind) holds its
 * latin-1 encoding as it is, so here the head is one allocation and a few copies. */

/* The latin-1 bytes of a str (kind 1: every character < 256), or NULL when it is not one. */
static const char *latin1_of(PyObject *text, Py_ssize_t *length)
{
    if (!PyUnicode_Check(text))
        return NULL;
    if (PyUnicode_READY(text) < 0) { /* (a legacy str that cannot be made ready: the Python path's) */
        PyErr_Clear();
        return NULL;
    }
    if (PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND)
        return NULL;
    *length = PyUnicode_GET_LENGTH(text);
    return (const char *)PyUnicode_1BYTE_DATA(text);
}

/* total += add, 0 when it would pass PY_SSIZE_T_MAX */
static int grow(Py_ssize_t *total, Py_ssize_t add)
{
    if (add < 0 || *total > PY_SSIZE_T_MAX - add)
        return 0;
    *total += add;
    return 1;
}

static void put(char **at, const char *text, Py_ssize_t length)
{
    memcpy(*at, text, (size_t)length);
    *at += length;
}

/* recorded_raw(method, target, version, headers, body) -> bytes | None:
 * b'method target version\r\n' + b'\r\n'.join(b'name: value') + b'\r\n\r\n' + body, the strings
 * latin-1; None when a string is not latin-1, or a header is not a (str, str) tuple, or the
 * headers not a list, or body not bytes (the Python twin then says what it makes of them). */
static PyObject *recorded_raw(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "recorded_raw takes method, target, version, headers, body");
        return NULL;
    }
    PyObject *headers = args[3], *body = args[4];
    if (!PyList_Check(headers) || !PyBytes_Check(body))
        Py_RETURN_NONE;
    const char *line[3];
    Py_ssize_t line_length[3], total = 0;
    for (int i = 0; i < 3; i++) {
        line[i] = latin1_of(args[i], &line_length[i]);
        if (line[i] == NULL || !grow(&total, line_length[i]))
            Py_RETURN_NONE;
    }
    Py_ssize_t count = PyList_GET_SIZE(headers);
    /* 2 spaces and a line end, a ': ' and line end a header (the last's is the blank line's), 4 more */
    if (!grow(&total, 4 + 4) || !grow(&total, PyBytes_GET_SIZE(body)))
        Py_RETURN_NONE;
    for (Py_ssize_t i = 0; i < count; i++) { /* (no Python code runs: the list cannot change) */
        PyObject *pair = PyList_GET_ITEM(headers, i);
        Py_ssize_t name_length, value_length;
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            latin1_of(PyTuple_GET_ITEM(pair, 0), &name_length) == NULL ||
            latin1_of(PyTuple_GET_ITEM(pair, 1), &value_length) == NULL || !grow(&total, name_length) ||
            !grow(&total, value_length) || !grow(&total, i == 0 ? 2 : 4))
            Py_RETURN_NONE;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL)
        return NULL;
    char *at = PyBytes_AS_STRING(out);
    put(&at, line[0], line_length[0]);
    put(&at, " ", 1);
    put(&at, line[1], line_length[1]);
    put(&at, " ", 1);
    put(&at, line[2], line_length[2]);
    put(&at, "\r\n", 2);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = PyList_GET_ITEM(headers, i);
        Py_ssize_t name_length, value_length;
        const char *name = latin1_of(PyTuple_GET_ITEM(pair, 0), &name_length);
        const char *value = latin1_of(PyTuple_GET_ITEM(pair, 1), &value_length);
        if (i > 0)
            put(&at, "\r\n", 2);
        put(&at, name, name_length);
        put(&at, ": ", 2);
        put(&at, value, value_length);
    }
    put(&at, "\r\n\r\n", 4);
    put(&at, PyBytes_AS_STRING(body), PyBytes_GET_SIZE(body));
    return out;
}

/* head (n bytes) with each '\r\n' made '\n', when it holds exactly wanted line ends, each a
 * '\r\n', no other '\r' or '\n', and no '%' or '$'; else None (a new reference; NULL: no memory). */
static PyObject *unix_of(const unsigned char *in, Py_ssize_t n, Py_ssize_t wanted)
{
    Py_ssize_t found = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = in[i];
        if (c == '%' || c == '$' || c == '\n')
            Py_RETURN_NONE;
        if (c == '\r') {
            if (i + 1 >= n || in[i + 1] != '\n')
                Py_RETURN_NONE;
            found++;
            i++;
        }
    }
    if (found != wanted)
        Py_RETURN_NONE;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n - found);
    if (out == NULL)
        return NULL;
    char *at = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (in[i] == '\r') /* (each one a '\r\n': checked above) */
            continue;
        *at++ = (char)in[i];
    }
    return out;
}

/* unix_head(head, line_ends) -> bytes | None: head with each '\r\n' made '\n', when head holds
 * exactly line_ends line ends, each a '\r\n', no other '\r' or '\n', and no '%' or '$'; else None. */
static PyObject *unix_head(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "unix_head takes bytes and an int");
        return NULL;
    }
    Py_ssize_t wanted = PyLong_AsSsize_t(args[1]);
    if (wanted == -1 && PyErr_Occurred()) { /* past any count a head can hold: as the twin, None */
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return unix_of((const unsigned char *)PyBytes_AS_STRING(args[0]), PyBytes_GET_SIZE(args[0]), wanted);
}

#define METHOD_LIMIT 64        /* subject.FIELD_LIMITS["method"] */
#define REQUEST_LIMIT 131072   /* subject.FIELD_LIMITS["request"] */

/* bytes of at most limit bytes of text (the object itself when it is short enough) */
static PyObject *cut_bytes(PyObject *text, Py_ssize_t limit)
{
    if (PyBytes_GET_SIZE(text) <= limit)
        return Py_NewRef(text);
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(text), limit);
}

/* The 'request' field of a body-less recorded request from its raw bytes (httpfields.request_of_head
 * over python_unix_head), or None where the Python must build it (a new reference; NULL: error). */
static PyObject *bodyless_request(const unsigned char *raw, Py_ssize_t n, Py_ssize_t line_ends, PyObject *method,
                                  PyObject *target, PyObject *version, PyObject *url)
{
    Py_ssize_t m = PyBytes_GET_SIZE(method), t = PyBytes_GET_SIZE(target), v = PyBytes_GET_SIZE(version);
    if (n - m - t - v > TEXT_LIMIT) /* (the header values' bound: the Python's path then) */
        Py_RETURN_NONE;
    PyObject *unixed = unix_of(raw, n, line_ends);
    if (unixed == NULL || unixed == Py_None)
        return unixed;
    Py_ssize_t u = PyBytes_GET_SIZE(unixed), k = PyBytes_GET_SIZE(url);
    if (k == t && memcmp(PyBytes_AS_STRING(url), PyBytes_AS_STRING(target), (size_t)t) == 0) {
        PyObject *out = cut_bytes(unixed, REQUEST_LIMIT); /* the request line as sent: the whole head */
        Py_DECREF(unixed);
        return out;
    }
    /* as unixed[m + t + v + 3 : -2] slices it */
    Py_ssize_t start = m + t + v + 3 < u ? m + t + v + 3 : u, end = u >= 2 ? u - 2 : 0;
    Py_ssize_t lines = end > start ? end - start : 0;
    /* (each piece lies in raw, the url or unixed, all in memory at once: the sum cannot overflow) */
    Py_ssize_t total = m + 1 + k + 1 + v + 1 + lines + 2;
    Py_ssize_t size = total < REQUEST_LIMIT ? total : REQUEST_LIMIT;
    char *longer = size == total ? NULL : PyMem_Malloc((size_t)total); /* (cut after: rare) */
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL || (size != total && longer == NULL)) {
        int made = out != NULL; /* (then only the longer buffer failed) */
        PyMem_Free(longer);
        Py_DECREF(unixed);
        Py_XDECREF(out);
        return made ? PyErr_NoMemory() : NULL;
    }
    char *at = longer != NULL ? longer : PyBytes_AS_STRING(out);
    put(&at, PyBytes_AS_STRING(method), m);
    put(&at, " ", 1);
    put(&at, PyBytes_AS_STRING(url), k);
    put(&at, " ", 1);
    put(&at, PyBytes_AS_STRING(version), v);
    put(&at, "\n", 1);
    put(&at, PyBytes_AS_STRING(unixed) + start, lines);
    put(&at, "\n\n", 2);
    if (longer != NULL) {
        memcpy(PyBytes_AS_STRING(out), longer, (size_t)size);
        PyMem_Free(longer);
    }
    Py_DECREF(unixed);
    return out;
}

/* The length of request.<name>, a str (its latin-1 bytes: raw was made of them), a list or bytes as
 * kind says (0, 1, 2), or -1 (no error set) when it is not that: the Python's then. */
static Py_ssize_t length_of(PyObject *request, const char *name, int kind, PyObject **interned)
{
    if (*interned == NULL && (*interned = PyUnicode_InternFromString(name)) == NULL) {
        PyErr_Clear();
        return -1;
    }
    PyObject *value = PyObject_GetAttr(request, *interned);
    if (value == NULL) {
        PyErr_Clear();
        return -1;
    }
    Py_ssize_t length = -1;
    /* (exact types: a subclass's own __len__ or __str__ is what the Python twin would use) */
    if (kind == 0 && PyUnicode_CheckExact(value) && PyUnicode_READY(value) == 0)
        length = PyUnicode_GET_LENGTH(value);
    else if (kind == 1 && PyList_CheckExact(value))
        length = PyList_GET_SIZE(value);
    else if (kind == 2 && PyBytes_CheckExact(value))
        length = PyBytes_GET_SIZE(value);
    PyErr_Clear(); /* (a str that could not be made ready) */
    Py_DECREF(value);
    return length;
}

/* recorded_fields(raw, request) -> ((method, target, version), method field, target field, path,
 * query, url, request field | None) | None: httpfields.python_recorded_fields in one call. raw is
 * the recorded request's bytes (recorded_raw); None when its strings' lengths do not fit in raw,
 * or a target field holds a Log4j lookup (the Python resolves those). */
static PyObject *recorded_fields(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "recorded_fields takes bytes and a request");
        return NULL;
    }
    static const char *names[5] = {"method", "target", "version", "headers", "body"};
    static PyObject *interned[5]; /* (made once: every call holds the GIL) */
    Py_ssize_t sizes[5];
    for (int i = 0; i < 5; i++) {
        sizes[i] = length_of(args[1], names[i], i < 3 ? 0 : i - 2, &interned[i]);
        if (sizes[i] < 0)
            Py_RETURN_NONE;
    }
    const unsigned char *raw = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]), m = sizes[0], t = sizes[1], v = sizes[2];
    Py_ssize_t line_ends = (sizes[3] > 0 ? sizes[3] : 1) + 2; /* (a list holds far fewer than SSIZE_MAX) */
    /* 'method target version': the pieces within raw, each step overflow-safe */
    if (m > n || t > n - m || v > n - m - t || n - m - t - v < 2 || sizes[4] > n)
        Py_RETURN_NONE;
    PyObject *fields = target_fields_of(NULL, raw + m + 1, t); /* (path, query, url) */
    if (fields == NULL || fields == Py_None) /* an error, or a lookup */
        return fields;
    PyObject *line[3], *items[7] = {NULL};
    line[0] = PyBytes_FromStringAndSize((const char *)raw, m);
    line[1] = PyBytes_FromStringAndSize((const char *)raw + m + 1, t);
    line[2] = PyBytes_FromStringAndSize((const char *)raw + m + t + 2, v);
    for (int i = 0; i < 3; i++)
        items[3 + i] = Py_NewRef(PyTuple_GET_ITEM(fields, i));
    Py_DECREF(fields);
    if (line[0] != NULL && line[1] != NULL && line[2] != NULL) {
        items[1] = cut_bytes(line[0], METHOD_LIMIT);
        items[2] = cut_bytes(line[1], TEXT_LIMIT);
        if (items[1] != NULL && items[2] != NULL) /* (else no memory: steal_tuple answers NULL) */
            items[6] = sizes[4] == 0 ? bodyless_request(raw, n, line_ends, line[0], line[1], line[2], items[5])
                                     : Py_NewRef(Py_None); /* the body field is the Python's */
        items[0] = steal_tuple(3, line);   /* (line's references are the tuple's now) */
    } else {
        for (int i = 0; i < 3; i++)
            Py_XDECREF(line[i]);
    }
    return steal_tuple(7, items); /* (NULL, each item released, when one is NULL) */
}
