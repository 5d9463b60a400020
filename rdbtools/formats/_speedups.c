/* Optional accelerator for the hottest loop of reading an RDB file: walking listpack and ziplist
 * blobs into Python lists.
 *
 * These are step-by-step twins of decode_listpack and decode_ziplist in rdbtools/formats/listpack.py
 * and ziplist.py (same checks in the same order, same messages, same offsets); the package falls
 * back to those when this module is not built, and tests/formats/test_speedups.py proves both give
 * the same values and the same errors on generated and damaged blobs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

static PyObject *FormatError;
static PyObject *TruncatedError;

/* Raise one of our exception classes as FormatError(message, offset=offset) would. */
static PyObject *fail(PyObject *cls, Py_ssize_t offset, const char *format, ...) {
    char message[200];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    PyObject *error = PyObject_CallFunction(cls, "s", message);
    if (error == NULL) return NULL;
    PyObject *where = PyLong_FromSsize_t(offset);
    if (where == NULL || PyObject_SetAttrString(error, "offset", where) < 0) {
        Py_XDECREF(where);
        Py_DECREF(error);
        return NULL;
    }
    Py_DECREF(where);
    PyErr_SetObject(cls, error);
    Py_DECREF(error);
    return NULL;
}

static int64_t signed_le(const unsigned char *p, int width) {
    uint64_t value = 0;
    for (int i = width - 1; i >= 0; i--) value = (value << 8) | p[i];
    if (width < 8 && (value >> (8 * width - 1)) & 1) value |= ~(uint64_t)0 << (8 * width);
    return (int64_t)value;
}

static uint64_t unsigned_le(const unsigned char *p, int width) {
    uint64_t value = 0;
    for (int i = width - 1; i >= 0; i--) value = (value << 8) | p[i];
    return value;
}

static int append_new(PyObject *list, PyObject *item) {
    if (item == NULL) return -1;
    int status = PyList_Append(list, item);
    Py_DECREF(item);
    return status;
}

/* --- listpack ------------------------------------------------------------------------------ */

static int backlen_width(Py_ssize_t body) {
    if (body <= 127) return 1;
    if (body < 16383) return 2;
    if (body < 2097151) return 3;
    if (body < 268435455) return 4;
    return 5;
}

static PyObject *walk_listpack(const unsigned char *buf, Py_ssize_t size, int deep) {
    if (size < 7)
        return fail(TruncatedError, 0, "listpack of %zd bytes is shorter than its header", size);
    uint64_t total = unsigned_le(buf, 4);
    if ((Py_ssize_t)total != size)
        return fail(FormatError, 0, "listpack header says %llu bytes, the blob has %zd",
                    (unsigned long long)total, size);
    if (buf[size - 1] != 0xFF) return fail(FormatError, size - 1, "listpack does not end with 0xFF");
    unsigned count = (unsigned)unsigned_le(buf + 4, 2);
    Py_ssize_t end = size - 1, pos = 6, index = 0;
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    while (pos < end) {
        unsigned first = buf[pos];
        Py_ssize_t body;
        if (first < 0x80) body = 1;
        else if (first < 0xC0) body = 1 + (first & 0x3F);
        else if (first < 0xE0) body = 2;
        else if (first < 0xF0) body = pos + 1 < end ? 2 + (((first & 0x0F) << 8) | buf[pos + 1]) : end;
        else if (first == 0xF0) body = pos + 5 <= end ? 5 + (Py_ssize_t)unsigned_le(buf + pos + 1, 4) : end;
        else if (first <= 0xF4) body = first == 0xF1 ? 3 : first == 0xF2 ? 4 : first == 0xF3 ? 5 : 9;
        else {
            Py_DECREF(out);
            return fail(FormatError, pos, "listpack entry %zd: invalid encoding byte 0x%02x", index, first);
        }
        int width = backlen_width(body);
        if (body > end - pos - width) {
            Py_DECREF(out);
            return fail(TruncatedError, pos, "listpack entry %zd runs past the end of the blob", index);
        }
        PyObject *item;
        if (first < 0x80) item = PyLong_FromLong(first);
        else if (first < 0xC0) item = PyBytes_FromStringAndSize((const char *)buf + pos + 1, body - 1);
        else if (first < 0xE0) {
            long raw = ((first & 0x1F) << 8) | buf[pos + 1];
            item = PyLong_FromLong(raw >= 4096 ? raw - 8192 : raw);
        } else if (first < 0xF0) item = PyBytes_FromStringAndSize((const char *)buf + pos + 2, body - 2);
        else if (first == 0xF0) item = PyBytes_FromStringAndSize((const char *)buf + pos + 5, body - 5);
        else item = PyLong_FromLongLong(signed_le(buf + pos + 1, (int)body - 1));
        if (append_new(out, item) < 0) {
            Py_DECREF(out);
            return NULL;
        }
        if (deep && (width != 1 || buf[pos + body] != body)) {
            const unsigned char *at = buf + pos + body;
            uint64_t value = 0;
            for (int i = 0; i < width; i++) {
                if ((at[i] & 0x80) != (i == 0 ? 0 : 0x80)) {
                    Py_DECREF(out);
                    return fail(FormatError, pos + body, "listpack entry %zd: back-length is not %d bytes wide",
                                index, width);
                }
                value = (value << 7) | (at[i] & 0x7F);
            }
            if ((Py_ssize_t)value != body) {
                Py_DECREF(out);
                return fail(FormatError, pos + body, "listpack entry %zd: back-length says %llu bytes, entry is %zd",
                            index, (unsigned long long)value, body);
            }
        }
        pos += body + width;
        index++;
    }
    if (count != 65535 && (Py_ssize_t)count != index) {
        Py_DECREF(out);
        return fail(FormatError, 4, "listpack header counts %u entries, found %zd", count, index);
    }
    return out;
}

/* --- ziplist ------------------------------------------------------------------------------- */

static PyObject *walk_ziplist(const unsigned char *buf, Py_ssize_t size) {
    if (size < 11)
        return fail(TruncatedError, 0, "ziplist of %zd bytes is shorter than its header", size);
    uint64_t zlbytes = unsigned_le(buf, 4), zltail = unsigned_le(buf + 4, 4);
    unsigned zllen = (unsigned)unsigned_le(buf + 8, 2);
    if ((Py_ssize_t)zlbytes != size)
        return fail(FormatError, 0, "ziplist header says %llu bytes, the blob has %zd",
                    (unsigned long long)zlbytes, size);
    if (buf[size - 1] != 0xFF) return fail(FormatError, size - 1, "ziplist does not end with 0xFF");
    Py_ssize_t end = size - 1, pos = 10, prev_size = 0, last = 10, index = 0;
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    while (pos < end) {
        Py_ssize_t start = pos, header, data, length;
        uint64_t prevlen;
        unsigned first = buf[pos];
        if (first < 0xFE) {
            prevlen = first;
            header = pos + 1;
        } else if (first == 0xFE) {
            if (pos + 5 > end) goto truncated;
            prevlen = unsigned_le(buf + pos + 1, 4);
            header = pos + 5;
        } else {
            Py_DECREF(out);
            return fail(FormatError, pos, "ziplist entry %zd: end marker inside the entries", index);
        }
        if ((Py_ssize_t)prevlen != prev_size) {
            Py_DECREF(out);
            return fail(FormatError, start, "ziplist entry %zd: prevlen says %llu, previous entry is %zd bytes",
                        index, (unsigned long long)prevlen, prev_size);
        }
        if (header >= end) goto truncated;
        unsigned tag = buf[header];
        if (tag < 0x40) {
            data = header + 1;
            length = tag;
        } else if (tag < 0x80) {
            data = header + 2;
            length = data <= end ? (((tag & 0x3F) << 8) | buf[header + 1]) : end;
        } else if (tag == 0x80) {
            data = header + 5;
            length = data <= end ? (Py_ssize_t)((uint64_t)buf[header + 1] << 24 | (uint64_t)buf[header + 2] << 16 |
                                                (uint64_t)buf[header + 3] << 8 | buf[header + 4])
                                 : end;
        } else if (tag >= 0xF1 && tag <= 0xFD) {
            data = header + 1;
            length = 0;
        } else if (tag == 0xFE || tag == 0xC0 || tag == 0xF0 || tag == 0xD0 || tag == 0xE0) {
            data = header + 1;
            length = tag == 0xFE ? 1 : tag == 0xC0 ? 2 : tag == 0xF0 ? 3 : tag == 0xD0 ? 4 : 8;
        } else {
            Py_DECREF(out);
            return fail(FormatError, header, "ziplist entry %zd: invalid encoding byte 0x%02x", index, tag);
        }
        if (length > end - data) goto truncated;
        pos = data + length;
        PyObject *item;
        if (tag <= 0x80) item = PyBytes_FromStringAndSize((const char *)buf + data, length);
        else if (tag >= 0xF1 && tag <= 0xFD) item = PyLong_FromLong((long)(tag & 0x0F) - 1);
        else item = PyLong_FromLongLong(signed_le(buf + data, (int)length));
        if (append_new(out, item) < 0) {
            Py_DECREF(out);
            return NULL;
        }
        prev_size = pos - start;
        last = start;
        index++;
        continue;
    truncated:
        Py_DECREF(out);
        return fail(TruncatedError, start, "ziplist entry %zd runs past the end of the blob", index);
    }
    if ((Py_ssize_t)zltail != last) {
        Py_DECREF(out);
        return fail(FormatError, 4, "ziplist tail offset %llu does not point at the last entry (%zd)",
                    (unsigned long long)zltail, last);
    }
    if (zllen != 65535 && (Py_ssize_t)zllen != index) {
        Py_DECREF(out);
        return fail(FormatError, 8, "ziplist header counts %u entries, found %zd", zllen, index);
    }
    return out;
}

/* --- module -------------------------------------------------------------------------------- */

static PyObject *decode_listpack(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"buf", "deep", NULL};
    Py_buffer view;
    int deep = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|p", keywords, &view, &deep)) return NULL;
    PyObject *result = walk_listpack(view.buf, view.len, deep);
    PyBuffer_Release(&view);
    return result;
}

static PyObject *decode_ziplist(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"buf", "deep", NULL};
    Py_buffer view;
    int deep = 0;  /* ziplists are always validated fully: Redis converts them on load */
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|p", keywords, &view, &deep)) return NULL;
    PyObject *result = walk_ziplist(view.buf, view.len);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"decode_listpack", (PyCFunction)(void (*)(void))decode_listpack, METH_VARARGS | METH_KEYWORDS, "Entries of a listpack blob (see formats/listpack.py)."},
    {"decode_ziplist", (PyCFunction)(void (*)(void))decode_ziplist, METH_VARARGS | METH_KEYWORDS, "Entries of a ziplist blob (see formats/ziplist.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "rdbtools.formats._speedups", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) {
    PyObject *errors = PyImport_ImportModule("rdbtools.errors");
    if (errors == NULL) return NULL;
    FormatError = PyObject_GetAttrString(errors, "FormatError");
    TruncatedError = PyObject_GetAttrString(errors, "TruncatedError");
    Py_DECREF(errors);
    if (FormatError == NULL || TruncatedError == NULL) return NULL;
    return PyModule_Create(&module);
}
