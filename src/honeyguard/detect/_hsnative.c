/* Hyperscan block-mode databases whose scan hands back the ids that matched, without a Python
 * callback per match (docs/rules.md, "The engine").
 *
 * Why native: the pip binding calls a Python function for every match (~2,200 instructions each,
 * several a request) and the hit set is then built in Python. Here the match callback is C: it
 * sets the id's bit in a per-database bitset, and the scan returns that bitset as a Python int
 * (bit i set: id i matched), which the engine ORs across fields and uses as a dictionary key.
 *
 * Linked against the system libhs (Debian's libhyperscan-dev); the pip wheel exports no symbols
 * and its serialised databases are never loaded here. Every call runs with the GIL held (a scan
 * is a few microseconds), so one scratch space for the whole process is never used by two scans
 * at once; it is grown for each database as it is made. The request head's split (request line,
 * header lines, head and body) is in _hsnative_split.h.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <hs.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#define MAX_ID (1u << 24) /* bitsets stay small: ids are rule atoms and factors (thousands) */

static PyObject *HsError;
static hs_scratch_t *scratch; /* one per process: scans hold the GIL (see above) */

typedef struct {
    PyObject_HEAD
    hs_database_t *db;
    unsigned char *bits; /* one bit per id (a match reported twice counts once); zero between scans */
    size_t size;         /* bytes in bits */
    unsigned int max_id; /* the largest id the database was made with */
    unsigned int *hits;  /* during a scan: the ids matched, each once (at most max_id + 1 of them) */
    size_t found;        /* how many */
    unsigned int top;    /* the highest id matched */
} Database;

static PyTypeObject DatabaseType;

static PyObject *hs_failure(const char *what, hs_error_t code)
{
    PyErr_Format(HsError, "hyperscan: %s failed (error %d)", what, (int)code);
    return NULL;
}

/* The database's bitset, sized for ids up to max_id, and the shared scratch grown for it. */
static PyObject *wrap(hs_database_t *db, unsigned int max_id)
{
    hs_error_t code = hs_alloc_scratch(db, &scratch);
    if (code != HS_SUCCESS) {
        hs_free_database(db);
        return hs_failure("hs_alloc_scratch", code);
    }
    /* a database made for another CPU (a cache copied over) is refused here, not mid-request */
    code = hs_scan(db, "", 0, 0, scratch, NULL, NULL);
    if (code != HS_SUCCESS) {
        hs_free_database(db);
        return hs_failure("a trial scan", code);
    }
    Database *self = PyObject_New(Database, &DatabaseType);
    if (self == NULL) {
        hs_free_database(db);
        return NULL;
    }
    self->db = db;
    self->size = (size_t)max_id / 8 + 1;
    self->max_id = max_id;
    self->found = 0;
    self->top = 0;
    self->bits = PyMem_Calloc(self->size, 1);
    self->hits = PyMem_Calloc((size_t)max_id + 1, sizeof(unsigned int));
    if (self->bits == NULL || self->hits == NULL) {
        Py_DECREF(self); /* dealloc frees the database */
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void database_dealloc(Database *self)
{
    if (self->db != NULL)
        hs_free_database(self->db);
    PyMem_Free(self->bits);
    PyMem_Free(self->hits);
    PyObject_Free(self);
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
                    void *context)
{
    (void)from;
    (void)to;
    (void)flags;
    Database *self = (Database *)context;
    size_t at = id >> 3;
    unsigned char bit = (unsigned char)(1u << (id & 7));
    /* (id <= max_id: always, for ids given at compile; a stray one is dropped) */
    if (id <= self->max_id && !(self->bits[at] & bit)) {
        self->bits[at] |= bit;
        self->hits[self->found++] = id; /* distinct ids <= max_id: never past the end */
        if (id > self->top)
            self->top = id;
    }
    return 0;
}

/* The ids matched as an int, the bitset cleared. On CPython 3.11 the int's 30-bit digits are
 * written directly (only the digits of ids that matched are touched: the generic conversion reads
 * every byte up to the highest id, ~2,000 instructions a prefilter scan). */
static PyObject *take_hits(Database *self)
{
    size_t found = self->found;
    PyObject *out;
    if (found == 0) {
        out = PyLong_FromLong(0);
    } else {
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
        Py_ssize_t digits = (Py_ssize_t)(self->top / PyLong_SHIFT) + 1;
        PyLongObject *value = _PyLong_New(digits);
        if (value != NULL) {
            memset(value->ob_digit, 0, (size_t)digits * sizeof(digit));
            for (size_t i = 0; i < found; i++) {
                unsigned int id = self->hits[i];
                value->ob_digit[id / PyLong_SHIFT] |= (digit)1 << (id % PyLong_SHIFT);
            }
        }
        out = (PyObject *)value; /* (the top digit holds the highest id's bit: normalised) */
#else
        out = _PyLong_FromByteArray(self->bits, (size_t)self->top / 8 + 1, 1, 0);
#endif
    }
    for (size_t i = 0; i < found; i++)
        self->bits[self->hits[i] >> 3] = 0;
    self->found = 0;
    self->top = 0;
    return out;
}

/* The ids matched in data as an int (bit i: id i), the bitset left zero. */
static PyObject *scan_one(Database *self, PyObject *data)
{
    Py_buffer view;
    int is_bytes = PyBytes_Check(data); /* (the engine's texts: no buffer to take and release) */
    if (is_bytes) {
        view.buf = PyBytes_AS_STRING(data);
        view.len = PyBytes_GET_SIZE(data);
    } else if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if ((size_t)view.len > UINT_MAX) {
        if (!is_bytes)
            PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "hyperscan scans at most 4 GiB at once");
        return NULL;
    }
    hs_error_t code = hs_scan(self->db, view.len ? (const char *)view.buf : "", (unsigned int)view.len, 0,
                              scratch, on_match, self);
    if (!is_bytes)
        PyBuffer_Release(&view);
    PyObject *found = take_hits(self);
    if (code != HS_SUCCESS) {
        Py_XDECREF(found);
        return hs_failure("hs_scan", code);
    }
    return found;
}

/* scan(data) -> int: bit i set when expression id i matched somewhere in data. */
static PyObject *database_scan(Database *self, PyObject *data)
{
    return scan_one(self, data);
}

/* scan_many(texts: list) -> list[int]: scan(text) for each, in a row (the database stays in the
 * CPU's caches: scanning a batch this way is several times cheaper than between other work). */
static PyObject *database_scan_many(Database *self, PyObject *texts)
{
    if (!PyList_Check(texts)) {
        PyErr_SetString(PyExc_TypeError, "scan_many takes a list");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(texts);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i >= PyList_GET_SIZE(texts)) { /* (no Python code runs here; this guards anyway) */
            PyErr_SetString(PyExc_RuntimeError, "the list changed size during scan_many");
            Py_DECREF(out);
            return NULL;
        }
        PyObject *text = PyList_GET_ITEM(texts, i);
        Py_INCREF(text);
        PyObject *found = scan_one(self, text);
        Py_DECREF(text);
        if (found == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, found);
    }
    return out;
}

/* serialize() -> bytes, for the on-disk cache (compiling a full rule set takes seconds). */
static PyObject *database_serialize(Database *self, PyObject *Py_UNUSED(ignored))
{
    char *bytes = NULL;
    size_t length = 0;
    hs_error_t code = hs_serialize_database(self->db, &bytes, &length);
    if (code != HS_SUCCESS)
        return hs_failure("hs_serialize_database", code);
    PyObject *out = PyBytes_FromStringAndSize(bytes, (Py_ssize_t)length);
    free(bytes); /* libhs allocates with malloc unless told otherwise */
    return out;
}

static PyMethodDef database_methods[] = {
    {"scan", (PyCFunction)database_scan, METH_O, "scan(data) -> int: bit i set when id i matched."},
    {"scan_many", (PyCFunction)database_scan_many, METH_O, "scan_many(texts) -> list[int]: scan of each."},
    {"serialize", (PyCFunction)database_serialize, METH_NOARGS, "serialize() -> bytes"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject DatabaseType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "honeyguard.detect._hsnative.Database",
    .tp_basicsize = sizeof(Database),
    .tp_dealloc = (destructor)database_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A compiled Hyperscan block-mode database (made by compile or deserialize).",
    .tp_methods = database_methods,
};

/* A list of ints, each < MAX_ID, into a new array; -1 with an exception set on failure. */
static int read_uints(PyObject *list, Py_ssize_t n, unsigned int *out, unsigned int *max_seen)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long value = PyLong_AsUnsignedLong(PyList_GET_ITEM(list, i));
        if (value == (unsigned long)-1 && PyErr_Occurred())
            return -1;
        if (value > UINT_MAX) {
            PyErr_SetString(PyExc_OverflowError, "id or flags out of range");
            return -1;
        }
        out[i] = (unsigned int)value;
        if (max_seen != NULL && out[i] > *max_seen)
            *max_seen = out[i];
    }
    return 0;
}

/* compile(expressions: list[bytes], ids: list[int], flags: list[int]) -> Database */
static PyObject *native_compile(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *expressions, *ids, *flags;
    if (!PyArg_ParseTuple(args, "O!O!O!", &PyList_Type, &expressions, &PyList_Type, &ids, &PyList_Type, &flags))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(expressions);
    if (n == 0 || n != PyList_GET_SIZE(ids) || n != PyList_GET_SIZE(flags) || n > (Py_ssize_t)MAX_ID) {
        PyErr_SetString(PyExc_ValueError, "expressions, ids and flags: as many of each, at least one");
        return NULL;
    }
    const char **texts = PyMem_Calloc((size_t)n, sizeof(char *));
    unsigned int *id_values = PyMem_Calloc((size_t)n, sizeof(unsigned int));
    unsigned int *flag_values = PyMem_Calloc((size_t)n, sizeof(unsigned int));
    PyObject *result = NULL;
    unsigned int max_id = 0;
    if (texts == NULL || id_values == NULL || flag_values == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(expressions, i);
        if (!PyBytes_Check(item) || (Py_ssize_t)strlen(PyBytes_AS_STRING(item)) != PyBytes_GET_SIZE(item)) {
            PyErr_SetString(PyExc_ValueError, "each expression: bytes without a NUL");
            goto done;
        }
        texts[i] = PyBytes_AS_STRING(item); /* the list holds the bytes for the compile's length */
    }
    if (read_uints(ids, n, id_values, &max_id) < 0 || read_uints(flags, n, flag_values, NULL) < 0)
        goto done;
    if (max_id >= MAX_ID) {
        PyErr_SetString(PyExc_ValueError, "an id is too large");
        goto done;
    }
    hs_database_t *db = NULL;
    hs_compile_error_t *error = NULL;
    hs_error_t code = hs_compile_multi(texts, flag_values, id_values, (unsigned int)n, HS_MODE_BLOCK, NULL, &db,
                                       &error);
    if (code != HS_SUCCESS) {
        if (error != NULL) {
            PyObject *value = Py_BuildValue("(si)", error->message, error->expression);
            if (value != NULL) {
                PyErr_SetObject(HsError, value);
                Py_DECREF(value);
            }
            hs_free_compile_error(error);
        } else {
            hs_failure("hs_compile_multi", code);
        }
        goto done;
    }
    result = wrap(db, max_id);
done:
    PyMem_Free(texts);
    PyMem_Free(id_values);
    PyMem_Free(flag_values);
    return result;
}

/* deserialize(blob: bytes, max_id: int) -> Database (what serialize gave, with the largest id). */
static PyObject *native_deserialize(PyObject *module, PyObject *args)
{
    (void)module;
    Py_buffer blob;
    unsigned int max_id;
    if (!PyArg_ParseTuple(args, "y*I", &blob, &max_id))
        return NULL;
    if (max_id >= MAX_ID) {
        PyBuffer_Release(&blob);
        PyErr_SetString(PyExc_ValueError, "an id is too large");
        return NULL;
    }
    hs_database_t *db = NULL;
    hs_error_t code = hs_deserialize_database((const char *)blob.buf, (size_t)blob.len, &db);
    PyBuffer_Release(&blob);
    if (code != HS_SUCCESS)
        return hs_failure("hs_deserialize_database", code);
    return wrap(db, max_id);
}

#include "_hsnative_split.h" /* the request head's split: request line, header lines, head and body */

static PyObject *native_version(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    (void)module;
    return PyUnicode_FromString(hs_version());
}

static PyMethodDef module_methods[] = {
    {"compile", native_compile, METH_VARARGS, "compile(expressions, ids, flags) -> Database (block mode)"},
    {"deserialize", native_deserialize, METH_VARARGS, "deserialize(blob, max_id) -> Database"},
    {"version", native_version, METH_NOARGS, "the libhs version string"},
    {"split_request_line", native_split_request_line, METH_O,
     "split_request_line(data) -> (method, target, version) | None"},
    {"split_header_lines", native_split_header_lines, METH_VARARGS,
     "split_header_lines(head, limit) -> list[tuple[bytes, bytes]]"},
    {"split_head", native_split_head, METH_VARARGS, "split_head(raw, limit, line, cls) -> cls(*line, headers, body) | None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_hsnative", "Hyperscan scans returning the matched ids as a bitset int.", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hsnative(void)
{
    if (hs_valid_platform() != HS_SUCCESS) {
        PyErr_SetString(PyExc_ImportError, "this CPU cannot run Hyperscan (SSSE3 needed)");
        return NULL;
    }
    if (PyType_Ready(&DatabaseType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL)
        return NULL;
    HsError = PyErr_NewException("honeyguard.detect._hsnative.error", NULL, NULL);
    if (HsError == NULL || PyModule_AddObjectRef(module, "error", HsError) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(&DatabaseType);
    if (PyModule_AddObject(module, "Database", (PyObject *)&DatabaseType) < 0) {
        Py_DECREF(&DatabaseType);
        Py_DECREF(module);
        return NULL;
    }
    struct {
        const char *name;
        long value;
    } constants[] = {
        {"HS_FLAG_CASELESS", HS_FLAG_CASELESS},   {"HS_FLAG_DOTALL", HS_FLAG_DOTALL},
        {"HS_FLAG_MULTILINE", HS_FLAG_MULTILINE}, {"HS_FLAG_SINGLEMATCH", HS_FLAG_SINGLEMATCH},
        {"HS_FLAG_PREFILTER", HS_FLAG_PREFILTER}, {"HS_FLAG_UTF8", HS_FLAG_UTF8},
    };
    for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++) {
        if (PyModule_AddIntConstant(module, constants[i].name, constants[i].value) < 0) {
            Py_DECREF(module);
            return NULL;
        }
    }
    return module;
}
