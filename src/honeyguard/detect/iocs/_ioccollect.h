/* A whole extraction job in C (run_jobs, see native_jobs.py): extract._collect over
 * extract._text_layers, for the jobs whose layers open only the DOWNLOAD, URL and IPV4 extractors
 * (a plain dropper command line, most exploit targets; the decodings are layers.layers', called
 * back). Anything else (the shell, nc, miner, image, hash or JNDI extractors, a Social Warfare
 * fetch parameter, known endpoints, text that is not bytes, a limit above JOB_FOUND, more layers
 * or download_ops answers than its tables hold) answers None, and extract.py runs that job in
 * Python, the reference. Included by _iocscan.c after _iocgates.h; _iocjob.h (the job over its
 * layers and commands) follows.
 *
 * This part is the collector: collector.Collector, step for step, on small tables in C (the
 * first-time set, the rank memos, the IOCs found in order): a plain dropper's job makes no Python
 * object but its IOCs. What a host is (collector.host_class) is decided here for dotted quads, by
 * ipaddress's rules; other hosts, own_names and download_ops (for the commands not answered here)
 * are the memoised Python functions, called back. The spans in the tables point into bytes
 * objects the job holds (its layers, download_ops' answers) until it ends. */

#define MAX_TEXT_BYTES (64 * 1024) /* layers.MAX_TEXT_BYTES */
#define JOB_FOUND 64               /* collector.MAX_IOCS: a higher limit is Python's job */
#define JOB_MEMO 128               /* entries of each memo below (and answers kept: more is Python's job) */
#define JOB_LAYERS 64              /* more layers: Python's job */
#define JOB_IGNORED 4              /* own names compared here (own_names gives two at most) */

/* collector.ROLE_RANK, in this order; ROLE_NAMES are the role strings */
enum { R_UNKNOWN, R_DOWNLOAD, R_MINER, R_EXFIL, R_CALLBACK, R_C2, R_COUNT };
static const int ROLE_RANK[R_COUNT] = {0, 2, 3, 3, 4, 4};
static const char *const ROLE_TEXT[R_COUNT] = {"unknown", "download", "miner-pool", "exfil", "callback", "c2"};
enum { K_URL, K_IP, K_DOMAIN, K_PORT, K_COUNT };
static const char *const KIND_TEXT[K_COUNT] = {"url", "ip", "domain", "port"};
static const char *const BENIGN[] = {"w3.org", "xmlsoap.org", "openxmlformats.org", "schemas.microsoft.com",
                                     "purl.org", "java.sun.com", "springframework.org", "apache.org"};

/* interned strings, made once by job_strings() */
static PyObject *ROLE_NAMES[R_COUNT], *KIND_NAMES[K_COUNT], *S_LOWER, *IOC_KWNAMES;

#define BAIL (-2) /* the job is Python's: return None for it */

typedef struct {
    PyObject *layers, *host_class, *download_ops, *own_names, *ioc; /* borrowed from the call */
} Env;

typedef struct {
    const unsigned char *s;
    Py_ssize_t n;
} Span;

typedef struct {
    int kind, role;
    PyObject *value; /* str, owned */
} Found;

typedef struct {
    int what, plus; /* what: a layer (0) or a download command (1) */
    Span text;
} Seen;

typedef struct {
    Span host, port; /* port.s NULL: None */
    int rank;
} HostRank;

typedef struct {
    Span url;
    int cut, rank;
} UrlRank;

typedef struct {
    const Env *env;
    PyObject *ignore; /* own_names(host), borrowed */
    PyObject *ignored[JOB_IGNORED];
    int n_ignored; /* -1: compare through the set */
    Py_ssize_t limit;
    int plus_is_space, n_found, n_seen, n_hosts, n_urls, n_kept;
    Found found[JOB_FOUND];
    Seen seen[JOB_MEMO];
    HostRank hosts[JOB_MEMO];
    UrlRank urls[JOB_MEMO];
    PyObject *kept[JOB_MEMO]; /* download_ops' answers the spans point into */
} Collector;

static int job_strings(void) {
    for (int r = 0; r < R_COUNT; r++)
        if ((ROLE_NAMES[r] = PyUnicode_InternFromString(ROLE_TEXT[r])) == NULL) return -1;
    for (int k = 0; k < K_COUNT; k++)
        if ((KIND_NAMES[k] = PyUnicode_InternFromString(KIND_TEXT[k])) == NULL) return -1;
    S_LOWER = PyUnicode_InternFromString("lower");
    IOC_KWNAMES = Py_BuildValue("(sss)", "type", "value", "role");
    return S_LOWER && IOC_KWNAMES ? 0 : -1;
}

static int same_span(Span a, Span b) { return a.n == b.n && (a.n == 0 || memcmp(a.s, b.s, (size_t)a.n) == 0); }

/* Collector.first_time: 1 the first time, 0 after. Like the rank memos below, it only spares
 * work (what it skips would change nothing): past JOB_MEMO entries the work is done again. */
static int first_time(Collector *c, int what, Span text) {
    for (int k = 0; k < c->n_seen; k++)
        if (c->seen[k].what == what && c->seen[k].plus == c->plus_is_space && same_span(c->seen[k].text, text))
            return 0;
    if (c->n_seen < JOB_MEMO) c->seen[c->n_seen++] = (Seen){what, c->plus_is_space, text};
    return 1;
}

/* ASCII s[:n] lower-cased is one of the own names compared in C */
static int ignored_ascii(const Collector *c, const unsigned char *s, Py_ssize_t n) {
    for (int k = 0; k < c->n_ignored; k++) {
        PyObject *own = c->ignored[k];
        if (!PyUnicode_IS_ASCII(own) || PyUnicode_GET_LENGTH(own) != n) continue;
        const Py_UCS1 *o = PyUnicode_1BYTE_DATA(own);
        Py_ssize_t i = 0;
        while (i < n && lower(s[i]) == o[i]) i++;
        if (i == n) return 1;
    }
    return 0;
}

/* value.lower() in ignore (value a str); -1 on error */
static int ignored(const Collector *c, PyObject *value) {
    if (c->n_ignored == 0) return 0; /* (no own name) */
    if (c->n_ignored > 0 && PyUnicode_IS_ASCII(value))
        return ignored_ascii(c, PyUnicode_1BYTE_DATA(value), PyUnicode_GET_LENGTH(value));
    PyObject *lowered = PyObject_CallMethodNoArgs(value, S_LOWER);
    if (lowered == NULL) return -1;
    int found = PySet_Contains(c->ignore, lowered);
    Py_DECREF(lowered);
    return found;
}

static int same_text(PyObject *a, PyObject *b) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    int kind = PyUnicode_KIND(a); /* (a str's kind is the narrowest that holds it: equal strs share it) */
    return a == b || (n == PyUnicode_GET_LENGTH(b) && kind == (int)PyUnicode_KIND(b) &&
                      memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)(n * kind)) == 0);
}

/* Collector.add; ``value`` (a str) borrowed */
static int add(Collector *c, int kind, PyObject *value, int role) {
    if (PyUnicode_GET_LENGTH(value) == 0) return 0;
    int own = ignored(c, value);
    if (own != 0) return own < 0 ? -1 : 0;
    for (int k = 0; k < c->n_found; k++) {
        Found *old = &c->found[k];
        if (old->kind == kind && same_text(old->value, value)) {
            if (ROLE_RANK[role] > ROLE_RANK[old->role]) old->role = role;
            return 0;
        }
    }
    if (c->n_found < c->limit) c->found[c->n_found++] = (Found){kind, role, Py_NewRef(value)};
    return 0;
}

/* int(port) for 1 to 5 ASCII digits, else -1 */
static long port_number(Span port) {
    if (port.n < 1 || port.n > 5) return -1;
    long value = 0;
    for (Py_ssize_t k = 0; k < port.n; k++) {
        if (!is_digit(port.s[k])) return -1;
        value = value * 10 + (port.s[k] - '0');
    }
    return value;
}

/* rank memo of hosts: 1 when met with a rank >= ``rank`` (skip), else records it and gives 0 */
static int host_met(Collector *c, Span host, Span port, int rank) {
    for (int k = 0; k < c->n_hosts; k++) {
        HostRank *old = &c->hosts[k];
        if ((old->port.s == NULL) == (port.s == NULL) && same_span(old->host, host) &&
            (port.s == NULL || same_span(old->port, port))) {
            if (old->rank >= rank) return 1;
            old->rank = rank;
            return 0;
        }
    }
    if (c->n_hosts < JOB_MEMO) c->hosts[c->n_hosts++] = (HostRank){host, port, rank};
    return 0;
}

/* ipaddress.ip_address(name) for a name of digits and dots: 1 and the address when it is an
 * IPv4 address (four decimal octets of at most 255, no leading zero), else 0 */
static int ipv4_address(Span name, unsigned long *address) {
    unsigned long value = 0;
    int octets = 0;
    Py_ssize_t at = 0;
    while (octets < 4) {
        Py_ssize_t start = at;
        unsigned long octet = 0;
        while (at < name.n && is_digit(name.s[at]) && at - start < 4) octet = octet * 10 + (name.s[at++] - '0');
        Py_ssize_t len = at - start;
        if (len == 0 || len > 3 || octet > 255 || (len > 1 && name.s[start] == '0')) return 0;
        value = value << 8 | octet;
        octets++;
        if (octets < 4) {
            if (at >= name.n || name.s[at] != '.') return 0;
            at++;
        }
    }
    *address = value;
    return at == name.n;
}

/* hosts._routable for an IPv4 address: not loopback, unspecified, multicast, link-local or the
 * broadcast address */
static int routable(unsigned long a) {
    return (a >> 24) != 127 && a != 0 && (a >> 28) != 14 && (a >> 16) != 0xA9FE && a != 0xFFFFFFFFUL;
}

/* collector.host_class: the name in *name (new), its kind (K_IP, K_DOMAIN, or -1 for neither),
 * whether a pool's, whether benign. Dotted quads here; the rest through the Python function. */
static int host_class(Collector *c, Span host, PyObject **name, int *kind, int *pool, int *benign) {
    Py_ssize_t n = host.n, k = 0;
    while (k < n && (is_digit(host.s[k]) || host.s[k] == '.')) k++;
    if (k == n) { /* digits and dots: an address or nothing (a domain's top label is letters) */
        while (n > 0 && host.s[n - 1] == '.') n--; /* (its name: .rstrip(".")) */
        unsigned long address;
        *kind = ipv4_address((Span){host.s, n}, &address) && routable(address) ? K_IP : -1;
        *pool = *benign = 0;
        *name = PyUnicode_DecodeLatin1((const char *)host.s, n, NULL);
        return *name == NULL ? -1 : 0;
    }
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)host.s, host.n);
    PyObject *class = bytes == NULL ? NULL : PyObject_CallOneArg(c->env->host_class, bytes);
    Py_XDECREF(bytes);
    if (class == NULL) return -1;
    int status = BAIL;
    if (PyTuple_Check(class) && PyTuple_GET_SIZE(class) == 4 && PyUnicode_Check(PyTuple_GET_ITEM(class, 0))) {
        PyObject *what = PyTuple_GET_ITEM(class, 1);
        int text = PyUnicode_Check(what);
        *kind = text && PyUnicode_Compare(what, KIND_NAMES[K_IP]) == 0       ? K_IP
                : text && PyUnicode_Compare(what, KIND_NAMES[K_DOMAIN]) == 0 ? K_DOMAIN
                                                                            : -1;
        *pool = PyObject_IsTrue(PyTuple_GET_ITEM(class, 2));
        *benign = PyObject_IsTrue(PyTuple_GET_ITEM(class, 3));
        *name = Py_NewRef(PyTuple_GET_ITEM(class, 0));
        status = *pool < 0 || *benign < 0 ? -1 : 0;
        if (status < 0) Py_CLEAR(*name);
    }
    Py_DECREF(class);
    return status;
}

/* name in ignore, for a name already lower-cased */
static int own_name(const Collector *c, PyObject *name) {
    return PyUnicode_IS_ASCII(name) ? ignored(c, name) : PySet_Contains(c->ignore, name);
}

/* Collector.host; port.s NULL for None */
static int add_host(Collector *c, Span host, Span port, int role) {
    if (port.s != NULL && port.n > 0 && port_number(port) < 0) return BAIL;
    int skip = host_met(c, host, port, ROLE_RANK[role]);
    if (skip != 0) return skip == 1 ? 0 : skip;
    PyObject *name;
    int kind, pool, benign;
    int status = host_class(c, host, &name, &kind, &pool, &benign);
    if (status != 0) return status;
    if (kind == K_IP) status = add(c, K_IP, name, role);
    else if (kind == K_DOMAIN && !(benign && role == R_UNKNOWN)) status = add(c, K_DOMAIN, name, pool ? R_MINER : role);
    else status = 1; /* neither, or a benign domain met as unknown: no port either */
    if (status == 0 && port.s != NULL && port.n > 0) {
        long number = port_number(port);
        int own = own_name(c, name);
        if (own < 0) status = -1;
        else if (!own && number > 0 && number < 65536) {
            PyObject *text = PyUnicode_FromFormat("%ld", number);
            status = text == NULL ? -1 : add(c, K_PORT, text, role);
            Py_XDECREF(text);
        }
    }
    Py_DECREF(name);
    return status == 1 ? 0 : status;
}

/* rank memo of URLs, as host_met */
static int url_met(Collector *c, Span url, int cut, int rank) {
    for (int k = 0; k < c->n_urls; k++) {
        UrlRank *old = &c->urls[k];
        if (old->cut == cut && same_span(old->url, url)) {
            if (old->rank >= rank) return 1;
            old->rank = rank;
            return 0;
        }
    }
    if (c->n_urls < JOB_MEMO) c->urls[c->n_urls++] = (UrlRank){url, cut, rank};
    return 0;
}

static int ends_with(const unsigned char *s, Py_ssize_t n, const char *suffix) {
    Py_ssize_t len = (Py_ssize_t)strlen(suffix);
    return len <= n && memcmp(s + n - len, suffix, (size_t)len) == 0;
}

/* Collector.url */
static int add_url(Collector *c, Span url, int role) {
    const unsigned char *s = url.s, *plus = c->plus_is_space ? memchr(s, '+', (size_t)url.n) : NULL;
    Py_ssize_t n = plus != NULL ? plus - s : url.n;
    int skip = url_met(c, url, plus != NULL, ROLE_RANK[role]);
    if (skip != 0) return skip == 1 ? 0 : skip;
    /* collector.py_parse_url */
    while (n > 0 && s[n - 1] != '\0' && strchr(".,:'\")", s[n - 1]) != NULL) n--;
    UrlParts parts;
    if (!find_url_parts(s, n, &parts)) return 0;
    if (parts.colon >= 7 && starts_with_caseless(s, n, 0, "stratum", 7)) role = R_MINER;
    Py_ssize_t host_len = parts.host_end - parts.start;
    unsigned char name[640]; /* a host is at most 9 labels of 64 bytes and their dots, or 41 bytes */
    if (host_len > (Py_ssize_t)sizeof(name)) return BAIL;
    for (Py_ssize_t k = 0; k < host_len; k++) name[k] = lower(s[parts.start + k]);
    if (role == R_UNKNOWN)
        for (size_t k = 0; k < sizeof(BENIGN) / sizeof(BENIGN[0]); k++)
            if (ends_with(name, host_len, BENIGN[k])) return 0;
    /* (a host is ASCII: its name is compared in C where the own names are) */
    int own = c->n_ignored >= 0 ? ignored_ascii(c, name, host_len) : -2;
    if (own == -2) {
        PyObject *name_text = PyUnicode_DecodeLatin1((const char *)name, host_len, NULL);
        own = name_text == NULL ? -1 : PySet_Contains(c->ignore, name_text);
        Py_XDECREF(name_text);
    }
    if (own != 0) return own < 0 ? -1 : 0;
    PyObject *text = PyUnicode_DecodeLatin1((const char *)s, n, NULL);
    if (text == NULL) return -1;
    int status = add(c, K_URL, text, role);
    Py_DECREF(text);
    Span host = {s + parts.start, host_len};
    Span port = {parts.port_end == parts.host_end ? NULL : s + parts.host_end + 1, parts.port_end - parts.host_end - 1};
    return status == 0 ? add_host(c, host, port, role) : status;
}

static int role_index(PyObject *role) {
    for (int r = 0; r < R_COUNT; r++)
        if (role == ROLE_NAMES[r] || (PyUnicode_Check(role) && PyUnicode_Compare(role, ROLE_NAMES[r]) == 0)) return r;
    return -1;
}
