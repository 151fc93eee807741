/* The line parser and the group table of the native flow reader (included by _fastscan.c only).
 * No Python object is touched here: all of it runs without the GIL. */
#ifndef HONEYGUARD_FASTSCAN_LINES_H
#define HONEYGUARD_FASTSCAN_LINES_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 1024 /* longer lines are never well-formed records: leftover */

typedef __int128 i128;

typedef struct {
    uint64_t addrs; /* src << 32 | dst */
    uint32_t rest;  /* port | proto << 16 | from_client << 24 */
    uint32_t index; /* group index + 1; 0: an empty slot */
} Slot;

/* One cache line: the table probes slots (keys inline), then touches one line per record. */
typedef struct {
    int64_t flows, accepted, probes, max_bytes, first, last;
    i128 bytes;
} Group;

/* A parsed well-formed record waiting in a batch (lookups are batched to overlap cache misses). */
typedef struct {
    uint64_t addrs, hash;
    uint32_t rest, srcport;
    int64_t bytes, start;
    int accepted, probe, beacon;
    const char *line;
    size_t len;
} Rec;

#define BATCH 32

typedef struct {
    uint32_t group;
    uint32_t port;
    int64_t t;
} Start;

typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} Buf;

typedef struct {
    PyObject_HEAD
    Group *groups;
    Slot *keys; /* the key of each group, by index (for export and merge) */
    size_t ngroups, capgroups, max_groups;
    Slot *slots; /* a power of two long, at most half full */
    size_t nslots;
    Start *starts;
    size_t nstarts, capstarts, max_starts;
    Group rejected; /* inbound rejected records: totals only (no keys) */
    uint32_t *nets; /* network, mask pairs: the internal IPv4 ranges */
    size_t nnets;
    uint32_t *beacon; /* sorted IPv4 beacon targets */
    size_t nbeacon;
    uint32_t *beacon_slots; /* the same as a hash set */
    uint32_t beacon_mask;
    int beacon_zero;
    int64_t probe_packets;
    char partial[MAX_LINE + 1]; /* + its '\n' */
    size_t npartial;
    int overlong;   /* inside a line longer than MAX_LINE: copying it through */
    int first_line; /* the first line of a file is always leftover (header, byte-order mark) */
    int busy;       /* a call runs without the GIL: concurrent use is refused */
    Rec batch[BATCH];
    size_t nbatch;
} Scanner;

/* ---- small helpers ---------------------------------------------------------------------- */

static void buf_add(Buf *b, const char *p, size_t n) {
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) {
            b->failed = 1;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static inline uint64_t hash_key(uint64_t addrs, uint32_t rest) {
    uint64_t h = addrs * 0x9E3779B97F4A7C15ull ^ ((uint64_t)rest + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    return h;
}

/* A canonical decimal of 1..18 digits (no sign, no leading zero) followed by one space. */
static inline const char *read_uint_slow(const char *p, const char *end, uint64_t *out) {
    const char *s = p;
    uint64_t v = 0;
    while (p < end && p - s < 19 && (unsigned)(*p - '0') < 10) v = v * 10 + (uint64_t)(*p++ - '0');
    size_t n = (size_t)(p - s);
    if (n == 0 || n > 18 || (n > 1 && *s == '0') || p >= end || *p != ' ') return NULL;
    *out = v;
    return p + 1;
}

/* Up to 7 digits, eight bytes at a time (the common case: ports, counts, sizes). t holds the bytes
 * minus '0': a digit byte is 0..9, and the first non-digit sets its high bit in (t + 0x76..) | t
 * (bytes before it are digits, so no borrow or carry reaches it). */
static inline const char *read_uint(const char *p, const char *end, uint64_t *out) {
    if (end - p < 8) return read_uint_slow(p, end, out);
    uint64_t x;
    memcpy(&x, p, 8);
    uint64_t t = x - 0x3030303030303030ull;
    uint64_t stop = ((t + 0x7676767676767676ull) | t) & 0x8080808080808080ull;
    if (!stop) return read_uint_slow(p, end, out); /* 8 digits or more */
    unsigned n = (unsigned)__builtin_ctzll(stop) >> 3;
    if (n == 0 || (n > 1 && *p == '0') || p[n] != ' ') return NULL;
    uint64_t v = t << (8 * (8 - n)); /* the n digits, right-aligned as an 8-digit number */
    v = (v * 10 + (v >> 8)) & 0x00FF00FF00FF00FFull;
    v = (v * 100 + (v >> 16)) & 0x0000FFFF0000FFFFull;
    v = (v * 10000 + (v >> 32)) & 0xFFFFFFFFull;
    *out = v;
    return p + n + 1;
}

/* A canonical dotted quad (each octet 0..255, no leading zero) followed by one space. */
static inline const char *read_ipv4_slow(const char *p, const char *end, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        const char *s = p;
        uint32_t o = 0;
        while (p < end && p - s < 4 && (unsigned)(*p - '0') < 10) o = o * 10 + (uint32_t)(*p++ - '0');
        size_t n = (size_t)(p - s);
        if (n == 0 || n > 3 || o > 255 || (n > 1 && *s == '0') || p >= end) return NULL;
        if (*p != (i < 3 ? '.' : ' ')) return NULL;
        v = v << 8 | o;
        p++;
    }
    *out = v;
    return p;
}

/* The same, an octet at a time from one 8-byte load (as in read_uint) when 20 bytes are left. */
static inline const char *read_ipv4(const char *p, const char *end, uint32_t *out) {
    if (end - p < 20) return read_ipv4_slow(p, end, out);
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t x;
        memcpy(&x, p, 8);
        uint64_t t = x - 0x3030303030303030ull;
        uint64_t stop = ((t + 0x7676767676767676ull) | t) & 0x8080808080808080ull;
        unsigned n = (unsigned)__builtin_ctzll(stop | 0x8000000000000000ull) >> 3;
        if (n == 0 || n > 3 || (n > 1 && *p == '0') || p[n] != (i < 3 ? '.' : ' ')) return NULL;
        uint32_t o = (uint32_t)(t & 0xFF);
        if (n > 1) o = o * 10 + (uint32_t)(t >> 8 & 0xFF);
        if (n > 2) o = o * 10 + (uint32_t)(t >> 16 & 0xFF);
        if (o > 255) return NULL;
        v = v << 8 | o;
        p += n + 1;
    }
    *out = v;
    return p;
}

/* One or more ASCII bytes 0x21..0x7F followed by one space. Eight bytes at a time: a byte below
 * 0x21 sets its high bit in x - 0x21..21 (the first such byte exactly), a byte >= 0x80 in x. */
static inline const char *skip_token(const char *p, const char *end) {
    const char *s = p;
    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        uint64_t stop = ((x - 0x2121212121212121ull) | x) & 0x8080808080808080ull;
        if (stop) {
            p += __builtin_ctzll(stop) / 8;
            goto found;
        }
        p += 8;
    }
    while (p < end && (unsigned char)(*p - 0x21) < 0x5F) p++;
found:
    if (p == s || p >= end || *p != ' ') return NULL;
    return p + 1;
}

static int is_internal(const Scanner *s, uint32_t ip) {
    for (size_t i = 0; i < s->nnets; i++)
        if ((ip & s->nets[2 * i + 1]) == s->nets[2 * i]) return 1;
    return 0;
}

/* An open-addressing set (0 marks an empty slot; address 0 has its own flag): one probe for most
 * destinations, where a binary search over tens of thousands of targets cost ~20 ns a record. */
static int is_beacon(const Scanner *s, uint32_t ip) {
    if (!ip) return s->beacon_zero;
    uint32_t mask = s->beacon_mask, j = (ip * 0x9E3779B1u) >> 7 & mask;
    for (; s->beacon_slots[j]; j = (j + 1) & mask)
        if (s->beacon_slots[j] == ip) return 1;
    return 0;
}

/* ---- the group table -------------------------------------------------------------------- */

/* Doubles an open-addressing table of slots (``first`` slots when empty), rehashing what it holds;
   shared by the group table and the conversation table. */
static int grow_slot_table(Slot **table, size_t *nslots, size_t first) {
    size_t n = *nslots ? *nslots * 2 : first;
    Slot *slots = calloc(n, sizeof(Slot));
    if (!slots) return 0;
    for (size_t i = 0; i < *nslots; i++) {
        if (!(*table)[i].index) continue;
        size_t j = hash_key((*table)[i].addrs, (*table)[i].rest) & (n - 1);
        while (slots[j].index) j = (j + 1) & (n - 1);
        slots[j] = (*table)[i];
    }
    free(*table);
    *table = slots;
    *nslots = n;
    return 1;
}

static int grow_slots(Scanner *s) { return grow_slot_table(&s->slots, &s->nslots, 1024); }

static int grow_groups(Scanner *s) {
    size_t cap = s->capgroups ? s->capgroups * 2 : 1024;
    Group *groups = aligned_alloc(64, cap * sizeof(Group));
    Slot *keys = realloc(s->keys, cap * sizeof(Slot));
    if (keys) s->keys = keys;
    if (!groups || !keys) {
        free(groups);
        return 0;
    }
    if (s->ngroups) memcpy(groups, s->groups, s->ngroups * sizeof(Group));
    free(s->groups);
    s->groups = groups;
    s->capgroups = cap;
    return 1;
}

/* The index of a key's group, created if new; -1 when the cap or memory says no (the caller then
 * leaves the line to DuckDB, which spills to disk). */
static int64_t upsert(Scanner *s, uint64_t addrs, uint32_t rest, uint64_t hash, int capped) {
    if (!s->nslots && !grow_slots(s)) return -1;
    size_t mask = s->nslots - 1, j = hash & mask;
    for (; s->slots[j].index; j = (j + 1) & mask)
        if (s->slots[j].addrs == addrs && s->slots[j].rest == rest) return (int64_t)s->slots[j].index - 1;
    if ((capped && s->ngroups >= s->max_groups) || s->ngroups >= UINT32_MAX - 1) return -1;
    if (s->ngroups == s->capgroups && !grow_groups(s)) return -1;
    if ((s->ngroups + 1) * 2 > s->nslots) {
        if (!grow_slots(s)) return -1;
        mask = s->nslots - 1;
        for (j = hash & mask; s->slots[j].index; j = (j + 1) & mask) {
        }
    }
    size_t index = s->ngroups++;
    Group *g = &s->groups[index];
    memset(g, 0, sizeof(Group));
    g->first = INT64_MAX;
    g->last = INT64_MIN;
    g->max_bytes = INT64_MIN;
    s->slots[j] = (Slot){addrs, rest, (uint32_t)(index + 1)};
    s->keys[index] = s->slots[j];
    return (int64_t)index;
}

static int reserve_start(Scanner *s, int capped) {
    if (capped && s->nstarts >= s->max_starts) return 0;
    if (s->nstarts < s->capstarts) return 1;
    size_t cap = s->capstarts ? s->capstarts * 2 : 256;
    Start *starts = realloc(s->starts, cap * sizeof(Start));
    if (!starts) return 0;
    s->starts = starts;
    s->capstarts = cap;
    return 1;
}

static void add_into(Group *g, int64_t flows, int64_t accepted, int64_t probes, i128 bytes, int64_t max_bytes,
                     int64_t first, int64_t last) {
    g->flows += flows;
    g->accepted += accepted;
    g->probes += probes;
    g->bytes += bytes;
    if (max_bytes > g->max_bytes) g->max_bytes = max_bytes;
    if (first < g->first) g->first = first;
    if (last > g->last) g->last = last;
}

/* ---- lines ------------------------------------------------------------------------------ */

static void leftover_line(Buf *left, const char *p, size_t n) {
    buf_add(left, p, n);
    buf_add(left, "\n", 1);
}

/* Fold the batch: look every key up (prefetching the groups), then update the groups. */
static void flush_batch(Scanner *s, Buf *left) {
    int64_t index[BATCH];
    for (size_t i = 0; i < s->nbatch; i++) {
        Rec *r = &s->batch[i];
        index[i] = (r->beacon && !reserve_start(s, 1)) ? -1 : upsert(s, r->addrs, r->rest, r->hash, 1);
        if (index[i] < 0) {
            leftover_line(left, r->line, r->len);
            continue;
        }
        __builtin_prefetch(&s->groups[index[i]], 1);
        if (r->beacon) s->starts[s->nstarts++] = (Start){(uint32_t)index[i], r->srcport, r->start};
    }
    for (size_t i = 0; i < s->nbatch; i++) {
        const Rec *r = &s->batch[i];
        if (index[i] >= 0)
            add_into(&s->groups[index[i]], 1, r->accepted, r->probe, (i128)r->bytes, r->bytes, r->start, r->start);
    }
    s->nbatch = 0;
}

/* Parse a well-formed line starting at p, ended by '\n' before ``end``: returns the byte after the
 * '\n', or NULL when the line is anything else (it is then leftover). An inbound rejected record
 * is counted at once; any other goes into the batch. No token can hold a '\n', so a line that
 * parses ends at the first '\n'. */
static const char *fold_line(Scanner *s, const char *p, const char *end) {
    const char *line = p;
    uint32_t src, dst;
    uint64_t srcport, dstport, proto, packets, bytes, start;
    if (end - p < 2 || p[0] != '2' || p[1] != ' ') return NULL;
    p += 2;
    if (!(p = skip_token(p, end)) || !(p = skip_token(p, end))) return NULL;
    if (!(p = read_ipv4(p, end, &src)) || !(p = read_ipv4(p, end, &dst))) return NULL;
    if (!(p = read_uint(p, end, &srcport)) || !(p = read_uint(p, end, &dstport))) return NULL;
    if (!(p = read_uint(p, end, &proto)) || !(p = read_uint(p, end, &packets))) return NULL;
    if (!(p = read_uint(p, end, &bytes)) || !(p = read_uint(p, end, &start))) return NULL;
    if (!(p = skip_token(p, end))) return NULL; /* "end": not used, any token is fine (as in SQL) */
    if (end - p < 10 || memcmp(p + 6, " OK\n", 4) != 0) return NULL;
    int reject;
    if (memcmp(p, "ACCEPT", 6) == 0) reject = 0;
    else if (memcmp(p, "REJECT", 6) == 0) reject = 1;
    else return NULL;
    p += 10;
    if (p - line > MAX_LINE + 1) return NULL; /* the line bound holds inside a chunk too (DuckDB drops > 64 KiB) */
    if (srcport > 65535 || dstport > 65535 || proto > 255) return NULL; /* valid, but left to SQL */
    int probe = (int64_t)packets <= s->probe_packets || reject;
    if (reject && !is_internal(s, src)) { /* fc is true for a rejected record: src is the client */
        add_into(&s->rejected, 1, 0, probe, (i128)bytes, (int64_t)bytes, (int64_t)start, (int64_t)start);
        return p;
    }
    int fc = reject || dstport <= srcport;
    Rec *r = &s->batch[s->nbatch++];
    r->addrs = (uint64_t)src << 32 | dst;
    r->rest = (uint32_t)(fc ? dstport : srcport) | (uint32_t)proto << 16 | (uint32_t)fc << 24;
    r->hash = hash_key(r->addrs, r->rest);
    r->srcport = (uint32_t)srcport;
    r->bytes = (int64_t)bytes;
    r->start = (int64_t)start;
    r->accepted = !reject;
    r->probe = probe;
    r->beacon = fc && s->nbeacon && is_beacon(s, dst);
    r->line = line;
    r->len = (size_t)(p - 1 - line);
    if (s->nslots) __builtin_prefetch(&s->slots[r->hash & (s->nslots - 1)]);
    return p;
}

/* A whole line (p[n] is its '\n'). ``stable``: it stays readable until the batch is flushed. */
static void take_line(Scanner *s, const char *p, size_t n, Buf *left, int stable) {
    if (s->first_line || !fold_line(s, p, p + n + 1)) leftover_line(left, p, n);
    s->first_line = 0;
    if (!stable || s->nbatch == BATCH) flush_batch(s, left);
}

static void scan_chunk(Scanner *s, const char *p, size_t len, Buf *left) {
    const char *end = p + len;
    while (p < end) {
        if (!s->overlong && !s->npartial && !s->first_line) { /* the common case: no memchr needed */
            const char *next = fold_line(s, p, end);
            if (next) {
                p = next;
                if (s->nbatch == BATCH) flush_batch(s, left);
                continue;
            }
        }
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) { /* keep the partial line for the next chunk, or pass a long one through */
            size_t rest = (size_t)(end - p);
            if (!s->overlong && s->npartial + rest > MAX_LINE) {
                buf_add(left, s->partial, s->npartial);
                s->npartial = 0;
                s->overlong = 1;
            }
            if (s->overlong) buf_add(left, p, rest);
            else {
                memcpy(s->partial + s->npartial, p, rest);
                s->npartial += rest;
            }
            break;
        }
        size_t n = (size_t)(nl - p);
        if (s->overlong) {
            buf_add(left, p, n + 1);
            s->overlong = 0;
            s->first_line = 0;
        } else if (s->npartial) {
            if (s->npartial + n > MAX_LINE) {
                buf_add(left, s->partial, s->npartial);
                buf_add(left, p, n + 1);
                s->first_line = 0;
            } else {
                memcpy(s->partial + s->npartial, p, n + 1); /* with its '\n' */
                take_line(s, s->partial, s->npartial + n, left, 0);
            }
            s->npartial = 0;
        } else {
            take_line(s, p, n, left, 1);
        }
        p = nl + 1;
    }
    flush_batch(s, left); /* the batch points into this chunk */
}

#endif
