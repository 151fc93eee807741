/* chacha20-poly1305@openssh.com, the SSH packet cipher (OpenSSH's PROTOCOL.chacha20poly1305),
 * with OpenSSL 3's libcrypto doing all the cryptography (EVP "ChaCha20", EVP_MAC "POLY1305").
 *
 * Why native: asyncssh's pure-Python shim builds five cryptography Cipher objects and a Poly1305
 * object per packet, ~19% of the SSH sensor's CPU per connection (docs/ssh.md). Here one object
 * per direction keeps its OpenSSL contexts and only changes the IV per packet.
 *
 * The 64-byte key: K_2 = bytes 0..31 (payload and Poly1305 key), K_1 = bytes 32..63 (length).
 * The nonce is the 64-bit big-endian sequence number, given by the caller as 8 bytes. OpenSSL's
 * 16-byte ChaCha20 IV is the 64-bit little-endian block counter followed by that nonce, as
 * cryptography's ChaCha20 (and so asyncssh) builds it. The GIL is held throughout: each call is a
 * few microseconds, and an object is used by one connection only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define KEY_BYTES 64
#define HALF_KEY 32
#define NONCE_BYTES 8
#define TAG_BYTES 16
#define POLY_KEY_BYTES 32

static EVP_CIPHER *chacha20;  /* fetched once at import */
static EVP_MAC *poly1305;

typedef struct {
    PyObject_HEAD
    EVP_CIPHER_CTX *length_ctx;  /* keyed with K_1 */
    EVP_CIPHER_CTX *payload_ctx; /* keyed with K_2 */
    EVP_MAC_CTX *mac_ctx;
} ChachaPoly;

static PyObject *crypto_error(const char *what)
{
    PyErr_Format(PyExc_RuntimeError, "libcrypto: %s failed", what);
    return NULL;
}

/* out = ChaCha20(ctx's key, counter, nonce) XOR in; len fits an int (checked by the callers). */
static int chacha_xor(EVP_CIPHER_CTX *ctx, uint64_t counter, const unsigned char *nonce,
                      const unsigned char *in, unsigned char *out, Py_ssize_t len)
{
    unsigned char iv[16];
    int outl = 0;
    for (int i = 0; i < 8; i++)
        iv[i] = (unsigned char)(counter >> (8 * i));
    memcpy(iv + 8, nonce, NONCE_BYTES);
    if (!EVP_CipherInit_ex2(ctx, NULL, NULL, iv, 1, NULL))
        return 0;
    if (len == 0)
        return 1;
    return EVP_CipherUpdate(ctx, out, &outl, in, (int)len) && outl == (int)len;
}

/* The Poly1305 tag of the encrypted header || payload under the packet's one-time key (the first
 * 32 bytes of the K_2 keystream at counter 0). */
static int packet_tag(ChachaPoly *self, const unsigned char *nonce, const unsigned char *header,
                      Py_ssize_t header_len, const unsigned char *payload, Py_ssize_t payload_len,
                      unsigned char tag[TAG_BYTES])
{
    static const unsigned char zeros[POLY_KEY_BYTES];
    unsigned char poly_key[POLY_KEY_BYTES];
    size_t outl = 0;
    int ok = chacha_xor(self->payload_ctx, 0, nonce, zeros, poly_key, POLY_KEY_BYTES)
             && EVP_MAC_init(self->mac_ctx, poly_key, POLY_KEY_BYTES, NULL)
             && EVP_MAC_update(self->mac_ctx, header, (size_t)header_len)
             && EVP_MAC_update(self->mac_ctx, payload, (size_t)payload_len)
             && EVP_MAC_final(self->mac_ctx, tag, &outl, TAG_BYTES) && outl == TAG_BYTES;
    OPENSSL_cleanse(poly_key, sizeof poly_key);
    return ok;
}

static int check_nonce(const Py_buffer *nonce)
{
    if (nonce->len != NONCE_BYTES) {
        PyErr_SetString(PyExc_ValueError, "nonce must be 8 bytes");
        return 0;
    }
    return 1;
}

static int check_sizes(Py_ssize_t a, Py_ssize_t b)
{
    if (a > INT_MAX || b > INT_MAX - a) {
        PyErr_SetString(PyExc_OverflowError, "packet too large");
        return 0;
    }
    return 1;
}

static PyObject *ChachaPoly_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    Py_buffer key;
    static char *names[] = {"key", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*", names, &key))
        return NULL;
    if (key.len != KEY_BYTES) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "key must be 64 bytes");
        return NULL;
    }
    ChachaPoly *self = (ChachaPoly *)type->tp_alloc(type, 0);
    if (self == NULL) {
        PyBuffer_Release(&key);
        return NULL;
    }
    const unsigned char *k = key.buf;
    self->length_ctx = EVP_CIPHER_CTX_new();
    self->payload_ctx = EVP_CIPHER_CTX_new();
    self->mac_ctx = EVP_MAC_CTX_new(poly1305);
    int ok = self->length_ctx && self->payload_ctx && self->mac_ctx
             && EVP_CipherInit_ex2(self->length_ctx, chacha20, k + HALF_KEY, NULL, 1, NULL)
             && EVP_CipherInit_ex2(self->payload_ctx, chacha20, k, NULL, 1, NULL);
    PyBuffer_Release(&key);
    if (!ok) {
        Py_DECREF(self);
        return crypto_error("key set-up");
    }
    return (PyObject *)self;
}

static void ChachaPoly_dealloc(ChachaPoly *self)
{
    EVP_CIPHER_CTX_free(self->length_ctx); /* frees (and cleanses) the key schedules */
    EVP_CIPHER_CTX_free(self->payload_ctx);
    EVP_MAC_CTX_free(self->mac_ctx);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* encrypt_and_sign(header, data, nonce) -> (encrypted header + data, tag) */
static PyObject *encrypt_and_sign(ChachaPoly *self, PyObject *args)
{
    Py_buffer header, data, nonce;
    PyObject *packet = NULL, *result = NULL;
    unsigned char tag[TAG_BYTES];
    if (!PyArg_ParseTuple(args, "y*y*y*", &header, &data, &nonce))
        return NULL;
    if (!check_nonce(&nonce) || !check_sizes(header.len, data.len))
        goto done;
    packet = PyBytes_FromStringAndSize(NULL, header.len + data.len);
    if (packet == NULL)
        goto done;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(packet);
    if (!chacha_xor(self->length_ctx, 0, nonce.buf, header.buf, out, header.len)
        || !chacha_xor(self->payload_ctx, 1, nonce.buf, data.buf, out + header.len, data.len)
        || !packet_tag(self, nonce.buf, out, header.len, out + header.len, data.len, tag)) {
        crypto_error("encrypt");
        goto done;
    }
    result = Py_BuildValue("(Oy#)", packet, (const char *)tag, (Py_ssize_t)TAG_BYTES);
done:
    Py_XDECREF(packet);
    PyBuffer_Release(&header);
    PyBuffer_Release(&data);
    PyBuffer_Release(&nonce);
    return result;
}

/* decrypt_header(header, nonce) -> decrypted header (the packet length field) */
static PyObject *decrypt_header(ChachaPoly *self, PyObject *args)
{
    Py_buffer header, nonce;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*", &header, &nonce))
        return NULL;
    if (!check_nonce(&nonce) || !check_sizes(header.len, 0))
        goto done;
    result = PyBytes_FromStringAndSize(NULL, header.len);
    if (result == NULL)
        goto done;
    if (!chacha_xor(self->length_ctx, 0, nonce.buf, header.buf, (unsigned char *)PyBytes_AS_STRING(result),
                    header.len)) {
        Py_CLEAR(result);
        crypto_error("decrypt header");
    }
done:
    PyBuffer_Release(&header);
    PyBuffer_Release(&nonce);
    return result;
}

/* verify_and_decrypt(header, data, nonce, tag) -> decrypted data, or None if the tag is wrong */
static PyObject *verify_and_decrypt(ChachaPoly *self, PyObject *args)
{
    Py_buffer header, data, nonce, tag;
    PyObject *result = NULL;
    unsigned char expected[TAG_BYTES];
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &header, &data, &nonce, &tag))
        return NULL;
    if (!check_nonce(&nonce) || !check_sizes(header.len, data.len))
        goto done;
    if (tag.len != TAG_BYTES) { /* as cryptography's Poly1305.verify_tag: not this tag */
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (!packet_tag(self, nonce.buf, header.buf, header.len, data.buf, data.len, expected)) {
        crypto_error("verify");
        goto done;
    }
    if (CRYPTO_memcmp(expected, tag.buf, TAG_BYTES) != 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result == NULL)
        goto done;
    if (!chacha_xor(self->payload_ctx, 1, nonce.buf, data.buf, (unsigned char *)PyBytes_AS_STRING(result),
                    data.len)) {
        Py_CLEAR(result);
        crypto_error("decrypt");
    }
done:
    PyBuffer_Release(&header);
    PyBuffer_Release(&data);
    PyBuffer_Release(&nonce);
    PyBuffer_Release(&tag);
    return result;
}

static PyMethodDef ChachaPoly_methods[] = {
    {"encrypt_and_sign", (PyCFunction)encrypt_and_sign, METH_VARARGS,
     "encrypt_and_sign(header, data, nonce) -> (encrypted header + data, 16-byte tag)"},
    {"decrypt_header", (PyCFunction)decrypt_header, METH_VARARGS,
     "decrypt_header(header, nonce) -> decrypted header"},
    {"verify_and_decrypt", (PyCFunction)verify_and_decrypt, METH_VARARGS,
     "verify_and_decrypt(header, data, nonce, tag) -> decrypted data, or None if the tag is wrong"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ChachaPolyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "honeyguard.sensor.sshd._sshcipher.ChachaPoly",
    .tp_doc = "ChachaPoly(key: 64 bytes): chacha20-poly1305@openssh.com for one direction",
    .tp_basicsize = sizeof(ChachaPoly),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = ChachaPoly_new,
    .tp_dealloc = (destructor)ChachaPoly_dealloc,
    .tp_methods = ChachaPoly_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sshcipher", "chacha20-poly1305@openssh.com on OpenSSL's libcrypto", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__sshcipher(void)
{
    if (chacha20 == NULL)
        chacha20 = EVP_CIPHER_fetch(NULL, "ChaCha20", NULL);
    if (poly1305 == NULL)
        poly1305 = EVP_MAC_fetch(NULL, "POLY1305", NULL);
    if (chacha20 == NULL || poly1305 == NULL) {
        PyErr_SetString(PyExc_ImportError, "libcrypto offers no ChaCha20 or POLY1305");
        return NULL;
    }
    if (PyType_Ready(&ChachaPolyType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "ChachaPoly", (PyObject *)&ChachaPolyType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
