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
    const unsigned char *in = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]), found = 0;
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
