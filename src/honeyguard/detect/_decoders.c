/* The decoders every HTTP field goes through (detect/normalize.py), in C: percent escapes
 * (repeated, with overlong UTF-8 folded), JSON string escapes and HTML numeric entities.
 *
 * Why native: in Python each escape is a regex callback (~1 us for a Docker API body full of
 * \u0022), and these decoders were about a sixth of the engine's time on bench_detect's requests.
 * The field helpers built on them (_decoders_fields.h: a target's path, query and url, the body
 * field, the head's end) replace a dozen Python calls each. Each function here gives exactly what
 * its Python twin in normalize.py or httpfields.py gives (the tests compare them on random and
 * adversarial bytes); those fall back to the Python when this module is not built.
 *
 * Every decoder only shrinks its input (an escape is longer than what it stands for), so each
 * works in buffers of the input's length: memory is bounded by a few times the input, and an
 * input that decodes to itself is handed back as it is (the Python returns the same object).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "_detect_text.h" /* find_bytes, find_head_end, has_folded_line, steal_tuple */

#define MAX_DECODE_ROUNDS 4 /* normalize.MAX_DECODE_ROUNDS */

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ``count`` hex digits at ``at`` as a number, or -1 when one is not a hex digit. */
static long hex_run(const unsigned char *at, int count)
{
    long value = 0;
    for (int i = 0; i < count; i++) {
        int digit = hex_value(at[i]);
        if (digit < 0)
            return -1;
        value = value * 16 + digit;
    }
    return value;
}

/* chr(code).encode("utf-8", "surrogatepass") for code <= 0x10FFFF (bytes([code]) below 0x80):
 * the bytes written at out, their count returned. */
static Py_ssize_t put_utf8(unsigned char *out, unsigned long code)
{
    if (code < 0x80) {
        out[0] = (unsigned char)code;
        return 1;
    }
    if (code < 0x800) {
        out[0] = (unsigned char)(0xC0 | (code >> 6));
        out[1] = (unsigned char)(0x80 | (code & 0x3F));
        return 2;
    }
    if (code < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (code >> 12));
        out[1] = (unsigned char)(0x80 | ((code >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (code & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (code >> 18));
    out[1] = (unsigned char)(0x80 | ((code >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((code >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (code & 0x3F));
    return 4;
}

/* Copies in[*i:] up to the next ``marker`` byte (or the end) to out + *o, both advanced; whether
 * a marker was reached. The scan every decoder makes between its escapes. */
static int copy_until(const unsigned char *in, Py_ssize_t n, Py_ssize_t *i, int marker, unsigned char *out,
                      Py_ssize_t *o)
{
    const unsigned char *found = memchr(in + *i, marker, (size_t)(n - *i));
    Py_ssize_t stop = found != NULL ? found - in : n;
    memmove(out + *o, in + *i, (size_t)(stop - *i));
    *o += stop - *i;
    *i = stop;
    return stop < n;
}

/* percent_decode_once: %XX, then %uXXXX; a '%' that starts neither stays (left to right, as
 * normalize._PERCENT.sub). Writes at most n bytes; returns how many. */
static Py_ssize_t percent_once(const unsigned char *in, Py_ssize_t n, unsigned char *out)
{
    Py_ssize_t i = 0, o = 0;
    while (copy_until(in, n, &i, '%', out, &o)) {
        long value = i + 2 < n ? hex_run(in + i + 1, 2) : -1;
        if (value >= 0) {
            out[o++] = (unsigned char)value;
            i += 3;
            continue;
        }
        value = i + 5 < n && (in[i + 1] == 'u' || in[i + 1] == 'U') ? hex_run(in + i + 2, 4) : -1;
        if (value >= 0) {
            o += put_utf8(out + o, (unsigned long)value); /* at most 3 bytes for 6 read */
            i += 6;
            continue;
        }
        out[o++] = in[i++];
    }
    return o;
}

static int has_overlong_lead(const unsigned char *data, Py_ssize_t n)
{
    return memchr(data, 0xC0, (size_t)n) != NULL || memchr(data, 0xC1, (size_t)n) != NULL ||
           memchr(data, 0xE0, (size_t)n) != NULL;
}

/* fold_overlong_utf8: \xe0[\x80\x81][\x80-\xbf] and [\xc0\xc1][\x80-\xbf] as the ASCII byte they
 * spell. The Python's two passes (three-byte forms, then two-byte) never compete for a byte (a
 * two-byte form's lead is no byte of a three-byte one, and a pass leaves only ASCII behind), so
 * one pass does both. In place is safe: the output never passes the input. */
static Py_ssize_t fold_overlong(unsigned char *data, Py_ssize_t n)
{
    if (!has_overlong_lead(data, n))
        return n; /* no lead byte (most texts): nothing to fold, nothing to move */
    Py_ssize_t i = 0, o = 0;
    while (i < n) {
        unsigned char c = data[i];
        if (c == 0xE0 && i + 2 < n && (data[i + 1] & 0xFE) == 0x80 && (data[i + 2] & 0xC0) == 0x80) {
            data[o++] = (unsigned char)((((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)) & 0x7F);
            i += 3;
        } else if ((c == 0xC0 || c == 0xC1) && i + 1 < n && (data[i + 1] & 0xC0) == 0x80) {
            data[o++] = (unsigned char)((((c & 0x1F) << 6) | (data[i + 1] & 0x3F)) & 0x7F);
            i += 2;
        } else {
            data[o++] = data[i++];
        }
    }
    return o;
}

static int has_byte(const unsigned char *data, Py_ssize_t n, int byte)
{
    return memchr(data, byte, (size_t)n) != NULL;
}

/* The input as bytes (exactly or a subclass), or NULL with a TypeError. */
static int read_bytes(PyObject *data, const unsigned char **at, Py_ssize_t *n)
{
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "a bytes object is required");
        return -1;
    }
    *at = (const unsigned char *)PyBytes_AS_STRING(data);
    *n = PyBytes_GET_SIZE(data);
    return 0;
}

/* name(module, data), a METH_O function of one bytes object: its bytes read (a TypeError when it
 * is not bytes), then answered by name_of(data, bytes, length). One copy of that check. */
#define BYTES_FUNCTION(name)                                                                       \
    static PyObject *name(PyObject *module, PyObject *data)                                        \
    {                                                                                              \
        (void)module;                                                                              \
        const unsigned char *in;                                                                   \
        Py_ssize_t n;                                                                              \
        return read_bytes(data, &in, &n) < 0 ? NULL : name##_of(data, in, n);                      \
    }

/* decode_repeated over a piece into buffer (n bytes at least), its length returned; the input
 * is not changed. spare: n more bytes. */
static Py_ssize_t decode_into(const unsigned char *in, Py_ssize_t n, int plus, unsigned char *buffer,
                              unsigned char *spare, unsigned char **result)
{
    unsigned char *current = buffer;
    memcpy(current, in, (size_t)n);
    if (plus)
        for (unsigned char *at = current; (at = memchr(at, '+', (size_t)(current + n - at))) != NULL; at++)
            *at = ' ';
    Py_ssize_t length = n;
    if (has_byte(current, length, '%') || has_overlong_lead(current, length)) {
        for (int round = 0; round < MAX_DECODE_ROUNDS; round++) {
            Py_ssize_t decoded = fold_overlong(spare, percent_once(current, length, spare));
            if (decoded == length)
                break;
            unsigned char *swap = current;
            current = spare;
            spare = swap;
            length = decoded;
            if (!has_byte(current, length, '%') && !has_overlong_lead(current, length))
                break;
        }
    }
    *result = current;
    return length;
}

/* decode_repeated(data, *, plus_is_space=False) -> bytes: normalize.decode_repeated. */
static PyObject *decode_repeated(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)module;
    /* parsed by hand: PyArg_ParseTupleAndKeywords builds a dict for the keyword, a good part of
     * the call on a short text */
    Py_ssize_t nkeywords = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs != 1 || nkeywords > 1 ||
        (nkeywords == 1 && !PyUnicode_Check(PyTuple_GET_ITEM(kwnames, 0))) ||
        (nkeywords == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "plus_is_space") != 0)) {
        PyErr_SetString(PyExc_TypeError, "decode_repeated(data, *, plus_is_space=False)");
        return NULL;
    }
    PyObject *data = args[0];
    int plus_is_space = nkeywords == 1 ? PyObject_IsTrue(args[1]) : 0;
    if (plus_is_space < 0)
        return NULL;
    const unsigned char *in;
    Py_ssize_t n;
    if (read_bytes(data, &in, &n) < 0)
        return NULL;
    int plus = plus_is_space && has_byte(in, n, '+');
    if (!plus && !has_byte(in, n, '%') && !has_overlong_lead(in, n))
        return Py_NewRef(data); /* the common case: nothing to decode */
    unsigned char *buffers = PyMem_Malloc(n > 0 ? 2 * (size_t)n : 1); /* a round reads one, writes the other */
    if (buffers == NULL)
        return PyErr_NoMemory();
    unsigned char *decoded;
    Py_ssize_t length = decode_into(in, n, plus, buffers, buffers + n, &decoded);
    /* every substitution shortens the text: the same length (and no '+') is the same text */
    PyObject *out = plus || length != n ? PyBytes_FromStringAndSize((const char *)decoded, length) : Py_NewRef(data);
    PyMem_Free(buffers);
    return out;
}

/* normalize.unescape_json of in[0:n] into out (n bytes at least), the length written returned:
 * \uXXXX (lower-case u) as UTF-8, \" \\ \/ as the character; any other backslash stays. */
static Py_ssize_t json_unescape_into(const unsigned char *in, Py_ssize_t n, unsigned char *out)
{
    Py_ssize_t i = 0, o = 0;
    while (copy_until(in, n, &i, '\\', out, &o)) {
        long code = i + 5 < n && in[i + 1] == 'u' ? hex_run(in + i + 2, 4) : -1;
        if (code >= 0) {
            o += put_utf8(out + o, (unsigned long)code);
            i += 6;
        } else if (i + 1 < n && (in[i + 1] == '"' || in[i + 1] == '\\' || in[i + 1] == '/')) {
            out[o++] = in[i + 1];
            i += 2;
        } else {
            out[o++] = in[i++];
        }
    }
    return o;
}

/* One entity at in[i] ('&#' there): its length (0: none) and the code it names in *code. */
static Py_ssize_t read_entity(const unsigned char *in, Py_ssize_t n, Py_ssize_t i, unsigned long *code)
{
    Py_ssize_t at = i + 2, digits = 0;
    unsigned long value = 0;
    if (at < n && (in[at] == 'x' || in[at] == 'X')) { /* &#x, then 1 to 6 hex digits */
        at++;
        while (digits < 6 && at < n && hex_value(in[at]) >= 0) {
            value = value * 16 + (unsigned long)hex_value(in[at]);
            at++;
            digits++;
        }
    }
    if (digits == 0) { /* (the hex form failed: the decimal one, from the '#') */
        at = i + 2;
        while (digits < 7 && at < n && in[at] >= '0' && in[at] <= '9') {
            value = value * 10 + (unsigned long)(in[at] - '0');
            at++;
            digits++;
        }
    }
    if (digits == 0)
        return 0;
    if (at < n && in[at] == ';')
        at++;
    *code = value;
    return at - i;
}

/* normalize.decode_numeric_entities of in[0:n] into out (n bytes at least), the length written
 * returned: &#x3c; and &#60; (the ';' optional) as UTF-8; a code past U+10FFFF stays as written. */
static Py_ssize_t entities_into(const unsigned char *in, Py_ssize_t n, unsigned char *out)
{
    Py_ssize_t i = 0, o = 0;
    while (copy_until(in, n, &i, '&', out, &o)) {
        unsigned long code = 0;
        Py_ssize_t length = i + 1 < n && in[i + 1] == '#' ? read_entity(in, n, i, &code) : 0;
        if (length == 0) {
            out[o++] = in[i++];
        } else if (code > 0x10FFFF) { /* kept as written (the shortest entity is 3 bytes, code 1) */
            memcpy(out + o, in + i, (size_t)length);
            o += length;
            i += length;
        } else {
            o += put_utf8(out + o, code); /* never more bytes than the entity: see the top */
            i += length;
        }
    }
    return o;
}

/* One whole-text decoder's answer: data itself when it lacks one of the bytes in ``needs`` or
 * decodes to itself (every escape shortens: the same length is the same text), else new bytes. */
static PyObject *decode_whole(PyObject *data, const unsigned char *in, Py_ssize_t n, const char *needs,
                              Py_ssize_t (*decode)(const unsigned char *, Py_ssize_t, unsigned char *))
{
    for (const char *need = needs; *need != '\0'; need++)
        if (!has_byte(in, n, *need))
            return Py_NewRef(data);
    unsigned char *out = PyMem_Malloc((size_t)n);
    if (out == NULL)
        return PyErr_NoMemory();
    Py_ssize_t o = decode(in, n, out);
    PyObject *result = o == n ? Py_NewRef(data) : PyBytes_FromStringAndSize((const char *)out, o);
    PyMem_Free(out);
    return result;
}

/* unescape_json(data) -> bytes: normalize.unescape_json. */
static PyObject *unescape_json_of(PyObject *data, const unsigned char *in, Py_ssize_t n)
{
    return decode_whole(data, in, n, "\\", json_unescape_into);
}
BYTES_FUNCTION(unescape_json)

/* decode_numeric_entities(data) -> bytes: normalize.decode_numeric_entities. */
static PyObject *decode_numeric_entities_of(PyObject *data, const unsigned char *in, Py_ssize_t n)
{
    return decode_whole(data, in, n, "&#", entities_into);
}
BYTES_FUNCTION(decode_numeric_entities)

#include "_decoders_fields.h" /* the field helpers built on the decoders above */
#include "_decoders_recorded.h" /* a recorded request's raw bytes and 'request' field */

static PyMethodDef module_methods[] = {
    {"decode_repeated", (PyCFunction)(void (*)(void))decode_repeated, METH_FASTCALL | METH_KEYWORDS,
     "decode_repeated(data, *, plus_is_space=False) -> bytes"},
    {"unescape_json", unescape_json, METH_O, "unescape_json(data) -> bytes"},
    {"decode_numeric_entities", decode_numeric_entities, METH_O, "decode_numeric_entities(data) -> bytes"},
    {"raw_plus_decoded", raw_plus_decoded, METH_O, "raw_plus_decoded(data) -> bytes | None ('+' a space)"},
    {"view_marks", view_marks, METH_O, "view_marks(raw) -> int: 1 '${', 2 '%' or overlong, 4 '\\', 8 '&#'"},
    {"head_folded", head_folded, METH_O, "head_folded(raw) -> bool: a folded line in the head"},
    {"head_bounds", head_bounds, METH_O, "head_bounds(raw) -> (head_end, body_start)"},
    {"target_fields", target_fields, METH_O, "target_fields(target) -> (path, query, url) | None (a lookup)"},
    {"recorded_raw", (PyCFunction)(void (*)(void))recorded_raw, METH_FASTCALL,
     "recorded_raw(method, target, version, headers, body) -> bytes | None (not latin-1)"},
    {"unix_head", (PyCFunction)(void (*)(void))unix_head, METH_FASTCALL,
     "unix_head(head, line_ends) -> bytes | None: '\\r\\n' made '\\n' when those are the only line ends"},
    {"recorded_fields", (PyCFunction)(void (*)(void))recorded_fields, METH_FASTCALL,
     "recorded_fields(raw, request) -> (line, method, target, path, query, url, request | None) | None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_decoders", "normalize.py's decoders in C (the same answers).", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__decoders(void)
{
    return PyModule_Create(&module_def);
}
