/* The request head's split for _hsnative.c (included there, once): the request line, the header
 * lines and the head cut from the body, each exactly its httpsplit twin (the tests compare them),
 * without a Python object for every line and every piece of it. */

#include "_detect_text.h" /* find_head_end, has_folded_line, steal_tuple */

/* ASCII whitespace as bytes.strip() drops it */
static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static PyObject *stripped(const char *start, const char *end)
{
    while (start < end && is_blank((unsigned char)*start))
        start++;
    while (end > start && is_blank((unsigned char)end[-1]))
        end--;
    return PyBytes_FromStringAndSize(start, end - start);
}

/* The (name, value) pairs of the lines of head[0:n] after its first (see split_header_lines). */
static PyObject *header_lines(const char *start, Py_ssize_t n, Py_ssize_t limit)
{
    PyObject *out = PyList_New(0);
    const char *at = start;
    const char *end = at + n;
    const char *first = memchr(at, '\n', (size_t)n);
    at = first != NULL ? first + 1 : end;
    while (out != NULL && first != NULL && PyList_GET_SIZE(out) < limit) {
        const char *line_end = memchr(at, '\n', (size_t)(end - at));
        const char *next = line_end != NULL ? line_end + 1 : NULL;
        if (line_end == NULL)
            line_end = end;
        const char *stop = line_end;
        while (stop > at && stop[-1] == '\r')
            stop--;
        const char *colon = memchr(at, ':', (size_t)(stop - at));
        if (colon != NULL || stop > at) {
            const char *name_end = colon != NULL ? colon : stop;
            const char *value_start = colon != NULL ? colon + 1 : stop;
            PyObject *name = stripped(at, name_end);
            PyObject *value = name != NULL ? stripped(value_start, stop) : NULL;
            PyObject *pair = value != NULL ? PyTuple_Pack(2, name, value) : NULL;
            Py_XDECREF(name);
            Py_XDECREF(value);
            if (pair == NULL || PyList_Append(out, pair) < 0)
                Py_CLEAR(out);
            Py_XDECREF(pair);
        }
        if (next == NULL)
            break;
        at = next;
    }
    return out;
}

/* split_header_lines(head: bytes, limit: int) -> list[tuple[bytes, bytes]]: the lines of ``head``
 * after its first, each without its trailing CRs, cut at its first ':' into (name, value), both
 * stripped; a line with neither a name nor a ':' (an empty one) is skipped; at most ``limit``.
 * Exactly httpsplit.split_http's unfolded case (a test compares them), without a Python
 * object for every line and every piece of it. */
static PyObject *native_split_header_lines(PyObject *module, PyObject *args)
{
    (void)module;
    Py_buffer head;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "y*n", &head, &limit))
        return NULL;
    PyObject *out = header_lines((const char *)head.buf, head.len, limit);
    PyBuffer_Release(&head);
    return out;
}

/* split_head(raw: bytes, limit: int, line: tuple, cls: type) -> cls | None: the request
 * cls(*line, headers, body), raw's head cut at its first blank line as httpsplit cuts it
 * ('\r\n\r\n', or an earlier '\n\n'), its lines after the first split as split_header_lines
 * does; None when the head holds a folded line (a line starting with a space or a tab: httpsplit
 * joins those). cls is a tuple subclass of tuple's layout (httpsplit.SplitRequest), made here as
 * tuple.__new__ makes it: its Python constructor cost as much as the split. */
static PyObject *native_split_head(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *raw, *line, *cls;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!nO!O!", &PyBytes_Type, &raw, &limit, &PyTuple_Type, &line, &PyType_Type, &cls))
        return NULL;
    PyTypeObject *type = (PyTypeObject *)cls;
    if (PyTuple_GET_SIZE(line) != 3 || !PyType_IsSubtype(type, &PyTuple_Type) ||
        type->tp_basicsize != PyTuple_Type.tp_basicsize || type->tp_itemsize != PyTuple_Type.tp_itemsize) {
        PyErr_SetString(PyExc_TypeError, "split_head takes a request line of 3 and a tuple subclass");
        return NULL;
    }
    const char *data = PyBytes_AS_STRING(raw);
    Py_ssize_t size = PyBytes_GET_SIZE(raw);
    Py_ssize_t body_start;
    Py_ssize_t head_end = find_head_end((const unsigned char *)data, size, &body_start);
    if (has_folded_line((const unsigned char *)data, head_end))
        Py_RETURN_NONE; /* a folded line: httpsplit's own case */
    PyObject *headers = header_lines(data, head_end, limit);
    if (headers == NULL)
        return NULL;
    PyObject *body = PyBytes_FromStringAndSize(data + body_start, size - body_start);
    if (body == NULL) {
        Py_DECREF(headers);
        return NULL;
    }
    PyObject *out = type->tp_alloc(type, 5);
    if (out == NULL) {
        Py_DECREF(headers);
        Py_DECREF(body);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < 3; i++)
        PyTuple_SET_ITEM(out, i, Py_NewRef(PyTuple_GET_ITEM(line, i)));
    PyTuple_SET_ITEM(out, 3, headers);
    PyTuple_SET_ITEM(out, 4, body);
    return out;
}

/* An HTTP token byte of a method: httpsplit's [A-Za-z0-9_.!#$&'*+^`|~-] */
static int is_method_byte(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("_.!#$&'*+^`|~-", c) != NULL);
}

/* split_request_line(data: bytes) -> (method, target, version) | None: httpsplit.split_request_line
 * (its regex, then the version split off; a test compares the two on random lines). */
static PyObject *native_split_request_line(PyObject *module, PyObject *data)
{
    (void)module;
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "split_request_line takes bytes");
        return NULL;
    }
    const char *line = PyBytes_AS_STRING(data);
    Py_ssize_t size = PyBytes_GET_SIZE(data);
    const char *newline = memchr(line, '\n', (size_t)size);
    Py_ssize_t end = newline != NULL ? newline - line : size; /* the first line, without its '\n' */
    /* ([A-Za-z][token]{0,31}) +(\S[^\r\n]*)\r?$ : the token run cannot be cut shorter (a space
     * must follow it), nor the spaces (a blank cannot start the target) */
    Py_ssize_t at = 0;
    if (end == 0 || !((line[0] >= 'A' && line[0] <= 'Z') || (line[0] >= 'a' && line[0] <= 'z')))
        Py_RETURN_NONE;
    while (at < end && is_method_byte((unsigned char)line[at]))
        at++;
    Py_ssize_t method_end = at;
    if (method_end > 32 || at >= end || line[at] != ' ')
        Py_RETURN_NONE;
    while (at < end && line[at] == ' ')
        at++;
    if (at >= end || is_blank((unsigned char)line[at]))
        Py_RETURN_NONE;
    Py_ssize_t rest_start = at;
    const char *cr = memchr(line + at, '\r', (size_t)(end - at));
    Py_ssize_t rest_end = end;
    if (cr != NULL) {
        if (cr - line != end - 1)
            Py_RETURN_NONE; /* a CR only as the line's last byte */
        rest_end = end - 1;
    }
    while (rest_end > rest_start && line[rest_end - 1] == ' ') /* rest.rstrip(b" ") */
        rest_end--;
    Py_ssize_t space = rest_end - 1; /* rest.rfind(b" ") */
    while (space >= rest_start && line[space] != ' ')
        space--;
    Py_ssize_t target_end = rest_end;
    Py_ssize_t version_start = rest_end;
    if (space > rest_start) {
        Py_ssize_t length = rest_end - (space + 1);
        const char *version = line + space + 1;
        int blank = memchr(version, '\t', (size_t)length) != NULL || memchr(version, '\v', (size_t)length) != NULL ||
                    memchr(version, '\f', (size_t)length) != NULL;
        if (length >= 6 && length <= 13 && memcmp(version, "HTTP/", 5) == 0 && !blank) {
            version_start = space + 1;
            target_end = space;
            while (target_end > rest_start && line[target_end - 1] == ' ')
                target_end--;
        }
    }
    PyObject *parts[3] = {
        PyBytes_FromStringAndSize(line, method_end),
        PyBytes_FromStringAndSize(line + rest_start, target_end - rest_start),
        PyBytes_FromStringAndSize(line + version_start, rest_end - version_start),
    };
    return steal_tuple(3, parts); /* (no format to parse, as Py_BuildValue does) */
}
