/* The gates' answers run_jobs and what_to_extract need, without a Hyperscan scan: whether a text
 * holds one of a set of words (ignoring ASCII case, as gates.py's scan), and the address shape.
 * native_jobs.py checks the word lists against gates.py before using either function (JOB_CONSTANTS),
 * and the tests hold the answers to gates.gates / python_gates on hostile input. Included by
 * _iocscan.c after its scans. */

/* gates.py's bits */
#define G_PAYLOAD (1L << 14)
#define G_EXTRACTORS (G_PAYLOAD - 1)
#define SET_WORDS 64  /* words a set holds at most */
#define PER_FIRST 8   /* words of a set sharing a first byte, at most */

/* The words of the gates run_jobs does not handle (gates._WORDS but DOWNLOAD's and URL's), lower-case */
static const char *const UNHANDLED_WORDS[] = {
    "/dev/tcp", "/dev/udp", "connect((", "tcp:", "tcp4:", "tcp6:", "tcp-connect:", "ssl:", "openssl", "nc ",
    "ncat", "netcat", "xmr", "stratum", "miner", "nicehash", "pool", "wallet", "monero", "cryptonight",
    "randomx", "--user", "-u ", "sha256", "sha1", "md5", "hash", "checksum", "\"image\"", "${", "base64",
    "b64", "-enc", "atob(", "decode(", "\\x", "%", "\\u", "\\\"", "\\/", "$", "'", "\"", "\\", "{"};
/* SHELL's, NC's, MINER's, HASH's, IMAGE's and JNDI's words: the gates of the extractors run_jobs
 * does not handle (the first 30 words above) */
#define EXTRACTOR_WORDS 30
/* DOWNLOAD's and URL's words: with the ones above, every word of gates._WORDS */
static const char *const HANDLED_WORDS[] = {"wget", "curl", "tftp", "ftpget", "fetch", "lwp-download", "lynx",
                                            "aria2c", "://"};
/* gates._PAYLOAD's literal alternatives (its '\(\)\s*\{' is function_marker below) */
static const char *const PAYLOAD_WORDS[] = {"${", "$(", "`", "|", "wget", "curl", "/dev/", "base64", "jndi", "<?"};
#define COUNT(words) ((int)(sizeof(words) / sizeof(words[0])))

/* A set of words, indexed: a one-byte word's byte; the first two bytes of a longer word (the
 * first either case, the second lower-case) as bits, which reject most bytes of a text in two
 * loads; the words by their first byte (indices, ended by -1). */
typedef struct {
    const char *words[SET_WORDS];
    Py_ssize_t lengths[SET_WORDS];
    int count;
    unsigned char single[256], pairs[256][32];
    signed char by_first[256][PER_FIRST + 1];
} WordSet;

static WordSet UNHANDLED, EXTRACTORS, GATE_WORDS, PAYLOAD;

static int add_words(WordSet *set, const char *const *words, int count) {
    for (int k = 0; k < count; k++) {
        if (set->count == SET_WORDS) return -1;
        int w = set->count++;
        set->words[w] = words[k];
        set->lengths[w] = (Py_ssize_t)strlen(words[k]);
        unsigned char first = (unsigned char)words[k][0], second = (unsigned char)words[k][1];
        for (int variant = 0; variant < 2; variant++) {
            unsigned char c = variant && is_letter(first) ? (unsigned char)(first - 32) : first;
            if (variant && c == first) break;
            if (set->lengths[w] == 1) set->single[c] = 1;
            else set->pairs[c][second >> 3] |= (unsigned char)(1u << (second & 7));
            int at = 0;
            while (set->by_first[c][at] >= 0) at++;
            if (at == PER_FIRST) return -1;
            set->by_first[c][at] = (signed char)w;
        }
    }
    return 0;
}

static int index_word_sets(void) {
    WordSet *sets[] = {&UNHANDLED, &EXTRACTORS, &GATE_WORDS, &PAYLOAD};
    for (int k = 0; k < 4; k++) { /* (from empty: a second init must not append to the first's) */
        memset(sets[k], 0, sizeof(*sets[k]));
        memset(sets[k]->by_first, -1, sizeof(sets[k]->by_first));
    }
    return add_words(&UNHANDLED, UNHANDLED_WORDS, COUNT(UNHANDLED_WORDS)) < 0 ||
                   add_words(&EXTRACTORS, UNHANDLED_WORDS, EXTRACTOR_WORDS) < 0 ||
                   add_words(&GATE_WORDS, UNHANDLED_WORDS, COUNT(UNHANDLED_WORDS)) < 0 ||
                   add_words(&GATE_WORDS, HANDLED_WORDS, COUNT(HANDLED_WORDS)) < 0 ||
                   add_words(&PAYLOAD, PAYLOAD_WORDS, COUNT(PAYLOAD_WORDS)) < 0
               ? -1
               : 0;
}

/* whether s[:n] holds one of the set's words, ignoring ASCII case */
static int holds_word(const WordSet *set, const unsigned char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (set->single[s[i]]) return 1;
        if (i + 1 == n) break;
        unsigned char second = lower(s[i + 1]);
        if (!(set->pairs[s[i]][second >> 3] & (1u << (second & 7)))) continue;
        const signed char *words = set->by_first[s[i]];
        for (int k = 0; words[k] >= 0; k++)
            if (starts_with_caseless(s, n, i, set->words[words[k]], set->lengths[words[k]])) return 1;
    }
    return 0;
}

/* gates._IPV4 found in s[:n]: \d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3} somewhere. Its three dots have a
 * digit before the first, a run of one to three digits (all of it) between each two, and a digit
 * after the last. */
static Py_ssize_t digits_to_dot(const unsigned char *s, Py_ssize_t n, Py_ssize_t i) {
    Py_ssize_t j = i;
    while (j < n && j - i < 4 && is_digit(s[j])) j++;
    return j > i && j - i <= 3 && j < n && s[j] == '.' ? j : -1;
}

static int ipv4_shape(const unsigned char *s, Py_ssize_t n) {
    const unsigned char *dot = memchr(s, '.', (size_t)n);
    while (dot != NULL) {
        Py_ssize_t first = dot - s, second, third;
        if (first > 0 && is_digit(s[first - 1]) && (second = digits_to_dot(s, n, first + 1)) >= 0 &&
            (third = digits_to_dot(s, n, second + 1)) >= 0 && third + 1 < n && is_digit(s[third + 1]))
            return 1;
        dot = first + 1 < n ? memchr(s + first + 1, '.', (size_t)(n - first - 1)) : NULL;
    }
    return 0;
}

/* Shellshock's '() {': '()', whitespace (re's \s), '{' */
static int function_marker(const unsigned char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i + 2 < n; i++) {
        if (s[i] != '(' || s[i + 1] != ')') continue;
        Py_ssize_t j = i + 2;
        while (j < n && is_space(s[j])) j++;
        if (j < n && s[j] == '{') return 1;
    }
    return 0;
}

/* gates(text) & PAYLOAD != 0 (fields.looks_like_payload) */
static int looks_like_payload(const unsigned char *s, Py_ssize_t n) {
    return holds_word(&PAYLOAD, s, n) || function_marker(s, n);
}

/* gates(text) & EXTRACTORS != 0: a gate's word, or the address shape */
static int opens_a_gate(const unsigned char *s, Py_ssize_t n) { return holds_word(&GATE_WORDS, s, n) || ipv4_shape(s, n); }

/* ---- iocs._what_to_extract's bytes work (see its docstring) ---------------------------------- */

/* line + b"\n" + body if body else line, '+' read as a space: whether it opens a gate */
static int payload_opens_a_gate(PyObject *line, PyObject *body) {
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(line);
    Py_ssize_t n_line = PyBytes_GET_SIZE(line), n_body = PyBytes_GET_SIZE(body);
    if (n_body == 0 && memchr(s, '+', (size_t)n_line) == NULL) return opens_a_gate(s, n_line);
    Py_ssize_t n = n_line + (n_body ? 1 + n_body : 0); /* (sizes of bytes objects in memory: no overflow) */
    unsigned char *text = PyMem_Malloc(n ? (size_t)n : 1);
    if (text == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(text, s, (size_t)n_line);
    if (n_body) {
        text[n_line] = '\n';
        memcpy(text + n_line + 1, PyBytes_AS_STRING(body), (size_t)n_body);
    }
    for (Py_ssize_t k = 0; k < n; k++)
        if (text[k] == '+') text[k] = ' ';
    int opens = opens_a_gate(text, n);
    PyMem_Free(text);
    return opens;
}

static int holds(PyObject *bytes, const char *what, size_t len) {
    const char *s = PyBytes_AS_STRING(bytes);
    Py_ssize_t n = PyBytes_GET_SIZE(bytes);
    for (Py_ssize_t k = 0; k + (Py_ssize_t)len <= n; k++) {
        const char *at = memchr(s + k, what[0], (size_t)(n - k));
        if (at == NULL) return 0;
        k = at - s;
        if (k + (Py_ssize_t)len <= n && memcmp(at, what, len) == 0) return 1;
    }
    return 0;
}

/* what_to_extract(line, head, body): None, or whether a header value may look like a payload */
static PyObject *py_what_to_extract(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1]) || !PyBytes_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "what_to_extract(line: bytes, head: bytes, body: bytes)");
        return NULL;
    }
    PyObject *line = args[0], *head = args[1], *body = args[2];
    int head_payload = looks_like_payload((const unsigned char *)PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head));
    if (!head_payload) {
        int opens = payload_opens_a_gate(line, body);
        if (opens < 0) return NULL;
        if (!opens) Py_RETURN_NONE;
    }
    return PyBool_FromLong(head_payload || holds(head, "%", 1) || holds(head, "\n ", 2) || holds(head, "\n\t", 2));
}
