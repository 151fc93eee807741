/* The IOC extractors' widest scans in one pass each, in C: what ``re``'s findall / finditer give
 * for patterns.URL, patterns.IPV4 and patterns.DOWNLOAD_CMD (anchored.py holds the Python
 * versions, the fallback; the tests compare all three on random and hostile input).
 *
 * Each scan walks the text once, trying a match only where one can start (a word boundary before
 * a letter, a digit after neither a digit nor a '.'), and each try is bounded (a scheme of at most
 * 12 bytes, a URL tail of 2,048, four octets of at most three digits, command arguments of 1,024):
 * time is linear in the text, memory is the matches found (each a copy of at most ~3 KB of it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* bytes-pattern classes of Python's re (ASCII): \w, \s, \d */
static int is_word(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_letter(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

/* \b before a match starting with a word byte: the text's start or a non-word byte before it */
static int boundary_before(const unsigned char *s, Py_ssize_t i) { return i == 0 || !is_word(s[i - 1]); }

/* s[i:i+len(word)] equals the lower-case ``word``, ignoring ASCII case */
static int starts_with_caseless(const unsigned char *s, Py_ssize_t n, Py_ssize_t i, const char *word,
                                Py_ssize_t len) {
    if (len > n - i) return 0;
    for (Py_ssize_t k = 0; k < len; k++)
        if (lower(s[i + k]) != (unsigned char)word[k]) return 0;
    return 1;
}

/* appends s[start:end] to *list; on failure drops the list (*list becomes NULL) and gives -1 */
static int append_or_drop(PyObject **list, const unsigned char *s, Py_ssize_t start, Py_ssize_t end) {
    PyObject *item = PyBytes_FromStringAndSize((const char *)s + start, end - start);
    int failed = item == NULL || PyList_Append(*list, item) < 0;
    Py_XDECREF(item);
    if (failed) Py_CLEAR(*list);
    return failed ? -1 : 0;
}

/* ---- URL: \b(?:SCHEMES)://[^\s"'<>`|;,(){}\[\]\\^]{1,2048}, re.I ---------------------------- */

#define LONGEST_SCHEME 12 /* 'stratum2+tcp' */
#define URL_TAIL 2048
static const char *const SCHEMES[] = {"http", "https", "ftp", "tftp", "ldap", "ldaps", "rmi", "dns", "iiop",
                                      "corba", "nds", "nis", "stratum+tcp", "stratum+ssl", "stratum+tls",
                                      "stratum2+tcp", "ws", "wss"};

static int is_scheme_byte(unsigned char c) { return is_letter(c) || is_digit(c) || c == '+'; }

static int url_tail_byte(unsigned char c) {
    if (is_space(c)) return 0;
    switch (c) {
    case '"': case '\'': case '<': case '>': case '`': case '|': case ';': case ',':
    case '(': case ')': case '{': case '}': case '[': case ']': case '\\': case '^':
        return 0;
    default:
        return 1;
    }
}

static unsigned char URL_TAIL_BYTES[256]; /* url_tail_byte, as a table (init_tables) */

/* A scheme of the list ends right before a ':', and every byte of it is a scheme byte: the only
 * candidate at ``i`` is the run of scheme bytes from ``i``. Returns the match's end, or -1. */
static Py_ssize_t url_at(const unsigned char *s, Py_ssize_t n, Py_ssize_t i) {
    Py_ssize_t j = i;
    while (j < n && j - i <= LONGEST_SCHEME && is_scheme_byte(s[j])) j++;
    Py_ssize_t len = j - i;
    if (len < 2 || len > LONGEST_SCHEME || n - j < 4 || s[j] != ':' || s[j + 1] != '/' || s[j + 2] != '/') return -1;
    int known = 0;
    for (size_t k = 0; k < sizeof(SCHEMES) / sizeof(SCHEMES[0]) && !known; k++)
        known = (Py_ssize_t)strlen(SCHEMES[k]) == len && starts_with_caseless(s, n, i, SCHEMES[k], len);
    if (!known) return -1;
    Py_ssize_t start = j + 3, end = start, limit = n - start > URL_TAIL ? start + URL_TAIL : n;
    while (end < limit && URL_TAIL_BYTES[s[end]]) end++;
    return end > start ? end : -1;
}

/* The next "://" at or after ``pos``, or -1 (memchr to each ':'). */
static Py_ssize_t next_mark(const unsigned char *s, Py_ssize_t n, Py_ssize_t pos) {
    while (pos + 3 <= n) {
        const unsigned char *colon = memchr(s + pos, ':', (size_t)(n - 2 - pos));
        if (colon == NULL) return -1;
        Py_ssize_t at = colon - s;
        if (s[at + 1] == '/' && s[at + 2] == '/') return at;
        pos = at + 1;
    }
    return -1;
}

/* Every match holds "://" right after its scheme, at most LONGEST_SCHEME bytes after its start:
 * from one "://" to the next, the starts before it are tried in order. A match whose scheme ends
 * at an earlier "://" was tried there (a scheme holds no ':'), so the first found is re's.
 * The end of the first match at or after ``pos`` (its start in *start), or -1. */
static Py_ssize_t find_url(const unsigned char *s, Py_ssize_t n, Py_ssize_t pos, Py_ssize_t *start) {
    Py_ssize_t mark;
    while ((mark = next_mark(s, n, pos)) >= 0) {
        Py_ssize_t at = mark - LONGEST_SCHEME > pos ? mark - LONGEST_SCHEME : pos, end;
        for (; at < mark; at++)
            if (is_letter(s[at]) && boundary_before(s, at) && (end = url_at(s, n, at)) >= 0) {
                *start = at;
                return end;
            }
        pos = mark + 1;
    }
    return -1;
}

static PyObject *scan_urls(const unsigned char *s, Py_ssize_t n) {
    PyObject *out = PyList_New(0);
    Py_ssize_t pos = 0, start, end;
    while (out != NULL && (end = find_url(s, n, pos, &start)) >= 0) {
        if (append_or_drop(&out, s, start, end) < 0) return NULL;
        pos = end;
    }
    return out;
}

/* ---- IPv4: (?<![\d.])OCTET(?:\.OCTET){3}(?![\d]|\.\d), OCTET 25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d ---- */

/* The lengths an octet at ``i`` can take, in the order re tries them (its alternatives, then
 * [1-9]? greedy); ``lengths`` gets at most three. */
static int octet_lengths(const unsigned char *s, Py_ssize_t n, Py_ssize_t i, int lengths[3]) {
    int count = 0;
    if (i >= n || !is_digit(s[i])) return 0;
    unsigned char a = s[i], b = i + 1 < n ? s[i + 1] : 0, c = i + 2 < n ? s[i + 2] : 0;
    if (is_digit(b) && is_digit(c) &&
        (a == '1' || (a == '2' && b <= '4') || (a == '2' && b == '5' && c <= '5')))
        lengths[count++] = 3;
    if (a != '0' && is_digit(b)) lengths[count++] = 2;
    lengths[count++] = 1;
    return count;
}

/* The end of the address whose octet ``octet`` (0-3) starts at ``i``, trying each length in re's
 * order and backtracking as re does; -1 when none. At most 3^4 tries. */
static Py_ssize_t ipv4_from(const unsigned char *s, Py_ssize_t n, Py_ssize_t i, int octet) {
    int lengths[3];
    int count = octet_lengths(s, n, i, lengths);
    for (int k = 0; k < count; k++) {
        Py_ssize_t end = i + lengths[k];
        if (octet == 3) {
            int digit_next = end < n && is_digit(s[end]);
            int dot_digit_next = end + 1 < n && s[end] == '.' && is_digit(s[end + 1]);
            if (!digit_next && !dot_digit_next) return end;
        } else if (end < n && s[end] == '.') {
            Py_ssize_t found = ipv4_from(s, n, end + 1, octet + 1);
            if (found >= 0) return found;
        }
    }
    return -1;
}

/* The end of the first address at or after ``pos`` (its start in *start), or -1. */
static Py_ssize_t find_ipv4(const unsigned char *s, Py_ssize_t n, Py_ssize_t pos, Py_ssize_t *start) {
    for (Py_ssize_t i = pos; i < n; i++) {
        if (is_digit(s[i]) && (i == 0 || (!is_digit(s[i - 1]) && s[i - 1] != '.'))) {
            Py_ssize_t end = ipv4_from(s, n, i, 0);
            if (end >= 0) {
                *start = i;
                return end;
            }
        }
    }
    return -1;
}

static PyObject *scan_ipv4s(const unsigned char *s, Py_ssize_t n) {
    PyObject *out = PyList_New(0);
    Py_ssize_t pos = 0, start, end;
    while (out != NULL && (end = find_ipv4(s, n, pos, &start)) >= 0) {
        if (append_or_drop(&out, s, start, end) < 0) return NULL;
        pos = end;
    }
    return out;
}

/* ---- download commands: \b(TOOLS|busybox\s+(?:wget|tftp|ftpget))\b([^;|&\n`]{0,1024}), re.I ---- */

#define COMMAND_ARGS 1024

/* The end of ``word`` (``len`` bytes, lower-case) at ``i`` when a word boundary follows it, else -1. */
static Py_ssize_t word_at(const unsigned char *s, Py_ssize_t n, Py_ssize_t i, const char *word, Py_ssize_t len) {
    if (!starts_with_caseless(s, n, i, word, len)) return -1;
    Py_ssize_t end = i + len;
    return end == n || !is_word(s[end]) ? end : -1;
}

#define WORD_AT(word) word_at(s, n, i, word, (Py_ssize_t)sizeof(word) - 1)

/* The end of the tool's name (group 1) at ``i``, or -1. No two tools share a first letter and a
 * second, so trying them by their first letter keeps re's order of alternatives. */
static Py_ssize_t tool_at(const unsigned char *s, Py_ssize_t n, Py_ssize_t i) {
    Py_ssize_t end;
    switch (lower(s[i])) {
    case 'w': return WORD_AT("wget");
    case 'c': return WORD_AT("curl");
    case 't': return WORD_AT("tftp");
    case 'f': return (end = WORD_AT("ftpget")) >= 0 ? end : WORD_AT("fetch");
    case 'l': return (end = WORD_AT("lwp-download")) >= 0 ? end : WORD_AT("lynx");
    case 'a': return WORD_AT("aria2c");
    case 'b': break;
    default: return -1;
    }
    if (!starts_with_caseless(s, n, i, "busybox", 7)) return -1;
    Py_ssize_t j = i + 7;
    if (j >= n || !is_space(s[j])) return -1;
    while (j < n && is_space(s[j])) j++; /* \s+ greedy: no tool name starts with a space */
    if ((end = word_at(s, n, j, "wget", 4)) >= 0 || (end = word_at(s, n, j, "tftp", 4)) >= 0) return end;
    return word_at(s, n, j, "ftpget", 6);
}

static int command_arg_byte(unsigned char c) { return c != ';' && c != '|' && c != '&' && c != '\n' && c != '`'; }

/* The end of the first command at or after ``pos`` (its start in *start, its tool's end in
 * *tool_end), or -1. */
static int starts_a_tool(unsigned char c) {
    switch (lower(c)) {
    case 'w': case 'c': case 't': case 'f': case 'l': case 'a': case 'b':
        return 1;
    default:
        return 0;
    }
}

static unsigned char TOOL_STARTS[256]; /* starts_a_tool, as a table (init_tables) */

static Py_ssize_t find_command(const unsigned char *s, Py_ssize_t n, Py_ssize_t pos, Py_ssize_t *start,
                               Py_ssize_t *tool_end) {
    for (Py_ssize_t i = pos; i < n; i++) {
        Py_ssize_t name_end = TOOL_STARTS[s[i]] && boundary_before(s, i) ? tool_at(s, n, i) : -1;
        if (name_end < 0) continue;
        Py_ssize_t end = name_end;
        Py_ssize_t limit = n - name_end > COMMAND_ARGS ? name_end + COMMAND_ARGS : n;
        while (end < limit && command_arg_byte(s[end])) end++;
        *start = i;
        *tool_end = name_end;
        return end;
    }
    return -1;
}

/* bytes of s[start:end] lower-cased (a tool's name: busybox\s+ has no bound) */
static PyObject *lowered_bytes(const unsigned char *s, Py_ssize_t start, Py_ssize_t end) {
    PyObject *out = PyBytes_FromStringAndSize(NULL, end - start);
    if (out == NULL) return NULL;
    char *name = PyBytes_AS_STRING(out);
    for (Py_ssize_t k = 0; k < end - start; k++) name[k] = (char)lower(s[start + k]);
    return out;
}

static PyObject *scan_download_commands(const unsigned char *s, Py_ssize_t n) {
    PyObject *out = PyList_New(0);
    Py_ssize_t pos = 0, start, tool_end, end;
    while (out != NULL && (end = find_command(s, n, pos, &start, &tool_end)) >= 0) {
        PyObject *tool = lowered_bytes(s, start, tool_end);
        PyObject *item = tool == NULL ? NULL
                                      : Py_BuildValue("(y#Ny#)", (const char *)s + start, end - start, tool,
                                                      (const char *)s + tool_end, end - tool_end);
        if (item == NULL || PyList_Append(out, item) < 0) Py_CLEAR(out);
        Py_XDECREF(item);
        pos = end > start ? end : start + 1;
    }
    return out;
}

/* ---- a URL's parts: patterns.URL_PARTS, ^([A-Za-z0-9+.-]+)://(?:[^@/\s]{0,256}@)?(HOST)(?::(\d{1,5}))?
 * HOST: \[[0-9a-fA-F:]{2,39}\] or LABEL(?:\.LABEL){0,8}, LABEL [A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?
 * Everything after the host is optional, so re's first way through is the greedy one: each label
 * as long as it can be (ending with a letter or digit), then as many more as can follow. ---------- */

#define USERINFO 256

static int is_alnum(unsigned char c) { return is_letter(c) || is_digit(c); }
static int is_hex(unsigned char c) { return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f'); }

/* The end of the label at ``i``, or -1. */
static Py_ssize_t label_at(const unsigned char *s, Py_ssize_t n, Py_ssize_t i) {
    if (i >= n || !is_alnum(s[i])) return -1;
    Py_ssize_t end = i + 1, j = i + 1;
    while (j < n && j - i <= 63 && (is_alnum(s[j]) || s[j] == '-')) {
        j++;
        if (is_alnum(s[j - 1])) end = j; /* the longest run of at most 64 that ends with one */
    }
    return end;
}

/* The end of the host at ``i``, or -1. */
static Py_ssize_t host_at(const unsigned char *s, Py_ssize_t n, Py_ssize_t i) {
    if (i < n && s[i] == '[') {
        Py_ssize_t j = i + 1;
        while (j < n && j - (i + 1) < 39 && (is_hex(s[j]) || s[j] == ':')) j++;
        if (j - (i + 1) >= 2 && j < n && s[j] == ']') return j + 1;
        return -1; /* (a '[' starts no label) */
    }
    Py_ssize_t end = label_at(s, n, i);
    for (int more = 0; end >= 0 && more < 8 && end < n && s[end] == '.'; more++) {
        Py_ssize_t next = label_at(s, n, end + 1);
        if (next < 0) break;
        end = next;
    }
    return end;
}

/* Where URL_PARTS' groups are in ``s``: scheme s[0:colon], host s[start:host_end], port
 * s[host_end+1:port_end] (none when port_end == host_end). 0 when it does not match. */
typedef struct {
    Py_ssize_t colon, start, host_end, port_end;
} UrlParts;

static int find_url_parts(const unsigned char *s, Py_ssize_t n, UrlParts *parts) {
    Py_ssize_t colon = 0;
    while (colon < n && (is_alnum(s[colon]) || s[colon] == '+' || s[colon] == '.' || s[colon] == '-')) colon++;
    if (colon == 0 || n - colon < 3 || s[colon] != ':' || s[colon + 1] != '/' || s[colon + 2] != '/') return 0;
    Py_ssize_t after = colon + 3, start = after, host_end = -1;
    Py_ssize_t at = after;
    while (at < n && at - after < USERINFO && s[at] != '@' && s[at] != '/' && !is_space(s[at])) at++;
    if (at < n && s[at] == '@') { /* user-info, when a host follows it; else re tries without */
        host_end = host_at(s, n, at + 1);
        if (host_end >= 0) start = at + 1;
    }
    if (host_end < 0) host_end = host_at(s, n, after);
    if (host_end < 0) return 0;
    Py_ssize_t port_end = host_end;
    if (host_end + 1 < n && s[host_end] == ':' && is_digit(s[host_end + 1])) {
        port_end = host_end + 1;
        while (port_end < n && port_end - (host_end + 1) < 5 && is_digit(s[port_end])) port_end++;
    }
    parts->colon = colon;
    parts->start = start;
    parts->host_end = host_end;
    parts->port_end = port_end;
    return 1;
}

static PyObject *port_or_none(const unsigned char *s, const UrlParts *parts) {
    if (parts->port_end == parts->host_end) Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)s + parts->host_end + 1, parts->port_end - parts->host_end - 1);
}

/* (scheme, host, port or None), or None */
static PyObject *url_parts(const unsigned char *s, Py_ssize_t n) {
    UrlParts parts;
    if (!find_url_parts(s, n, &parts)) Py_RETURN_NONE;
    PyObject *port = port_or_none(s, &parts);
    if (port == NULL) return NULL;
    return Py_BuildValue("(y#y#N)", (const char *)s, parts.colon, (const char *)s + parts.start,
                         parts.host_end - parts.start, port);
}

/* collector._parsed_url: (the URL without trailing punctuation as text, whether its scheme is
 * stratum, its host, its port or None, its host lower-cased as text), or None. A host is ASCII
 * (letters, digits, '-', '.', or hex and ':' in brackets): lower-casing it is ASCII's. */
static PyObject *parse_url(const unsigned char *s, Py_ssize_t n) {
    while (n > 0 && strchr(".,:'\")", s[n - 1]) != NULL && s[n - 1] != '\0') n--;
    UrlParts parts;
    if (!find_url_parts(s, n, &parts)) Py_RETURN_NONE;
    int stratum = parts.colon >= 7 && starts_with_caseless(s, n, 0, "stratum", 7);
    Py_ssize_t host_len = parts.host_end - parts.start;
    PyObject *name = PyUnicode_New(host_len, 127);
    if (name == NULL) return NULL;
    Py_UCS1 *chars = PyUnicode_1BYTE_DATA(name);
    for (Py_ssize_t k = 0; k < host_len; k++) chars[k] = lower(s[parts.start + k]);
    PyObject *port = port_or_none(s, &parts);
    if (port == NULL) {
        Py_DECREF(name);
        return NULL;
    }
    PyObject *text = PyUnicode_DecodeLatin1((const char *)s, n, NULL);
    if (text == NULL) {
        Py_DECREF(name);
        Py_DECREF(port);
        return NULL;
    }
    return Py_BuildValue("(NOy#NN)", text, stratum ? Py_True : Py_False, (const char *)s + parts.start, host_len,
                         port, name);
}

#include "_iocgates.h"
#include "_ioccollect.h"
#include "_iocjob.h"

/* ---- the module --------------------------------------------------------------------------------- */

typedef PyObject *(*Scan)(const unsigned char *, Py_ssize_t);

static PyObject *run_scan(PyObject *arg, Scan scan) {
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "expected bytes");
        return NULL;
    }
    return scan((const unsigned char *)PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg));
}

/* the module's function ``name``: ``scan`` over one bytes argument */
#define SCAN_FUNCTION(name, scan)                                    \
    static PyObject *py_##name(PyObject *self, PyObject *arg) {      \
        (void)self;                                                  \
        return run_scan(arg, scan);                                  \
    }

SCAN_FUNCTION(urls, scan_urls)
SCAN_FUNCTION(ipv4s, scan_ipv4s)
SCAN_FUNCTION(download_commands, scan_download_commands)
SCAN_FUNCTION(url_parts, url_parts)
SCAN_FUNCTION(parse_url, parse_url)

static PyMethodDef methods[] = {
    {"urls", py_urls, METH_O, "patterns.URL.findall(text)"},
    {"ipv4s", py_ipv4s, METH_O, "patterns.IPV4.findall(text)"},
    {"download_commands", py_download_commands, METH_O,
     "(match, group 1 lower-cased, group 2) of each patterns.DOWNLOAD_CMD.finditer(text)"},
    {"url_parts", py_url_parts, METH_O, "patterns.URL_PARTS.match(url).groups(), or None"},
    {"parse_url", py_parse_url, METH_O, "collector._parsed_url(url) (see collector.py_parse_url)"},
    {"run_jobs", (PyCFunction)(void (*)(void))py_run_jobs, METH_FASTCALL,
     "run_jobs(jobs, layers, host_class, download_ops, own_names, Ioc): each job's IOCs, or None (see _ioccollect.h)"},
    {"what_to_extract", (PyCFunction)(void (*)(void))py_what_to_extract, METH_FASTCALL,
     "iocs._what_to_extract's answer from the payload parts (line, head, body)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_iocscan", "Native IOC scans (see anchored.py)", -1, methods,
    NULL, NULL, NULL, NULL,
};

/* the words as a tuple of bytes */
static PyObject *word_tuple(const char *const *words, int count) {
    PyObject *out = PyTuple_New(count);
    for (Py_ssize_t k = 0; out != NULL && k < count; k++) {
        PyObject *word = PyBytes_FromString(words[k]);
        if (word == NULL) Py_CLEAR(out);
        else PyTuple_SET_ITEM(out, k, word);
    }
    return out;
}

/* GATE_BITS and the other constants run_jobs hard-codes: extract.py uses it only when they are
 * gates.py's and collector.py's */
PyMODINIT_FUNC PyInit__iocscan(void) {
    for (int c = 0; c < 256; c++) {
        URL_TAIL_BYTES[c] = (unsigned char)url_tail_byte((unsigned char)c);
        TOOL_STARTS[c] = (unsigned char)starts_a_tool((unsigned char)c);
    }
    if (job_strings() < 0 || index_word_sets() < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    PyObject *benign = PyTuple_New(sizeof(BENIGN) / sizeof(BENIGN[0]));
    for (Py_ssize_t k = 0; benign != NULL && k < PyTuple_GET_SIZE(benign); k++) {
        PyObject *suffix = PyUnicode_FromString(BENIGN[k]);
        if (suffix == NULL) Py_CLEAR(benign);
        else PyTuple_SET_ITEM(benign, k, suffix);
    }
    PyObject *ranks = PyDict_New();
    for (int r = 0; ranks != NULL && r < R_COUNT; r++) {
        PyObject *rank = PyLong_FromLong(ROLE_RANK[r]);
        if (rank == NULL || PyDict_SetItem(ranks, ROLE_NAMES[r], rank) < 0) Py_CLEAR(ranks);
        Py_XDECREF(rank);
    }
    PyObject *unhandled = word_tuple(UNHANDLED_WORDS, COUNT(UNHANDLED_WORDS));
    PyObject *extractors = word_tuple(UNHANDLED_WORDS, EXTRACTOR_WORDS);
    PyObject *handled = word_tuple(HANDLED_WORDS, COUNT(HANDLED_WORDS));
    PyObject *payload = word_tuple(PAYLOAD_WORDS, COUNT(PAYLOAD_WORDS));
    PyObject *constants = benign && ranks && unhandled && extractors && handled && payload
                              ? Py_BuildValue("{s(lll)slsOsOsOsOsOsO}", "gates", G_PAYLOAD, G_EXTRACTORS,
                                              G_UNHANDLED_EXTRACTORS, "max_text_bytes", (long)MAX_TEXT_BYTES,
                                              "benign_suffixes", benign, "role_rank", ranks, "unhandled_words",
                                              unhandled, "extractor_words", extractors, "handled_words", handled,
                                              "payload_words", payload)
                              : NULL;
    Py_XDECREF(extractors);
    Py_XDECREF(unhandled);
    Py_XDECREF(handled);
    Py_XDECREF(payload);
    Py_XDECREF(benign);
    Py_XDECREF(ranks);
    if (constants == NULL || PyModule_AddObject(m, "JOB_CONSTANTS", constants) < 0) {
        Py_XDECREF(constants);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
