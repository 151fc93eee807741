/* Byte-text helpers shared by detect's extensions (_decoders.c and _hsnative.c include this):
 * one copy of the short-needle search, the head's end as httpsplit cuts it, the folded-line test
 * and the tuple that steals its items. Static: each extension gets its own copy at compile time. */
#ifndef HONEYGUARD_DETECT_TEXT_H
#define HONEYGUARD_DETECT_TEXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* The first occurrence of needle (length bytes, at least 1) in text[0:n], or NULL: memchr for its
 * first byte, then a compare (glibc's memmem is several times slower on short needles: it was
 * most of a request's view_marks). */
static const unsigned char *find_bytes(const unsigned char *text, Py_ssize_t n, const char *needle, size_t length)
{
    const unsigned char *end = text + n;
    for (const unsigned char *at = text; (size_t)(end - at) >= length; at++) {
        at = memchr(at, (unsigned char)needle[0], (size_t)(end - at) - length + 1);
        if (at == NULL)
            return NULL;
        if (memcmp(at + 1, needle + 1, length - 1) == 0)
            return at;
    }
    return NULL;
}

/* The head's end in[0:n] as httpsplit cuts it: its first blank line ('\r\n\r\n', or an earlier
 * '\n\n': that one is looked for only before the CRLF blank line, as httpsplit.head_ends does);
 * *body_start where the body starts (both n: no blank line). */
static Py_ssize_t find_head_end(const unsigned char *in, Py_ssize_t n, Py_ssize_t *body_start)
{
    const unsigned char *crlf = find_bytes(in, n, "\r\n\r\n", 4);
    const unsigned char *lf = find_bytes(in, crlf != NULL ? crlf - in : n, "\n\n", 2);
    if (crlf != NULL && (lf == NULL || crlf < lf)) {
        *body_start = crlf - in + 4;
        return crlf - in;
    }
    if (lf != NULL) {
        *body_start = lf - in + 2;
        return lf - in;
    }
    *body_start = n;
    return n;
}

/* Whether a line of head[0:n] after its first starts with a space or a tab: a header value folded
 * onto the next line, which httpsplit joins. */
static int has_folded_line(const unsigned char *head, Py_ssize_t n)
{
    const unsigned char *end = head + n;
    for (const unsigned char *at = head; (at = memchr(at, '\n', (size_t)(end - at))) != NULL; at++)
        if (at + 1 < end && (at[1] == ' ' || at[1] == '\t'))
            return 1;
    return 0;
}

/* A tuple of the n objects given, stealing their references (each may be NULL: then all are
 * released and NULL returned, an error set). Py_BuildValue parses its format on every call. */
static PyObject *steal_tuple(Py_ssize_t n, PyObject **items)
{
    PyObject *out = NULL;
    int complete = 1;
    for (Py_ssize_t i = 0; i < n; i++)
        complete = complete && items[i] != NULL;
    if (complete)
        out = PyTuple_New(n);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (out != NULL)
            PyTuple_SET_ITEM(out, i, items[i]);
        else
            Py_XDECREF(items[i]);
    }
    return out;
}

#endif
