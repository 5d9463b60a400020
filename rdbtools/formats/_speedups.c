/* Optional accelerator for the hottest loop of reading an RDB file: the per-key record loop and
 * the listpack and ziplist walks inside it (plus the sort behind verify's duplicate-key check).
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
#include <string.h>

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

static PyObject *int_text(long long value);

/* text: integer entries come back as their decimal text, as Redis returns them */
static PyObject *walk_listpack(const unsigned char *buf, Py_ssize_t size, int deep, int text) {
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
        if (first < 0x80) item = text ? int_text(first) : PyLong_FromLong(first);
        else if (first < 0xC0) item = PyBytes_FromStringAndSize((const char *)buf + pos + 1, body - 1);
        else if (first < 0xE0) {
            long raw = ((first & 0x1F) << 8) | buf[pos + 1];
            raw = raw >= 4096 ? raw - 8192 : raw;
            item = text ? int_text(raw) : PyLong_FromLong(raw);
        } else if (first < 0xF0) item = PyBytes_FromStringAndSize((const char *)buf + pos + 2, body - 2);
        else if (first == 0xF0) item = PyBytes_FromStringAndSize((const char *)buf + pos + 5, body - 5);
        else {
            long long value = signed_le(buf + pos + 1, (int)body - 1);
            item = text ? int_text(value) : PyLong_FromLongLong(value);
        }
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

static PyObject *walk_ziplist(const unsigned char *buf, Py_ssize_t size, int text) {
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
        else {
            long long value = tag <= 0xFD && tag >= 0xF1 ? (long long)(tag & 0x0F) - 1
                                                          : signed_le(buf + data, (int)length);
            item = text ? int_text(value) : PyLong_FromLongLong(value);
        }
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

/* --- record scan -----------------------------------------------------------------------------
 * The per-key loop of rdbtools/rdb/reader.py for the common, clean case. It decodes consecutive key
 * entries of the types below and stops ("bails") at the first record it does not handle or finds
 * anything unusual in: an opcode record, another type, a corrupt or truncated part, a duplicate, an
 * empty collection, a NaN score. The Python reader then decodes that record itself, so every error,
 * every problem and every rare type is still the Python code's; this scan only has to agree with it
 * on clean records, which tests/formats/test_speedups.py checks on the corpus and random datasets.
 */

#define BAIL 1 /* not an error: leave this record to the Python reader */
#define SCAN_MAX_RECORDS 1024
#define SCAN_MAX_BYTES (1 << 20) /* bounds the memory one batch of records can take */

typedef struct {
    const unsigned char *buf;
    Py_ssize_t size;
    int deep;
} Scan;

static PyObject *int_text(long long value) {
    char text[24];
    int n = snprintf(text, sizeof text, "%lld", value);
    return PyBytes_FromStringAndSize(text, n);
}

static int scan_length(Scan *s, Py_ssize_t *pos, uint64_t *out) {
    Py_ssize_t p = *pos;
    if (p >= s->size) return BAIL;
    unsigned first = s->buf[p];
    if ((first & 0xC0) == 0) {
        *out = first;
        *pos = p + 1;
    } else if ((first & 0xC0) == 0x40) {
        if (p + 2 > s->size) return BAIL;
        *out = ((first & 0x3F) << 8) | s->buf[p + 1];
        *pos = p + 2;
    } else if (first == 0x80 || first == 0x81) {
        int width = first == 0x80 ? 4 : 8;
        if (p + 1 + width > s->size) return BAIL;
        uint64_t value = 0;
        for (int i = 1; i <= width; i++) value = (value << 8) | s->buf[p + i];
        *out = value;
        *pos = p + 1 + width;
    } else {
        return BAIL;
    }
    return 0;
}

/* liblzf's format (formats.md §3.3): literal runs and back-references. Returns the bytes written. */
static Py_ssize_t lzf_decompress(const unsigned char *in, Py_ssize_t in_len, unsigned char *out, Py_ssize_t out_len) {
    Py_ssize_t ip = 0, op = 0;
    while (ip < in_len) {
        unsigned ctrl = in[ip++];
        if (ctrl < 32) {
            Py_ssize_t n = ctrl + 1;
            if (n > in_len - ip || n > out_len - op) return -1;
            memcpy(out + op, in + ip, n);
            ip += n;
            op += n;
        } else {
            Py_ssize_t n = ctrl >> 5;
            if (n == 7) {
                if (ip >= in_len) return -1;
                n += in[ip++];
            }
            if (ip >= in_len) return -1;
            Py_ssize_t distance = ((ctrl & 0x1F) << 8) + in[ip++] + 1;
            n += 2;
            if (distance > op || n > out_len - op) return -1;
            for (Py_ssize_t i = 0; i < n; i++, op++) out[op] = out[op - distance];
        }
    }
    return op;
}

/* 0: *out is a new bytes object; BAIL; -1: a Python error is set */
static int scan_string(Scan *s, Py_ssize_t *pos, PyObject **out) {
    Py_ssize_t p = *pos;
    if (p >= s->size) return BAIL;
    unsigned first = s->buf[p];
    if (first < 0xC0) {
        uint64_t n;
        if (scan_length(s, &p, &n) || n > (uint64_t)(s->size - p)) return BAIL;
        *out = PyBytes_FromStringAndSize((const char *)s->buf + p, (Py_ssize_t)n);
        *pos = p + (Py_ssize_t)n;
    } else if (first <= 0xC2) {
        int width = first == 0xC0 ? 1 : first == 0xC1 ? 2 : 4;
        if (p + 1 + width > s->size) return BAIL;
        *out = int_text(signed_le(s->buf + p + 1, width));
        *pos = p + 1 + width;
    } else if (first == 0xC3) {
        uint64_t clen, ulen;
        p++;
        if (scan_length(s, &p, &clen) || scan_length(s, &p, &ulen) || clen > (uint64_t)(s->size - p)) return BAIL;
        if (ulen == 0 || ulen > 89 * clen + 64) return BAIL; /* the Python path reports it */
        *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)ulen);
        if (*out == NULL) return -1;
        if (lzf_decompress(s->buf + p, (Py_ssize_t)clen, (unsigned char *)PyBytes_AS_STRING(*out), (Py_ssize_t)ulen) !=
            (Py_ssize_t)ulen) {
            Py_CLEAR(*out);
            return BAIL;
        }
        *pos = p + (Py_ssize_t)clen;
    } else {
        return BAIL;
    }
    return *out == NULL ? -1 : 0;
}

/* A listpack or ziplist stored as a string, walked; our FormatErrors become a bail. */
static int scan_blob(Scan *s, Py_ssize_t *pos, int listpack, int text, PyObject **entries) {
    PyObject *blob;
    int status = scan_string(s, pos, &blob);
    if (status) return status;
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(blob);
    *entries = listpack ? walk_listpack(data, PyBytes_GET_SIZE(blob), s->deep, text)
                        : walk_ziplist(data, PyBytes_GET_SIZE(blob), text);
    Py_DECREF(blob);
    if (*entries == NULL) {
        if (!PyErr_ExceptionMatches(FormatError)) return -1;
        PyErr_Clear();
        return BAIL;
    }
    return 0;
}

static int distinct_count(PyObject *items, Py_ssize_t *count) {
    PyObject *seen = PySet_New(NULL);
    if (seen == NULL) return -1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
        if (PySet_Add(seen, PyList_GET_ITEM(items, i)) < 0) {
            Py_DECREF(seen);
            return -1;
        }
    }
    *count = PySet_GET_SIZE(seen);
    Py_DECREF(seen);
    return 0;
}

/* A score entry as Python's float() reads it; anything unusual (or NaN) bails. */
static int score_of(PyObject *entry, PyObject **out) {
    double value;
    if (PyLong_Check(entry)) {
        value = PyLong_AsDouble(entry);
        if (value == -1.0 && PyErr_Occurred()) return -1;
    } else {
        const char *text = PyBytes_AS_STRING(entry);
        char *end;
        if (PyBytes_GET_SIZE(entry) == 0 || strlen(text) != (size_t)PyBytes_GET_SIZE(entry)) return BAIL;
        value = PyOS_string_to_double(text, &end, NULL);
        if (value == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return BAIL;
        }
        if (*end != '\0') return BAIL;
    }
    if (value != value) return BAIL;
    *out = PyFloat_FromDouble(value);
    return *out == NULL ? -1 : 0;
}

static int pairs_to_dict(PyObject *entries, PyObject **out) {
    Py_ssize_t n = PyList_GET_SIZE(entries);
    if (n == 0 || n % 2) return BAIL;
    *out = PyDict_New();
    if (*out == NULL) return -1;
    for (Py_ssize_t i = 0; i < n; i += 2) {
        if (PyDict_SetItem(*out, PyList_GET_ITEM(entries, i), PyList_GET_ITEM(entries, i + 1)) < 0) return -1;
    }
    return PyDict_GET_SIZE(*out) == n / 2 ? 0 : BAIL;
}

static int pairs_to_zset(PyObject *entries, PyObject **out) {
    Py_ssize_t n = PyList_GET_SIZE(entries), distinct;
    if (n == 0 || n % 2) return BAIL;
    PyObject *members = PyList_New(0);
    if (members == NULL || (*out = PyList_New(0)) == NULL) {
        Py_XDECREF(members);
        return -1;
    }
    int status = 0;
    for (Py_ssize_t i = 0; i < n && status == 0; i += 2) {
        PyObject *member = PyList_GET_ITEM(entries, i), *score;
        member = PyLong_Check(member) ? int_text(PyLong_AsLongLong(member)) : (Py_INCREF(member), member);
        if (member == NULL) {
            status = -1;
            break;
        }
        status = score_of(PyList_GET_ITEM(entries, i + 1), &score);
        if (status == 0) {
            PyObject *pair = PyTuple_Pack(2, member, score);
            Py_DECREF(score);
            status = append_new(*out, pair) < 0 || PyList_Append(members, member) < 0 ? -1 : 0;
        }
        Py_DECREF(member);
    }
    if (status == 0) status = distinct_count(members, &distinct) < 0 ? -1 : (distinct == n / 2 ? 0 : BAIL);
    Py_DECREF(members);
    return status;
}

static int extend_with_blob(Scan *s, Py_ssize_t *pos, int listpack, PyObject *items) {
    PyObject *entries;
    int status = scan_blob(s, pos, listpack, 1, &entries);
    if (status) return status;
    status = PyList_SetSlice(items, PyList_GET_SIZE(items), PyList_GET_SIZE(items), entries) < 0 ? -1 : 0;
    Py_DECREF(entries);
    return status;
}

/* The value of one key entry of type `type`; BAIL for the types left to Python. */
static int scan_value(Scan *s, Py_ssize_t *pos, unsigned type, PyObject **value) {
    uint64_t count;
    int status;
    PyObject *entries = NULL;
    *value = NULL;
    switch (type) {
    case 0: /* string */
        return scan_string(s, pos, value);
    case 1: /* linked list */
    case 2: /* hashtable set */
        if ((status = scan_length(s, pos, &count))) return status;
        if (count == 0 || count > (uint64_t)(s->size - *pos)) return BAIL;
        if ((*value = PyList_New(0)) == NULL) return -1;
        for (uint64_t i = 0; i < count; i++) {
            PyObject *item;
            if ((status = scan_string(s, pos, &item))) return status;
            if (append_new(*value, item) < 0) return -1;
        }
        return 0;
    case 4: /* hashtable hash */
        if ((status = scan_length(s, pos, &count))) return status;
        if (count == 0 || count > (uint64_t)(s->size - *pos)) return BAIL;
        if ((*value = PyDict_New()) == NULL) return -1;
        for (uint64_t i = 0; i < count; i++) {
            PyObject *field, *item;
            if ((status = scan_string(s, pos, &field))) return status;
            if ((status = scan_string(s, pos, &item))) {
                Py_DECREF(field);
                return status;
            }
            status = PyDict_SetItem(*value, field, item);
            Py_DECREF(field);
            Py_DECREF(item);
            if (status < 0) return -1;
        }
        return (uint64_t)PyDict_GET_SIZE(*value) == count ? 0 : BAIL;
    case 5: /* skiplist zset, binary scores */
        if ((status = scan_length(s, pos, &count))) return status;
        if (count == 0 || count > (uint64_t)(s->size - *pos)) return BAIL;
        if ((*value = PyList_New(0)) == NULL) return -1;
        for (uint64_t i = 0; i < count; i++) {
            PyObject *member, *score, *pair;
            if ((status = scan_string(s, pos, &member))) return status;
            if (*pos + 8 > s->size) {
                Py_DECREF(member);
                return BAIL;
            }
            double number = PyFloat_Unpack8((const char *)s->buf + *pos, 1);
            *pos += 8;
            if (number != number || (score = PyFloat_FromDouble(number)) == NULL) {
                Py_DECREF(member);
                return number != number ? BAIL : -1;
            }
            pair = PyTuple_Pack(2, member, score);
            Py_DECREF(member);
            Py_DECREF(score);
            if (append_new(*value, pair) < 0) return -1;
        }
        return 0;
    case 10: /* ziplist list */
    case 20: /* listpack set */
        if ((status = scan_blob(s, pos, type == 20, 1, value))) return status;
        if (PyList_GET_SIZE(*value) == 0) return BAIL;
        if (type == 20) {
            Py_ssize_t distinct;
            if (distinct_count(*value, &distinct) < 0) return -1;
            if (distinct != PyList_GET_SIZE(*value)) return BAIL;
        }
        return 0;
    case 11: { /* intset */
        PyObject *blob;
        if ((status = scan_string(s, pos, &blob))) return status;
        const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(blob);
        Py_ssize_t size = PyBytes_GET_SIZE(blob);
        uint64_t width = size >= 8 ? unsigned_le(data, 4) : 0, length = size >= 8 ? unsigned_le(data + 4, 4) : 0;
        if ((width != 2 && width != 4 && width != 8) || length == 0 || (uint64_t)size != 8 + length * width) {
            Py_DECREF(blob);
            return BAIL;
        }
        *value = PyList_New((Py_ssize_t)length);
        long long previous = 0;
        for (uint64_t i = 0; *value != NULL && i < length; i++) {
            long long element = signed_le(data + 8 + i * width, (int)width);
            if (s->deep && i > 0 && element <= previous) {
                Py_DECREF(blob);
                return BAIL;
            }
            previous = element;
            PyObject *text = int_text(element);
            if (text == NULL) {
                Py_DECREF(blob);
                return -1;
            }
            PyList_SET_ITEM(*value, (Py_ssize_t)i, text);
        }
        Py_DECREF(blob);
        return *value == NULL ? -1 : 0;
    }
    case 12: /* ziplist zset */
    case 17: /* listpack zset */
        if ((status = scan_blob(s, pos, type == 17, 0, &entries))) return status;
        status = pairs_to_zset(entries, value);
        Py_DECREF(entries);
        return status;
    case 13: /* ziplist hash */
    case 16: /* listpack hash */
        if ((status = scan_blob(s, pos, type == 16, 1, &entries))) return status;
        status = pairs_to_dict(entries, value);
        Py_DECREF(entries);
        return status;
    case 14: /* quicklist of ziplists */
    case 18: /* quicklist of listpacks and plain nodes */
        if ((status = scan_length(s, pos, &count))) return status;
        if (count == 0 || count > (uint64_t)(s->size - *pos)) return BAIL;
        if ((*value = PyList_New(0)) == NULL) return -1;
        for (uint64_t i = 0; i < count; i++) {
            uint64_t container = 2;
            if (type == 18 && (status = scan_length(s, pos, &container))) return status;
            if (container == 1) {
                PyObject *item;
                if ((status = scan_string(s, pos, &item))) return status;
                if (append_new(*value, item) < 0) return -1;
            } else if (container == 2) {
                if ((status = extend_with_blob(s, pos, type == 18, *value))) return status;
            } else {
                return BAIL;
            }
        }
        return PyList_GET_SIZE(*value) == 0 ? BAIL : 0;
    default:
        return BAIL;
    }
}

/* One key entry with its per-key opcodes, as a KeyRecord; BAIL leaves it to Python. */
static int scan_key(Scan *s, Py_ssize_t *pos, PyObject *db, PyObject *names, PyObject *record_class,
                    PyObject **record) {
    Py_ssize_t start = *pos, p = *pos;
    PyObject *expire = Py_None, *idle = Py_None, *freq = Py_None, *key = NULL, *value = NULL;
    int status = BAIL;
    Py_INCREF(expire);
    Py_INCREF(idle);
    Py_INCREF(freq);
    while (p < s->size && (s->buf[p] == 0xFC || s->buf[p] == 0xFD || s->buf[p] == 0xF8 || s->buf[p] == 0xF9)) {
        unsigned op = s->buf[p++];
        PyObject **slot = op == 0xF8 ? &idle : op == 0xF9 ? &freq : &expire;
        PyObject *number;
        if (op == 0xF8) {
            uint64_t seconds;
            if (scan_length(s, &p, &seconds)) goto done;
            number = PyLong_FromUnsignedLongLong(seconds);
        } else {
            int width = op == 0xFC ? 8 : op == 0xFD ? 4 : 1;
            if (p + width > s->size) goto done;
            long long raw = op == 0xF9 ? s->buf[p] : signed_le(s->buf + p, width);
            number = PyLong_FromLongLong(op == 0xFD ? raw * 1000 : raw);
            p += width;
        }
        if (number == NULL) {
            status = -1;
            goto done;
        }
        Py_SETREF(*slot, number);
    }
    if (p >= s->size) goto done;
    unsigned type = s->buf[p];
    if (type >= (unsigned)PyTuple_GET_SIZE(names) || PyTuple_GET_ITEM(names, type) == Py_None) goto done;
    p++;
    if ((status = scan_string(s, &p, &key))) goto done;
    if ((status = scan_value(s, &p, type, &value))) goto done;
    PyObject *info = PyTuple_GET_ITEM(names, type);
    PyObject *type_byte = PyLong_FromLong(type), *offset = PyLong_FromSsize_t(start);
    if (type_byte == NULL || offset == NULL) {
        Py_XDECREF(type_byte);
        Py_XDECREF(offset);
        status = -1;
        goto done;
    }
    PyObject *args[] = {db, key, PyTuple_GET_ITEM(info, 0), PyTuple_GET_ITEM(info, 1), type_byte, value,
                        expire, idle, freq, Py_None, offset};
    *record = PyObject_Vectorcall(record_class, args, 11, NULL);
    Py_DECREF(type_byte);
    Py_DECREF(offset);
    status = *record == NULL ? -1 : 0;
    if (status == 0) *pos = p;
done:
    Py_DECREF(expire);
    Py_DECREF(idle);
    Py_DECREF(freq);
    Py_XDECREF(key);
    Py_XDECREF(value);
    return status;
}

static PyObject *scan_keys(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, limit;
    int deep;
    PyObject *db, *names, *record_class;
    if (!PyArg_ParseTuple(args, "y*nnOpO!O", &view, &pos, &limit, &db, &deep, &PyTuple_Type, &names, &record_class))
        return NULL;
    Scan s = {view.buf, view.len, deep};
    PyObject *records = PyList_New(0);
    Py_ssize_t stop = pos + SCAN_MAX_BYTES < limit ? pos + SCAN_MAX_BYTES : limit;
    while (records != NULL && pos < stop && PyList_GET_SIZE(records) < SCAN_MAX_RECORDS) {
        PyObject *record = NULL;
        int status = scan_key(&s, &pos, db, names, record_class, &record);
        if (status == BAIL) break;
        if (status < 0 || append_new(records, record) < 0) Py_CLEAR(records);
    }
    PyBuffer_Release(&view);
    if (records == NULL) return NULL;
    return Py_BuildValue("(Nn)", records, pos);
}

/* --- repeated key hashes (verify's duplicate-key check) ------------------------------------ */

static int compare_int64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sort an array('q') in place and return the set of values that occur more than once. */
static PyObject *repeated_int64(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "w*", &view)) return NULL;
    if (view.itemsize != 8 || view.len % 8) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "expected an array of 64-bit integers");
        return NULL;
    }
    int64_t *values = view.buf;
    Py_ssize_t n = view.len / 8;
    qsort(values, (size_t)n, sizeof *values, compare_int64);
    PyObject *repeats = PySet_New(NULL);
    for (Py_ssize_t i = 1; repeats != NULL && i < n; i++) {
        if (values[i] == values[i - 1]) {
            PyObject *value = PyLong_FromLongLong(values[i]);
            if (value == NULL || PySet_Add(repeats, value) < 0) Py_CLEAR(repeats);
            Py_XDECREF(value);
        }
    }
    PyBuffer_Release(&view);
    return repeats;
}

/* --- module -------------------------------------------------------------------------------- */

static PyObject *decode_listpack(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"buf", "deep", NULL};
    Py_buffer view;
    int deep = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|p", keywords, &view, &deep)) return NULL;
    PyObject *result = walk_listpack(view.buf, view.len, deep, 0);
    PyBuffer_Release(&view);
    return result;
}

static PyObject *decode_ziplist(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"buf", "deep", NULL};
    Py_buffer view;
    int deep = 0;  /* ziplists are always validated fully: Redis converts them on load */
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|p", keywords, &view, &deep)) return NULL;
    PyObject *result = walk_ziplist(view.buf, view.len, 0);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"decode_listpack", (PyCFunction)(void (*)(void))decode_listpack, METH_VARARGS | METH_KEYWORDS, "Entries of a listpack blob (see formats/listpack.py)."},
    {"decode_ziplist", (PyCFunction)(void (*)(void))decode_ziplist, METH_VARARGS | METH_KEYWORDS, "Entries of a ziplist blob (see formats/ziplist.py)."},
    {"repeated_int64", repeated_int64, METH_VARARGS, "Values occurring twice in an array('q'), sorted in place."},
    {"scan_keys", scan_keys, METH_VARARGS, "Consecutive clean key entries as KeyRecords (see rdb/reader.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "rdbtools.formats._speedups", NULL, -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__speedups(void) {
    PyObject *errors = PyImport_ImportModule("rdbtools.errors");
    if (errors == NULL) return NULL;
    FormatError = PyObject_GetAttrString(errors, "FormatError");
    TruncatedError = PyObject_GetAttrString(errors, "TruncatedError");
    Py_DECREF(errors);
    if (FormatError == NULL || TruncatedError == NULL) return NULL;
    return PyModule_Create(&module);
}
