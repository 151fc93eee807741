/* The native groups oriented client -> server into conversations, as scan.py's CONVERSATIONS_SQL
 * does over ``pre`` (included by _fastscan.c only). Used when DuckDB's part holds no analysed
 * record: the conversations, their distinct addresses (all canonical dotted quads, so valid) and
 * which of those are internal are then exported as Arrow buffers, and ``conv``, ``addr`` and
 * ``edges`` need no SQL grouping or join. The fold touches no Python object (it runs without the
 * GIL); the export, at the end, builds the Python bytes. */
#ifndef HONEYGUARD_FASTSCAN_CONV_H
#define HONEYGUARD_FASTSCAN_CONV_H
#include "_fastscan_lines.h"

typedef struct {
    int64_t flows, accepted, probes, max_c2s, max_s2c, first, last;
    i128 c2s, s2c;
} Conv;

typedef struct {
    Conv *convs;
    Slot *keys; /* addrs: client << 32 | server; rest: port | proto << 16 */
    size_t n, cap;
    uint32_t *of_group; /* the conversation of each group (the scanners' groups one after another) */
    uint32_t *addrs;    /* the distinct addresses */
    size_t naddrs;
    Slot *slots; /* conversations by key; index 0 marks an empty slot */
    size_t nslots;
    uint32_t *aslots; /* the address set; 0 marks an empty slot, address 0 has ``zero`` */
    size_t naslots;
    int zero;
} Convs;

static void convs_free(Convs *c) {
    free(c->convs);
    free(c->keys);
    free(c->of_group);
    free(c->addrs);
    free(c->slots);
    free(c->aslots);
}

/* Open-addressing tables that start small and double at half full: the distinct addresses (tens of
 * thousands) then stay in cache, where a table sized for every group's ends would not. */
static int add_address(Convs *c, uint32_t ip) {
    if (!ip) {
        if (!c->zero) c->addrs[c->naddrs++] = 0;
        c->zero = 1;
        return 1;
    }
    if (2 * (c->naddrs + 1) > c->naslots) {
        size_t size = c->naslots ? 2 * c->naslots : 4096;
        uint32_t *slots = calloc(size, sizeof(uint32_t));
        if (!slots) return 0;
        for (size_t i = 0; i < c->naslots; i++) {
            uint32_t v = c->aslots[i];
            if (!v) continue;
            size_t j = (v * 0x9E3779B1u) & (size - 1);
            while (slots[j]) j = (j + 1) & (size - 1);
            slots[j] = v;
        }
        free(c->aslots);
        c->aslots = slots;
        c->naslots = size;
    }
    size_t mask = c->naslots - 1, j = (ip * 0x9E3779B1u) & mask;
    for (; c->aslots[j]; j = (j + 1) & mask)
        if (c->aslots[j] == ip) return 1;
    c->aslots[j] = ip;
    c->addrs[c->naddrs++] = ip;
    return 1;
}

static int grow_conv_slots(Convs *c) { return grow_slot_table(&c->slots, &c->nslots, 4096); }

/* The conversation of a key (``hash`` its hash_key), created if new; -1 when memory says no. */
static int64_t conv_of(Convs *c, uint64_t key, uint32_t service, uint64_t hash) {
    if (2 * (c->n + 1) > c->nslots && !grow_conv_slots(c)) return -1;
    size_t mask = c->nslots - 1, j = hash & mask;
    for (; c->slots[j].index; j = (j + 1) & mask)
        if (c->slots[j].addrs == key && c->slots[j].rest == service) return (int64_t)c->slots[j].index - 1;
    if (!add_address(c, (uint32_t)(key >> 32)) || !add_address(c, (uint32_t)key)) return -1;
    Conv *v = &c->convs[c->n];
    memset(v, 0, sizeof(Conv));
    v->first = INT64_MAX;
    v->last = INT64_MIN;
    c->slots[j] = (Slot){key, service, (uint32_t)++c->n};
    c->keys[c->n - 1] = c->slots[j];
    return (int64_t)c->n - 1;
}

static void fold_group(Conv *v, const Group *g, int from_client) {
    v->flows += g->flows;
    v->accepted += g->accepted;
    v->probes += g->probes;
    /* coalesce(max(max_bytes) FILTER (...), 0): a native record's bytes are never negative */
    if (from_client) {
        v->c2s += g->bytes;
        if (g->max_bytes > v->max_c2s) v->max_c2s = g->max_bytes;
    } else {
        v->s2c += g->bytes;
        if (g->max_bytes > v->max_s2c) v->max_s2c = g->max_bytes;
    }
    if (g->first < v->first) v->first = g->first;
    if (g->last > v->last) v->last = g->last;
}

#define FOLD_BATCH 16

/* Fold every group of the ``count`` scanners into its conversation; 0 when memory says no. Groups
 * go FOLD_BATCH at a time: their slots are prefetched, then looked up (prefetching the
 * conversations found), then folded, so that the cache misses of a batch overlap. */
static int fold_convs(Scanner *const *scanners, size_t count, Convs *c) {
    size_t groups = 0;
    for (size_t k = 0; k < count; k++) groups += scanners[k]->ngroups;
    c->cap = groups ? groups : 1;
    c->convs = malloc(c->cap * sizeof(Conv));
    c->keys = malloc(c->cap * sizeof(Slot));
    c->of_group = malloc(c->cap * sizeof(uint32_t));
    c->addrs = malloc((2 * c->cap + 1) * sizeof(uint32_t));
    if (!c->convs || !c->keys || !c->of_group || !c->addrs || !grow_conv_slots(c)) return 0;
    size_t at = 0;
    for (size_t k = 0; k < count; k++) {
        const Scanner *s = scanners[k];
        for (size_t first = 0; first < s->ngroups; first += FOLD_BATCH) {
            size_t n = s->ngroups - first < FOLD_BATCH ? s->ngroups - first : FOLD_BATCH;
            uint64_t keys[FOLD_BATCH], hashes[FOLD_BATCH];
            uint32_t services[FOLD_BATCH];
            for (size_t b = 0; b < n; b++) {
                uint64_t a = s->keys[first + b].addrs;
                uint32_t rest = s->keys[first + b].rest;
                keys[b] = rest >> 24 & 1 ? a : (a << 32 | a >> 32);
                services[b] = rest & 0xFFFFFF;
                hashes[b] = hash_key(keys[b], services[b]);
                __builtin_prefetch(&c->slots[hashes[b] & (c->nslots - 1)]);
            }
            for (size_t b = 0; b < n; b++) {
                int64_t index = conv_of(c, keys[b], services[b], hashes[b]);
                if (index < 0) return 0;
                c->of_group[at + first + b] = (uint32_t)index;
                __builtin_prefetch(&c->convs[index], 1);
            }
            for (size_t b = 0; b < n; b++) {
                int from_client = s->keys[first + b].rest >> 24 & 1;
                fold_group(&c->convs[c->of_group[at + first + b]], &s->groups[first + b], from_client);
            }
        }
        at += s->ngroups;
    }
    return 1;
}

/* ---- the export (with the GIL) ------------------------------------------------------- */

static size_t render_ipv4(char *out, uint32_t ip) {
    char *p = out;
    for (int shift = 24; shift >= 0; shift -= 8) {
        unsigned o = ip >> shift & 255;
        if (o >= 100) *p++ = (char)('0' + o / 100);
        if (o >= 10) *p++ = (char)('0' + o / 10 % 10);
        *p++ = (char)('0' + o % 10);
        if (shift) *p++ = '.';
    }
    return (size_t)(p - out);
}

/* A column of dotted quads as Arrow buffers: int32 offsets and text (a quad takes <= 15 bytes). */
static int text_column(const uint32_t *ips, size_t n, PyObject **offsets_out, PyObject **text_out) {
    PyObject *offsets = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((n + 1) * sizeof(int32_t)));
    PyObject *text = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 15 + 1));
    *offsets_out = offsets;
    *text_out = text;
    if (!offsets || !text) return 0;
    int32_t *at_offset = (int32_t *)PyBytes_AS_STRING(offsets);
    char *chars = PyBytes_AS_STRING(text);
    size_t at = 0;
    at_offset[0] = 0;
    for (size_t i = 0; i < n; i++) {
        at += render_ipv4(chars + at, ips[i]);
        at_offset[i + 1] = (int32_t)at;
    }
    return _PyBytes_Resize(text_out, (Py_ssize_t)(at ? at : 1)) == 0;
}

#define CONV_BUFFERS 24

/* The conversations' Arrow buffers (see conversation_tables in native_tables.py for their order).
 * ``s`` gives the internal ranges (every scanner has the same); the starts are the scanners'. */
static int export_convs(Scanner *const *scanners, size_t count, const Convs *c, PyObject **bufs, int *wide_out) {
    const Scanner *s = scanners[0];
    size_t n = c->n, m = 0, na = c->naddrs;
    for (size_t k = 0; k < count; k++) m += scanners[k]->nstarts;
    if (m > INT32_MAX) return PyErr_Format(PyExc_OverflowError, "too many starts"), 0;
    uint32_t *ends = calloc(2 * n + 1, sizeof(uint32_t));
    if (!ends) return PyErr_NoMemory(), 0;
    for (size_t i = 0; i < n; i++) {
        ends[i] = (uint32_t)(c->keys[i].addrs >> 32);
        ends[n + i] = (uint32_t)c->keys[i].addrs;
    }
    int ok = text_column(ends, n, &bufs[0], &bufs[1]) && text_column(ends + n, n, &bufs[2], &bufs[3]) &&
             text_column(c->addrs, na, &bufs[20], &bufs[21]);
    for (int i = 4; ok && i < 13; i++) ok = (bufs[i] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * 8))) != NULL;
    /* Byte sums as 64-bit integers when every one fits (DuckDB casts those to HUGEINT far more
     * cheaply than decimals), else as 16-byte integers (a decimal128(38, 0) array). */
    int wide = 0;
    for (size_t i = 0; i < n && !wide; i++) wide = c->convs[i].c2s > INT64_MAX || c->convs[i].s2c > INT64_MAX;
    size_t width = wide ? 16 : 8;
    *wide_out = wide;
    for (int i = 13; ok && i < 15; i++) ok = (bufs[i] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * width))) != NULL;
    for (int i = 15; ok && i < 17; i++) ok = (bufs[i] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n)) != NULL;
    ok = ok && (bufs[17] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((n + 1) * sizeof(int32_t)))) != NULL;
    for (int i = 18; ok && i < 20; i++) ok = (bufs[i] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(m * 8))) != NULL;
    ok = ok && (bufs[22] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(na * 8))) != NULL;
    ok = ok && (bufs[23] = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)na)) != NULL;
    if (ok) {
        int64_t *col[9];
        for (int i = 0; i < 9; i++) col[i] = (int64_t *)PyBytes_AS_STRING(bufs[4 + i]);
        char *c2s = PyBytes_AS_STRING(bufs[13]), *s2c = PyBytes_AS_STRING(bufs[14]);
        int8_t *client_internal = (int8_t *)PyBytes_AS_STRING(bufs[15]);
        int8_t *server_internal = (int8_t *)PyBytes_AS_STRING(bufs[16]);
        for (size_t i = 0; i < n; i++) {
            const Conv *v = &c->convs[i];
            int64_t values[9] = {c->keys[i].rest & 0xFFFF, c->keys[i].rest >> 16 & 0xFF, v->flows, v->accepted,
                                 v->probes, v->max_c2s, v->max_s2c, v->first, v->last};
            for (int k = 0; k < 9; k++) col[k][i] = values[k];
            if (wide) {
                memcpy(c2s + 16 * i, &v->c2s, 16);
                memcpy(s2c + 16 * i, &v->s2c, 16);
            } else {
                int64_t narrow[2] = {(int64_t)v->c2s, (int64_t)v->s2c};
                memcpy(c2s + 8 * i, &narrow[0], 8);
                memcpy(s2c + 8 * i, &narrow[1], 8);
            }
            client_internal[i] = (int8_t)is_internal(s, ends[i]);
            server_internal[i] = (int8_t)is_internal(s, ends[n + i]);
        }
        /* The starts as an Arrow list per conversation: counted, then placed (a counting sort). */
        int32_t *offsets = (int32_t *)PyBytes_AS_STRING(bufs[17]);
        int64_t *st = (int64_t *)PyBytes_AS_STRING(bufs[18]), *sp = (int64_t *)PyBytes_AS_STRING(bufs[19]);
        memset(offsets, 0, (n + 1) * sizeof(int32_t));
        for (size_t k = 0, base = 0; k < count; base += scanners[k++]->ngroups)
            for (size_t i = 0; i < scanners[k]->nstarts; i++) offsets[c->of_group[base + scanners[k]->starts[i].group] + 1]++;
        for (size_t i = 0; i < n; i++) offsets[i + 1] += offsets[i];
        for (size_t k = 0, base = 0; k < count; base += scanners[k++]->ngroups)
            for (size_t i = 0; i < scanners[k]->nstarts; i++) {
                const Start *start = &scanners[k]->starts[i];
                int32_t at = offsets[c->of_group[base + start->group]]++;
                st[at] = start->t;
                sp[at] = start->port;
            }
        for (size_t i = n; i > 0; i--) offsets[i] = offsets[i - 1]; /* each list's end moved back one */
        offsets[0] = 0;
        int64_t *v4 = (int64_t *)PyBytes_AS_STRING(bufs[22]);
        int8_t *internal = (int8_t *)PyBytes_AS_STRING(bufs[23]);
        for (size_t i = 0; i < na; i++) {
            v4[i] = c->addrs[i];
            internal[i] = (int8_t)is_internal(s, c->addrs[i]);
        }
    }
    free(ends);
    return ok;
}

#endif
