/* A whole extraction job in C, after _ioccollect.h (the collector; see its opening comment): a
 * job's layers as extract._text_layers makes them, each mined as extract._extract_layer mines it
 * (download commands, URLs, addresses), then the IOCs; BAIL (None: Python's job) wherever a layer
 * needs what is not written here. */

/* downloads.download_ops' answer applied, as extract._downloads does (``ops`` is kept: the
 * tables point into its bytes) */
static int apply_ops(Collector *c, PyObject *ops) {
    if (c->n_kept == JOB_MEMO) {
        Py_DECREF(ops);
        return BAIL;
    }
    c->kept[c->n_kept++] = ops;
    if (!PyTuple_Check(ops)) return BAIL;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(ops); k++) {
        PyObject *op = PyTuple_GET_ITEM(ops, k);
        if (!PyTuple_Check(op) || PyTuple_GET_SIZE(op) != 4) return BAIL;
        PyObject *where = PyTuple_GET_ITEM(op, 1), *port = PyTuple_GET_ITEM(op, 2);
        int role = role_index(PyTuple_GET_ITEM(op, 3)), is_url = PyObject_IsTrue(PyTuple_GET_ITEM(op, 0));
        if (is_url < 0) return -1; /* (its error is set) */
        if (role < 0 || !PyBytes_Check(where) || (port != Py_None && !PyBytes_Check(port))) return BAIL;
        Span at = {(const unsigned char *)PyBytes_AS_STRING(where), PyBytes_GET_SIZE(where)};
        Span port_at = {NULL, 0};
        if (port != Py_None) port_at = (Span){(const unsigned char *)PyBytes_AS_STRING(port), PyBytes_GET_SIZE(port)};
        int status = is_url ? add_url(c, at, role) : add_host(c, at, port_at, role);
        if (status != 0) return status;
    }
    return 0;
}

/* downloads._exfil's first tests: 0 when the arguments cannot be exfiltration, 1 when they may */
static int may_exfil(Span args) {
    const unsigned char *s = args.s;
    Py_ssize_t n = args.n;
    for (Py_ssize_t k = 0; k < n; k++)
        if (s[k] == '@' || s[k] == '`' || (s[k] == '$' && k + 1 < n && s[k + 1] == '(')) return 1;
    for (Py_ssize_t k = 0; k < n; k++)
        if (s[k] == '-' && (starts_with_caseless(s, n, k, "-t", 2) || starts_with_caseless(s, n, k, "--upload-file", 13) ||
                            starts_with_caseless(s, n, k, "--post-file", 11)))
            return 1;
    return 0;
}

/* One download command (s[start:end], its tool's name ending at tool_end): its URLs as downloads
 * when it cannot be exfiltration and names URLs (download_ops' answer then), else download_ops'. */
static int command(Collector *c, const unsigned char *s, Py_ssize_t start, Py_ssize_t tool_end, Py_ssize_t end) {
    int first = first_time(c, 1, (Span){s + start, end - start});
    if (first != 1) return first;
    Span args = {s + tool_end, end - tool_end};
    Py_ssize_t pos = 0, url_start, url_end;
    int status = 0, any = 0, exfil = may_exfil(args);
    while (!exfil && status == 0 && (url_end = find_url(args.s, args.n, pos, &url_start)) >= 0) {
        any = 1;
        status = add_url(c, (Span){args.s + url_start, url_end - url_start}, R_DOWNLOAD);
        pos = url_end;
    }
    if (any) return status;
    PyObject *tool = lowered_bytes(s, start, tool_end);
    PyObject *args_bytes = PyBytes_FromStringAndSize((const char *)args.s, args.n);
    PyObject *ops = tool && args_bytes ? PyObject_CallFunctionObjArgs(c->env->download_ops, tool, args_bytes, NULL)
                                       : NULL;
    Py_XDECREF(tool);
    Py_XDECREF(args_bytes);
    return ops == NULL ? -1 : apply_ops(c, ops);
}

/* extract._extract_layer for a layer whose extractors' gates are among DOWNLOAD, URL, IPV4 (see
 * source_layers) */
static int extract_layer(Collector *c, PyObject *text) {
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(text);
    Py_ssize_t n = PyBytes_GET_SIZE(text), pos, start, tool_end, end;
    int status = first_time(c, 0, (Span){s, n});
    if (status != 1) return status;
    status = 0;
    for (pos = 0; status == 0 && (end = find_command(s, n, pos, &start, &tool_end)) >= 0; pos = end)
        status = command(c, s, start, tool_end, end);
    for (pos = 0; status == 0 && (end = find_url(s, n, pos, &start)) >= 0; pos = end)
        status = add_url(c, (Span){s + start, end - start}, R_UNKNOWN);
    for (pos = 0; status == 0 && (end = find_ipv4(s, n, pos, &start)) >= 0; pos = end)
        status = add_host(c, (Span){s + start, end - start}, (Span){NULL, 0}, R_UNKNOWN);
    return status;
}

/* '+' with no whitespace in ``text``: form or query encoding (extract._text_layers) */
static int plus_encoded(PyObject *text) {
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(text);
    Py_ssize_t n = PyBytes_GET_SIZE(text);
    if (memchr(s, '+', (size_t)n) == NULL) return 0;
    for (Py_ssize_t k = 0; k < n; k++)
        if (is_space(s[k])) return 0;
    return 1;
}

/* text.replace(b"+", b" "), of at most MAX_TEXT_BYTES of it (layers.layers cuts it there) */
static PyObject *plus_as_space(PyObject *text) {
    Py_ssize_t n = PyBytes_GET_SIZE(text) < MAX_TEXT_BYTES ? PyBytes_GET_SIZE(text) : MAX_TEXT_BYTES;
    /* a new object (NULL contents): a one-byte one made from a string is CPython's shared one */
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL) return NULL;
    const char *from = PyBytes_AS_STRING(text);
    char *s = PyBytes_AS_STRING(out);
    for (Py_ssize_t k = 0; k < n; k++) s[k] = from[k] == '+' ? ' ' : from[k];
    return out;
}

typedef struct {
    PyObject *text; /* owned */
    int plus_is_space;
} Layer;

/* gates.py's SHELL, MINER, HASH, IMAGE, JNDI, NC: the extractors not written here */
#define G_UNHANDLED_EXTRACTORS ((1L << 1) | (1L << 2) | (1L << 3) | (1L << 6) | (1L << 7) | (1L << 13))

/* a Social Warfare fetch parameter (extract._extract_layer reads it before the URLs) */
static int swp_url(PyObject *layer) {
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(layer);
    Py_ssize_t n = PyBytes_GET_SIZE(layer);
    if (memchr(s, '_', (size_t)n) != NULL)
        for (Py_ssize_t k = 0; k + 7 <= n; k++)
            if (starts_with_caseless(s, n, k, "swp_url", 7)) return 1;
    return 0;
}

/* appends ``layer`` (a new reference, taken) */
static int push_layer(Layer *out, int *count, PyObject *layer, int plus_is_space) {
    if (*count >= JOB_LAYERS || swp_url(layer)) {
        Py_DECREF(layer);
        return BAIL;
    }
    out[(*count)++] = (Layer){layer, plus_is_space};
    return 0;
}

/* layers.layers(source): ``source`` (cut at MAX_TEXT_BYTES) alone when it holds no word of a gate
 * the job does not handle: then it opens only the DOWNLOAD, URL and IPV4 gates (and PAYLOAD, which
 * opens no extractor), and the scans of those find nothing where their gate is closed (each match
 * holds its gate's word or shape), so no Hyperscan scan is needed. Else Python's layers (the
 * decodings, with their gates), BAIL when one opens an extractor not written here: at once when
 * the text itself opens one (then Python would decode it twice). */
static int source_layers(const Env *env, PyObject *source, int plus_is_space, Layer *out, int *count) {
    Py_ssize_t n = PyBytes_GET_SIZE(source) < MAX_TEXT_BYTES ? PyBytes_GET_SIZE(source) : MAX_TEXT_BYTES;
    if (!holds_word(&UNHANDLED, (const unsigned char *)PyBytes_AS_STRING(source), n)) {
        PyObject *layer = n < PyBytes_GET_SIZE(source) ? PyBytes_FromStringAndSize(PyBytes_AS_STRING(source), n)
                                                       : Py_NewRef(source);
        return layer == NULL ? -1 : push_layer(out, count, layer, plus_is_space);
    }
    if (holds_word(&EXTRACTORS, (const unsigned char *)PyBytes_AS_STRING(source), n)) return BAIL;
    PyObject *decoded = PyObject_CallOneArg(env->layers, source);
    if (decoded == NULL) return -1;
    int status = PyList_Check(decoded) ? 0 : BAIL;
    for (Py_ssize_t k = 0; status == 0 && k < PyList_GET_SIZE(decoded); k++) {
        PyObject *item = PyList_GET_ITEM(decoded, k);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 || !PyBytes_CheckExact(PyTuple_GET_ITEM(item, 0)) ||
            !PyLong_Check(PyTuple_GET_ITEM(item, 1))) {
            status = BAIL;
            break;
        }
        long bits = PyLong_AsLong(PyTuple_GET_ITEM(item, 1));
        if (bits == -1 && PyErr_Occurred()) status = -1;
        else if (bits & G_UNHANDLED_EXTRACTORS) status = BAIL;
        else status = push_layer(out, count, Py_NewRef(PyTuple_GET_ITEM(item, 0)), plus_is_space);
    }
    Py_DECREF(decoded);
    return status;
}

/* the job's layers in extract._collect's order (each text's '+'-decoded layers, then as sent) */
static int job_layers(const Env *env, PyObject *texts, Layer *out, int *count) {
    Py_ssize_t n = PyTuple_GET_SIZE(texts);
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *text = PyTuple_GET_ITEM(texts, k);
        if (!PyBytes_CheckExact(text)) return BAIL;
        if (PyBytes_GET_SIZE(text) == 0) continue;
        int plus = plus_encoded(text);
        for (int variant = plus ? 0 : 1; variant < 2; variant++) {
            PyObject *source = variant == 0 ? plus_as_space(text) : Py_NewRef(text);
            if (source == NULL) return -1;
            int status = source_layers(env, source, variant == 1 && plus, out, count);
            Py_DECREF(source);
            if (status != 0) return status;
        }
    }
    return 0;
}

/* Collector.iocs */
static PyObject *iocs_of(const Collector *c) {
    PyObject *out = PyList_New(c->n_found);
    for (int k = 0; out != NULL && k < c->n_found; k++) {
        const Found *found = &c->found[k];
        PyObject *args[4] = {NULL, KIND_NAMES[found->kind], found->value, ROLE_NAMES[found->role]};
        PyObject *ioc = PyObject_Vectorcall(c->env->ioc, args + 1, PY_VECTORCALL_ARGUMENTS_OFFSET, IOC_KWNAMES);
        if (ioc == NULL) Py_CLEAR(out);
        else PyList_SET_ITEM(out, k, ioc);
    }
    return out;
}

/* own_names(host), remembered for the next job of the batch with the same host, and its names
 * when they are a few strs (compared in C), else n_ignored -1 (compared through the set) */
typedef struct {
    PyObject *host, *ignore; /* owned */
    PyObject *ignored[JOB_IGNORED]; /* held by the set */
    int n_ignored;
} OwnNames;

static int own_names_of(const Env *env, OwnNames *own, PyObject *host) {
    Span name = {(const unsigned char *)PyBytes_AS_STRING(host), PyBytes_GET_SIZE(host)};
    if (own->host != NULL &&
        same_span(name, (Span){(const unsigned char *)PyBytes_AS_STRING(own->host), PyBytes_GET_SIZE(own->host)}))
        return 0;
    PyObject *ignore = PyObject_CallOneArg(env->own_names, host);
    if (ignore == NULL) return -1;
    if (!PyAnySet_Check(ignore)) { /* (not remembered: the next job with this host asks again) */
        Py_DECREF(ignore);
        return BAIL;
    }
    Py_XSETREF(own->ignore, ignore);
    Py_XSETREF(own->host, Py_NewRef(host));
    own->n_ignored = -1;
    if (PySet_GET_SIZE(ignore) > JOB_IGNORED) return 0;
    PyObject *items = PySequence_List(ignore); /* (a set's items, without its private iteration) */
    if (items == NULL) return -1;
    own->n_ignored = 0;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(items) && own->n_ignored >= 0; k++) {
        PyObject *item = PyList_GET_ITEM(items, k);
        if (PyUnicode_CheckExact(item)) own->ignored[own->n_ignored++] = item;
        else own->n_ignored = -1;
    }
    Py_DECREF(items);
    return 0;
}

static void release(Collector *c) {
    for (int k = 0; k < c->n_found; k++) Py_DECREF(c->found[k].value);
    for (int k = 0; k < c->n_kept; k++) Py_DECREF(c->kept[k]);
}

/* the job's collector over its layers: 0, BAIL or -1 */
static int collect(Collector *c, const Layer *layers, int count) {
    int status = 0;
    for (int k = 0; k < count && status == 0; k++) {
        c->plus_is_space = layers[k].plus_is_space;
        status = extract_layer(c, layers[k].text);
    }
    return status;
}

/* One job: its IOCs, or None (Python's), or NULL on error. ``job`` is held by the caller's tuple
 * of jobs, and a job is a tuple: what it holds stays alive while callbacks run. */
static PyObject *run_job(const Env *env, OwnNames *own, PyObject *job) {
    if (!PyTuple_Check(job) || PyTuple_GET_SIZE(job) != 4) Py_RETURN_NONE;
    PyObject *endpoints = PyTuple_GET_ITEM(job, 3), *host = PyTuple_GET_ITEM(job, 1), *limit = PyTuple_GET_ITEM(job, 2);
    int has_endpoints = PyObject_IsTrue(endpoints);
    if (has_endpoints < 0) return NULL;
    if (has_endpoints || !PyBytes_CheckExact(host) || !PyLong_CheckExact(limit)) Py_RETURN_NONE;
    int overflow;
    long limit_value = PyLong_AsLongAndOverflow(limit, &overflow);
    if (overflow || limit_value > JOB_FOUND) Py_RETURN_NONE; /* a limit past what the table holds */
    /* a tuple of the texts (a list copied: a callback may change it); any other iterable is
     * Python's, which must not find it used up */
    PyObject *given = PyTuple_GET_ITEM(job, 0);
    if (!PyTuple_Check(given) && !PyList_Check(given)) Py_RETURN_NONE;
    PyObject *texts = PySequence_Tuple(given);
    if (texts == NULL) return NULL;
    Layer layers[JOB_LAYERS];
    int count = 0, status = job_layers(env, texts, layers, &count);
    Py_DECREF(texts);
    if (status == 0) status = own_names_of(env, own, host);
    PyObject *out = NULL;
    if (status == 0) {
        Collector c; /* (its tables are read up to their counts: only those are set) */
        c.env = env;
        c.ignore = own->ignore;
        c.n_ignored = own->n_ignored;
        memcpy(c.ignored, own->ignored, sizeof(c.ignored));
        c.limit = limit_value;
        c.plus_is_space = c.n_found = c.n_seen = c.n_hosts = c.n_urls = c.n_kept = 0;
        status = collect(&c, layers, count);
        out = status == 0 ? iocs_of(&c) : NULL;
        release(&c);
    }
    if (status == BAIL) out = Py_NewRef(Py_None);
    for (int k = 0; k < count; k++) Py_XDECREF(layers[k].text);
    return out;
}

/* run_jobs(jobs, layers, host_class, download_ops, own_names, Ioc) */
static PyObject *py_run_jobs(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "run_jobs takes 6 arguments");
        return NULL;
    }
    Env env = {args[1], args[2], args[3], args[4], args[5]};
    PyObject *jobs = PySequence_Tuple(args[0]); /* (a copy of a list: callbacks may change it) */
    if (jobs == NULL) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(jobs);
    PyObject *out = PyList_New(n);
    OwnNames own = {NULL, NULL, {NULL}, -1};
    for (Py_ssize_t k = 0; k < n && out != NULL; k++) {
        PyObject *found = run_job(&env, &own, PyTuple_GET_ITEM(jobs, k));
        if (found == NULL) Py_CLEAR(out);
        else PyList_SET_ITEM(out, k, found);
    }
    Py_XDECREF(own.host);
    Py_XDECREF(own.ignore);
    Py_DECREF(jobs);
    return out;
}
