/* The field helpers of _decoders.c (included there, after the decoders they build on): the
 * fields of a request target, the body field, the head's end and what a prefilter view must undo.
 * Each is exactly its Python twin in httpfields.py or normalize.py (the tests compare them). */

/* ---- the fields of a request target (httpfields.target_fields) ------------------------------ */

#define TEXT_LIMIT 16384 /* subject.FIELD_LIMITS of target, url, path and query */

/* A decoded text as a field: NULL with no error set when it holds a Log4j lookup ('${': the
 * Python resolves those), else bytes cut to TEXT_LIMIT. */
static PyObject *field_or_lookup(const unsigned char *text, Py_ssize_t n)
{
    if (find_bytes(text, n, "${", 2) != NULL)
        return NULL;
    return PyBytes_FromStringAndSize((const char *)text, n < TEXT_LIMIT ? n : TEXT_LIMIT);
}

/* normalize.normalize_path on data (n bytes, changed in place: '\' is '/'): dot and empty
 * segments resolved, the result written to out (n + 1 bytes at least), its length returned.
 * starts and lengths: room for one more segment than data holds separators ('/' or '\\'). */
static Py_ssize_t normalize_path_into(unsigned char *data, Py_ssize_t n, unsigned char *out, Py_ssize_t *starts,
                                      Py_ssize_t *lengths)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (data[i] == '\\')
            data[i] = '/';
    int dotted = n > 0 && data[0] == '.';
    for (Py_ssize_t i = 0; i + 1 < n && !dotted; i++)
        if (data[i] == '/' && (data[i + 1] == '/' || data[i + 1] == '.'))
            dotted = 1;
    if (!dotted) { /* no empty and no dot segment: resolving them changes nothing */
        memcpy(out, data, (size_t)n);
        return n;
    }
    /* resolve_segments: each segment of path.split(b"/") in turn */
    Py_ssize_t kept = 0, start = 0, bare_length = 0;
    const unsigned char *bare = data;
    for (;;) {
        const unsigned char *slash = memchr(data + start, '/', (size_t)(n - start));
        Py_ssize_t end = slash != NULL ? slash - data : n;
        Py_ssize_t length = end - start;
        bare = data + start;
        bare_length = length;
        if (length > 0 && data[start] == '.') { /* '..;x' is '..' (Tomcat) */
            const unsigned char *semicolon = memchr(data + start, ';', (size_t)length);
            if (semicolon != NULL)
                bare_length = semicolon - (data + start);
        }
        if (bare_length == 2 && bare[0] == '.' && bare[1] == '.') {
            if (kept > 0)
                kept--;
        } else if (length > 0 && !(bare_length == 1 && bare[0] == '.')) {
            starts[kept] = start;
            lengths[kept] = length;
            kept++;
        }
        if (slash == NULL)
            break;
        start = end + 1;
    }
    Py_ssize_t o = 0;
    if (n > 0 && data[0] == '/')
        out[o++] = '/';
    for (Py_ssize_t k = 0; k < kept; k++) {
        if (k > 0)
            out[o++] = '/';
        memcpy(out + o, data + starts[k], (size_t)lengths[k]);
        o += lengths[k];
    }
    int dot_end = (bare_length == 1 && bare[0] == '.') || (bare_length == 2 && bare[0] == '.' && bare[1] == '.');
    if (kept > 0 && ((n > 0 && data[n - 1] == '/') || dot_end))
        out[o++] = '/';
    if (o == 0)
        out[o++] = '/';
    return o;
}

/* Whether the path field can differ from the path as sent (httpfields.path_differs). */
static int path_differs(const unsigned char *path, Py_ssize_t n)
{
    if (has_byte(path, n, '%') || has_byte(path, n, '\\') || (n > 0 && path[0] == '.') || has_overlong_lead(path, n))
        return 1;
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        if (path[i] == '/' && (path[i + 1] == '/' || path[i + 1] == '.'))
            return 1;
    }
    return find_bytes(path, n, "${", 2) != NULL;
}

/* Whether text starts with prefix (lower-case ASCII), ASCII letters in any case: bytes.lower
 * (strncasecmp would follow the locale). */
static int starts_caseless(const unsigned char *text, Py_ssize_t n, const char *prefix)
{
    Py_ssize_t length = (Py_ssize_t)strlen(prefix);
    if (n < length)
        return 0;
    for (Py_ssize_t i = 0; i < length; i++) {
        unsigned char c = text[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (c != (unsigned char)prefix[i])
            return 0;
    }
    return 1;
}

/* The origin form of a target ('http://host/p?q' -> '/p?q'): its start and length, or a
 * length of -1 for the constant '/' (httpfields.origin_form). */
static void origin_form(const unsigned char *target, Py_ssize_t n, Py_ssize_t *start, Py_ssize_t *length)
{
    *start = 0;
    *length = n;
    if (n > 0 && target[0] == '/')
        return;
    Py_ssize_t scheme = 0;
    if (starts_caseless(target, n, "http://"))
        scheme = 7;
    else if (starts_caseless(target, n, "https://"))
        scheme = 8;
    if (scheme == 0)
        return;
    const unsigned char *slash = memchr(target + scheme, '/', (size_t)(n - scheme));
    if (slash == NULL) {
        *length = -1;
        return;
    }
    *start = slash - target;
    *length = n - *start;
}

/* The path field of a raw path (whole, not yet cut); NULL with no error: a Log4j lookup.
 * work: 3n + 1 bytes (two decoding buffers, then the normalised path). */
static PyObject *path_field(const unsigned char *path, Py_ssize_t n, unsigned char *work)
{
    if (!path_differs(path, n))
        return PyBytes_FromStringAndSize((const char *)path, n < TEXT_LIMIT ? n : TEXT_LIMIT);
    unsigned char *decoded;
    Py_ssize_t length = decode_into(path, n, 0, work, work + n, &decoded);
    size_t count = 1; /* segments: one more than the separators ('/' and '\\', which is '/') */
    for (Py_ssize_t i = 0; i < length; i++)
        count += decoded[i] == '/' || decoded[i] == '\\';
    Py_ssize_t *segments = PyMem_Malloc(2 * count * sizeof(Py_ssize_t));
    if (segments == NULL)
        return PyErr_NoMemory();
    Py_ssize_t normal = normalize_path_into(decoded, length, work + 2 * n, segments, segments + count);
    PyMem_Free(segments);
    return field_or_lookup(work + 2 * n, normal);
}

/* The query field of a raw query; NULL with no error: a Log4j lookup. */
static PyObject *query_field(const unsigned char *query, Py_ssize_t n, unsigned char *work)
{
    if (!has_byte(query, n, '+') && !has_byte(query, n, '%') && !has_byte(query, n, '$') &&
        !has_overlong_lead(query, n))
        return PyBytes_FromStringAndSize((const char *)query, n < TEXT_LIMIT ? n : TEXT_LIMIT);
    unsigned char *decoded;
    Py_ssize_t length = decode_into(query, n, 1, work, work + n, &decoded);
    return field_or_lookup(decoded, length);
}

/* target_fields(target) -> (path, query, url) | None: the three fields a target gives, exactly
 * httpfields.python_target_fields; None when one holds a Log4j lookup (the Python resolves those). */
static PyObject *target_fields_of(PyObject *Py_UNUSED(data), const unsigned char *target, Py_ssize_t n)
{
    unsigned char small[3 * 256 + 1]; /* most targets: no allocation */
    unsigned char *work = n <= 256 ? small : PyMem_Malloc(3 * (size_t)n + 1); /* see path_field */
    if (work == NULL)
        return PyErr_NoMemory();
    PyObject *fields[3] = {NULL, NULL, NULL};
    Py_ssize_t start, length;
    origin_form(target, n, &start, &length);
    const unsigned char *origin = length < 0 ? (const unsigned char *)"/" : target + start;
    if (length < 0)
        length = 1;
    const unsigned char *question = memchr(origin, '?', (size_t)length);
    Py_ssize_t path_length = question != NULL ? question - origin : length;
    fields[0] = path_field(origin, path_length, work);
    if (fields[0] == NULL && PyErr_Occurred())
        goto failed;
    if (question == NULL)
        fields[1] = PyBytes_FromStringAndSize("", 0);
    else
        fields[1] = query_field(question + 1, length - path_length - 1, work);
    if (fields[1] == NULL && PyErr_Occurred())
        goto failed;
    Py_ssize_t cut = n < TEXT_LIMIT ? n : TEXT_LIMIT;
    if (!has_byte(target, cut, '%') && !has_overlong_lead(target, cut)) {
        fields[2] = field_or_lookup(target, cut);
    } else {
        unsigned char *decoded;
        Py_ssize_t decoded_length = decode_into(target, cut, 0, work, work + cut, &decoded);
        fields[2] = field_or_lookup(decoded, decoded_length);
    }
    if (fields[2] == NULL && PyErr_Occurred())
        goto failed;
    if (work != small)
        PyMem_Free(work);
    if (fields[0] == NULL || fields[1] == NULL || fields[2] == NULL) { /* a lookup: the Python's */
        for (int i = 0; i < 3; i++)
            Py_XDECREF(fields[i]);
        Py_RETURN_NONE;
    }
    return steal_tuple(3, fields);
failed:
    if (work != small)
        PyMem_Free(work);
    for (int i = 0; i < 3; i++)
        Py_XDECREF(fields[i]);
    return NULL;
}
BYTES_FUNCTION(target_fields)

/* ---- the body field and the head's end ------------------------------------------------------- */

/* raw_plus_decoded(data, *, plus_is_space=True) -> bytes | None: normalize.raw_plus_decoded, None
 * when decoding leaves a Log4j lookup ('${': the Python resolves those). */
static PyObject *raw_plus_decoded_of(PyObject *data, const unsigned char *in, Py_ssize_t n)
{
    unsigned char *work = PyMem_Malloc(3 * (size_t)n + 1); /* decode: two buffers; unescape: one more */
    if (work == NULL)
        return PyErr_NoMemory();
    unsigned char *decoded;
    Py_ssize_t length = decode_into(in, n, 1, work, work + n, &decoded);
    PyObject *out = NULL;
    if (find_bytes(decoded, length, "${", 2) != NULL) {
        out = Py_NewRef(Py_None);
    } else {
        unsigned char *spare = decoded == work ? work + n : work;
        unsigned char *result = work + 2 * n;
        /* unescape_json, then decode_numeric_entities: each only shrinks, so spare is room */
        length = entities_into(spare, json_unescape_into(decoded, length, spare), result);
        if (length == n && memcmp(result, in, (size_t)n) == 0) {
            out = Py_NewRef(data);
        } else {
            out = PyBytes_FromStringAndSize(NULL, n + 1 + length);
            if (out != NULL) {
                char *at = PyBytes_AS_STRING(out);
                memcpy(at, in, (size_t)n);
                at[n] = '\n';
                memcpy(at + n + 1, result, (size_t)length);
            }
        }
    }
    PyMem_Free(work);
    return out;
}
BYTES_FUNCTION(raw_plus_decoded)

/* head_folded(raw) -> bool: whether a line of raw's head starts with a space or a tab (a header
 * value folded onto the next line), as httpfields.python_head_folded says. */
static PyObject *head_folded_of(PyObject *Py_UNUSED(data), const unsigned char *in, Py_ssize_t n)
{
    Py_ssize_t body_start;
    return PyBool_FromLong(has_folded_line(in, find_head_end(in, n, &body_start)));
}
BYTES_FUNCTION(head_folded)

/* head_bounds(raw) -> (head_end, body_start): where httpsplit cuts the head (its first blank
 * line, '\r\n\r\n' or an earlier '\n\n') and where the body starts (both len(raw): none). */
static PyObject *head_bounds_of(PyObject *Py_UNUSED(data), const unsigned char *in, Py_ssize_t n)
{
    Py_ssize_t start;
    Py_ssize_t end = find_head_end(in, n, &start);
    PyObject *bounds[2] = {PyLong_FromSsize_t(end), PyLong_FromSsize_t(start)};
    return steal_tuple(2, bounds);
}
BYTES_FUNCTION(head_bounds)

/* view_marks(raw) -> int: what the prefilter view of raw bytes must undo, as bits (httpfields
 * python_view_marks): 1 a Log4j lookup ('${'), 2 a '%' or an overlong UTF-8 lead byte, 4 a
 * backslash, 8 an HTML numeric entity's start ('&#'). One call where the Python asks seven
 * times, for every request. */
static PyObject *view_marks_of(PyObject *Py_UNUSED(data), const unsigned char *in, Py_ssize_t n)
{
    long marks = 0;
    if (find_bytes(in, n, "${", 2) != NULL)
        marks |= 1;
    if (has_byte(in, n, '%') || has_overlong_lead(in, n))
        marks |= 2;
    if (has_byte(in, n, '\\'))
        marks |= 4;
    if (find_bytes(in, n, "&#", 2) != NULL)
        marks |= 8;
    return PyLong_FromLong(marks);
}
BYTES_FUNCTION(view_marks)
