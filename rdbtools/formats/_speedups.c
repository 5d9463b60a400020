/* Optional accelerator for the hot loops of reading and writing an RDB file: the per-key record loop
 * and the listpack and ziplist walks inside it (plus the sort behind verify's duplicate-key check),
 * the listpack builder of the writer, and dump's byte strings as JSON text.
 *
 * decode_listpack and decode_ziplist are step-by-step twins of python_decode_listpack and
 * python_decode_ziplist in formats/listpack.py and ziplist.py (same checks in the same order, same
 * messages, same offsets). scan_keys is the clean-case half of the loop in rdb/reader.py: it hands
 * every record it does not handle, or finds anything unusual in, back to the Python loop. The
 * package falls back to Python when this module is not built; tests/formats/test_speedups.py
 * proves both agree on generated, damaged and real files.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static PyObject *FormatError;
static PyObject *TruncatedError;

#define BAIL 1 /* not an error: leave this record to the Python reader */
#define WALK_BAILED (-2)

/* Raise one of our exception classes as FormatError(message, offset=offset) would. */
static void fail(PyObject *cls, Py_ssize_t offset, const char *format, ...) {
    char message[200];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    PyObject *error = PyObject_CallFunction(cls, "s", message);
    if (error == NULL) return;
    PyObject *where = PyLong_FromSsize_t(offset);
    if (where != NULL && PyObject_SetAttrString(error, "offset", where) == 0) PyErr_SetObject(cls, error);
    Py_XDECREF(where);
    Py_DECREF(error);
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

/* The decimal digits of an int64 at out (at least 20 bytes): their count. Redis's ll2string. */
static Py_ssize_t int64_digits(char *out, long long value) {
    char reversed[20];
    unsigned long long rest = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    int count = 0;
    do {
        reversed[count++] = (char)('0' + rest % 10);
        rest /= 10;
    } while (rest);
    Py_ssize_t len = 0;
    if (value < 0) out[len++] = '-';
    while (count) out[len++] = reversed[--count];
    return len;
}

static PyObject *int_text(long long value) {
    char text[24];
    return PyBytes_FromStringAndSize(text, int64_digits(text, value));
}

/* --- entries and what to do with them ------------------------------------------------------ */

/* One listpack/ziplist entry: an integer, or a string of `len` bytes at `data`. */
typedef struct {
    int is_int;
    long long number;
    const unsigned char *data;
    Py_ssize_t len;
} Entry;

/* 0 go on, -1 a Python error is set, BAIL stop the walk (the record goes to Python) */
typedef int (*Visit)(void *sink, const Entry *entry);

/* Builds the Python list decode_* return: ints as int (or as decimal text), strings as bytes. */
typedef struct {
    PyObject *list;
    int text;
} ListSink;

static int visit_append(void *sink, const Entry *entry) {
    ListSink *out = sink;
    PyObject *item;
    if (entry->is_int) item = out->text ? int_text(entry->number) : PyLong_FromLongLong(entry->number);
    else item = PyBytes_FromStringAndSize((const char *)entry->data, entry->len);
    return append_new(out->list, item);
}

/* --- listpack ------------------------------------------------------------------------------ */

static int backlen_width(Py_ssize_t body) {
    if (body <= 127) return 1;
    if (body < 16383) return 2;
    if (body < 2097151) return 3;
    if (body < 268435455) return 4;
    return 5;
}

/* Entry count; -1 with FormatError/TruncatedError set; WALK_BAILED when a visitor stopped it. */
static Py_ssize_t walk_listpack(const unsigned char *buf, Py_ssize_t size, int deep, Visit visit, void *sink) {
    if (size < 7) {
        fail(TruncatedError, 0, "listpack of %zd bytes is shorter than its header", size);
        return -1;
    }
    uint64_t total = unsigned_le(buf, 4);
    if ((Py_ssize_t)total != size) {
        fail(FormatError, 0, "listpack header says %llu bytes, the blob has %zd", (unsigned long long)total, size);
        return -1;
    }
    if (buf[size - 1] != 0xFF) {
        fail(FormatError, size - 1, "listpack does not end with 0xFF");
        return -1;
    }
    unsigned count = (unsigned)unsigned_le(buf + 4, 2);
    Py_ssize_t end = size - 1, pos = 6, index = 0;
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
            fail(FormatError, pos, "listpack entry %zd: invalid encoding byte 0x%02x", index, first);
            return -1;
        }
        int width = backlen_width(body);
        if (body > end - pos - width) {
            fail(TruncatedError, pos, "listpack entry %zd runs past the end of the blob", index);
            return -1;
        }
        Entry entry = {1, 0, NULL, 0};
        if (first < 0x80) entry.number = first;
        else if (first < 0xC0) entry = (Entry){0, 0, buf + pos + 1, body - 1};
        else if (first < 0xE0) {
            long raw = ((first & 0x1F) << 8) | buf[pos + 1];
            entry.number = raw >= 4096 ? raw - 8192 : raw;
        } else if (first < 0xF0) entry = (Entry){0, 0, buf + pos + 2, body - 2};
        else if (first == 0xF0) entry = (Entry){0, 0, buf + pos + 5, body - 5};
        else entry.number = signed_le(buf + pos + 1, (int)body - 1);
        int status = visit(sink, &entry);
        if (status) return status < 0 ? -1 : WALK_BAILED;
        if (deep && (width != 1 || buf[pos + body] != body)) {
            /* read backwards from the entry's last byte until bit 7 is clear, as lpValidateNext does */
            Py_ssize_t last = pos + body + width - 1, at = last;
            uint64_t value = 0;
            for (int shift = 0;; shift += 7, at--) {
                if (shift > 28) {
                    fail(FormatError, last, "listpack entry %zd: back-length runs over 5 bytes", index);
                    return -1;
                }
                value |= (uint64_t)(buf[at] & 0x7F) << shift;
                if (!(buf[at] & 0x80)) break;
            }
            if ((Py_ssize_t)value != body) {
                fail(FormatError, last, "listpack entry %zd: back-length says %llu bytes, entry is %zd", index,
                     (unsigned long long)value, body);
                return -1;
            }
        }
        pos += body + width;
        index++;
    }
    if (count != 65535 && (Py_ssize_t)count != index) {
        fail(FormatError, 4, "listpack header counts %u entries, found %zd", count, index);
        return -1;
    }
    return index;
}

/* --- ziplist ------------------------------------------------------------------------------- */

static Py_ssize_t walk_ziplist(const unsigned char *buf, Py_ssize_t size, Visit visit, void *sink) {
    if (size < 11) {
        fail(TruncatedError, 0, "ziplist of %zd bytes is shorter than its header", size);
        return -1;
    }
    uint64_t zlbytes = unsigned_le(buf, 4), zltail = unsigned_le(buf + 4, 4);
    unsigned zllen = (unsigned)unsigned_le(buf + 8, 2);
    if ((Py_ssize_t)zlbytes != size) {
        fail(FormatError, 0, "ziplist header says %llu bytes, the blob has %zd", (unsigned long long)zlbytes, size);
        return -1;
    }
    if (buf[size - 1] != 0xFF) {
        fail(FormatError, size - 1, "ziplist does not end with 0xFF");
        return -1;
    }
    Py_ssize_t end = size - 1, pos = 10, prev_size = 0, last = 10, index = 0;
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
            fail(FormatError, pos, "ziplist entry %zd: end marker inside the entries", index);
            return -1;
        }
        if ((Py_ssize_t)prevlen != prev_size) {
            fail(FormatError, start, "ziplist entry %zd: prevlen says %llu, previous entry is %zd bytes", index,
                 (unsigned long long)prevlen, prev_size);
            return -1;
        }
        if (header >= end) goto truncated;
        unsigned tag = buf[header];
        if (tag < 0x40) {
            data = header + 1;
            length = tag;
        } else if (tag < 0x80) {
            data = header + 2;
            length = data <= end ? (((tag & 0x3F) << 8) | buf[header + 1]) : end;
        } else if (tag < 0xC0) { /* 10xxxxxx: a 32-bit string whatever the low bits */
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
            fail(FormatError, header, "ziplist entry %zd: invalid encoding byte 0x%02x", index, tag);
            return -1;
        }
        if (length > end - data) goto truncated;
        pos = data + length;
        Entry entry;
        if (tag < 0xC0) entry = (Entry){0, 0, buf + data, length};
        else if (tag >= 0xF1 && tag <= 0xFD) entry = (Entry){1, (long long)(tag & 0x0F) - 1, NULL, 0};
        else entry = (Entry){1, signed_le(buf + data, (int)length), NULL, 0};
        int status = visit(sink, &entry);
        if (status) return status < 0 ? -1 : WALK_BAILED;
        prev_size = pos - start;
        last = start;
        index++;
        continue;
    truncated:
        fail(TruncatedError, start, "ziplist entry %zd runs past the end of the blob", index);
        return -1;
    }
    if (index && (Py_ssize_t)zltail != last) {
        fail(FormatError, 4, "ziplist tail offset %llu does not point at the last entry (%zd)",
             (unsigned long long)zltail, last);
        return -1;
    }
    if ((Py_ssize_t)zltail > end) {
        fail(FormatError, 4, "ziplist tail offset %llu is past the end marker (%zd)", (unsigned long long)zltail, end);
        return -1;
    }
    if (zllen != 65535 && (Py_ssize_t)zllen != index) {
        fail(FormatError, 8, "ziplist header counts %u entries, found %zd", zllen, index);
        return -1;
    }
    return index;
}

/* --- the record scan ---------------------------------------------------------------------------
 * The per-key loop of rdb/reader.py for the clean case. It decodes consecutive key entries of the
 * types below and stops ("bails") at the first record it does not handle or finds anything unusual
 * in: an opcode record, another type, a corrupt or truncated part, a duplicate, an empty collection,
 * a NaN or unreadable score. The Python reader then decodes that record itself, so every error,
 * every problem and every rare type stays the Python code's. With keep=0 (verify) values are only
 * checked, not built: duplicates are found by 64-bit hashes of each member's text, and any hash
 * collision also hands the record to Python for the exact check.
 */

#define SCAN_MAX_RECORDS 1024
#define SCAN_MAX_BYTES (1 << 20) /* bounds the memory one batch of records can take */

typedef struct {
    uint64_t *slots;
    size_t capacity; /* a power of two, 0 before first use */
    size_t used;
} HashSet;

typedef struct {
    const unsigned char *buf;
    Py_ssize_t size;
    int deep;
    int keep;                /* build values (1) or only check them (0) */
    unsigned char *scratch;  /* LZF output and integer text when not building values */
    Py_ssize_t scratch_size;
    HashSet seen;            /* members already met in the value being checked */
} Scan;

static uint64_t text_hash(const unsigned char *data, Py_ssize_t len) {
    uint64_t hash = 1469598103934665603ULL; /* FNV-1a */
    for (Py_ssize_t i = 0; i < len; i++) hash = (hash ^ data[i]) * 1099511628211ULL;
    return hash | 1; /* 0 marks an empty slot */
}

/* 0 new, BAIL already there (perhaps another member with the same hash: Python decides), -1 no memory */
static int set_add(HashSet *set, uint64_t hash) {
    if (2 * (set->used + 1) > set->capacity) {
        size_t capacity = set->capacity ? 2 * set->capacity : 64;
        uint64_t *slots = PyMem_Calloc(capacity, sizeof *slots);
        if (slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (size_t i = 0; i < set->capacity; i++) {
            if (!set->slots[i]) continue;
            size_t at = set->slots[i] & (capacity - 1);
            while (slots[at]) at = (at + 1) & (capacity - 1);
            slots[at] = set->slots[i];
        }
        PyMem_Free(set->slots);
        set->slots = slots;
        set->capacity = capacity;
    }
    size_t at = hash & (set->capacity - 1);
    while (set->slots[at]) {
        if (set->slots[at] == hash) return BAIL;
        at = (at + 1) & (set->capacity - 1);
    }
    set->slots[at] = hash;
    set->used++;
    return 0;
}

static void set_clear(HashSet *set) {
    if (set->capacity > 256) { /* after a large value, do not wipe a large table for every small one */
        PyMem_Free(set->slots);
        set->slots = NULL;
        set->capacity = 0;
    } else if (set->used) {
        memset(set->slots, 0, set->capacity * sizeof *set->slots);
    }
    set->used = 0;
}

static int scratch_reserve(Scan *s, Py_ssize_t size) {
    if (size <= s->scratch_size) return 0;
    unsigned char *grown = PyMem_Realloc(s->scratch, (size_t)size);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    s->scratch = grown;
    s->scratch_size = size;
    return 0;
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

/* An RDB string as a byte slice: in the file, or in the scratch buffer (valid until the next call). */
static int scan_bytes(Scan *s, Py_ssize_t *pos, const unsigned char **data, Py_ssize_t *len) {
    Py_ssize_t p = *pos;
    if (p >= s->size) return BAIL;
    unsigned first = s->buf[p];
    if (first < 0xC0) {
        uint64_t n;
        if (scan_length(s, &p, &n) || n > (uint64_t)(s->size - p)) return BAIL;
        *data = s->buf + p;
        *len = (Py_ssize_t)n;
        *pos = p + (Py_ssize_t)n;
    } else if (first <= 0xC2) {
        int width = first == 0xC0 ? 1 : first == 0xC1 ? 2 : 4;
        if (p + 1 + width > s->size) return BAIL;
        if (scratch_reserve(s, 24) < 0) return -1;
        *len = snprintf((char *)s->scratch, 24, "%lld", (long long)signed_le(s->buf + p + 1, width));
        *data = s->scratch;
        *pos = p + 1 + width;
    } else if (first == 0xC3) {
        uint64_t clen, ulen;
        p++;
        if (scan_length(s, &p, &clen) || scan_length(s, &p, &ulen) || clen > (uint64_t)(s->size - p)) return BAIL;
        if (ulen == 0 || ulen > 89 * clen + 64) return BAIL; /* the Python path reports it */
        if (scratch_reserve(s, (Py_ssize_t)ulen) < 0) return -1;
        if (lzf_decompress(s->buf + p, (Py_ssize_t)clen, s->scratch, (Py_ssize_t)ulen) != (Py_ssize_t)ulen) return BAIL;
        *data = s->scratch;
        *len = (Py_ssize_t)ulen;
        *pos = p + (Py_ssize_t)clen;
    } else {
        return BAIL;
    }
    return 0;
}

/* An RDB string as a new bytes object. */
static int scan_string(Scan *s, Py_ssize_t *pos, PyObject **out) {
    const unsigned char *data;
    Py_ssize_t len;
    int status = scan_bytes(s, pos, &data, &len);
    if (status) return status;
    *out = PyBytes_FromStringAndSize((const char *)data, len);
    return *out == NULL ? -1 : 0;
}

/* Remember a member's text; BAIL when it (or its hash) was already there. */
static int seen_before(Scan *s, const unsigned char *data, Py_ssize_t len) {
    return set_add(&s->seen, text_hash(data, len));
}

/* A score as Python's float() reads it; anything unusual (or NaN) bails. */
static int parse_score(const unsigned char *data, Py_ssize_t len, double *value) {
    char text[64];
    if (len == 0 || len >= (Py_ssize_t)sizeof text || memchr(data, 0, len)) return BAIL;
    memcpy(text, data, len);
    text[len] = '\0';
    char *end;
    *value = PyOS_string_to_double(text, &end, NULL);
    if (*value == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return BAIL;
    }
    return *end != '\0' || *value != *value ? BAIL : 0;
}

/* Checks entries of a blob without building them. `pairs`: entries alternate member and second
 * item; `unique`: members must be distinct; `scores`: each second item is a readable, non-NaN score. */
typedef struct Shape Shape;

typedef struct {
    Scan *scan;
    int pairs, unique, scores;
    Py_ssize_t index;
    Shape *shape; /* report's measuring walk: what the memory model needs of each entry (or NULL) */
} CheckSink;

static int shape_add(Shape *shape, const Entry *entry, int second);

static int check_entry(CheckSink *check, const Entry *entry, int second);

static int visit_check(void *sink, const Entry *entry) {
    CheckSink *check = sink;
    int second = check->pairs && check->index++ % 2 == 1;
    int status = check_entry(check, entry, second);
    return status == 0 && check->shape != NULL ? shape_add(check->shape, entry, second) : status;
}

static int check_entry(CheckSink *check, const Entry *entry, int second) {
    if (!(second ? check->scores && !entry->is_int : check->unique)) return 0;
    char text[24];
    const unsigned char *data = entry->data;
    Py_ssize_t len = entry->len;
    if (entry->is_int) {
        len = snprintf(text, sizeof text, "%lld", entry->number);
        data = (const unsigned char *)text;
    }
    if (!second) return seen_before(check->scan, data, len);
    double score;
    return parse_score(data, len, &score);
}

/* Walk a listpack/ziplist stored as an RDB string, building a list (keep) or only checking it.
 * Our FormatErrors become a bail: the Python path reports them. */
static int scan_blob(Scan *s, Py_ssize_t *pos, int listpack, int text, CheckSink check, PyObject **list,
                     Py_ssize_t *count) {
    const unsigned char *data;
    Py_ssize_t len;
    int status = scan_bytes(s, pos, &data, &len);
    if (status) return status;
    ListSink out = {NULL, text};
    check.scan = s;
    Visit visit = visit_check;
    void *sink = &check;
    if (list != NULL) {
        if (*list == NULL && (*list = PyList_New(0)) == NULL) return -1;
        out.list = *list;
        visit = visit_append;
        sink = &out;
    }
    *count = listpack ? walk_listpack(data, len, s->deep, visit, sink) : walk_ziplist(data, len, visit, sink);
    if (*count == WALK_BAILED) return BAIL;
    if (*count < 0) {
        if (!PyErr_ExceptionMatches(FormatError)) return -1;
        PyErr_Clear();
        return BAIL;
    }
    return 0;
}

static int distinct_items(PyObject *items) {
    PyObject *seen = PySet_New(items);
    if (seen == NULL) return -1;
    int same = PySet_GET_SIZE(seen) == PyList_GET_SIZE(items);
    Py_DECREF(seen);
    return same ? 0 : BAIL;
}

/* A score entry of a built list as float() reads it. */
static int score_object(PyObject *entry, PyObject **out) {
    double value;
    if (PyLong_Check(entry)) {
        value = PyLong_AsDouble(entry);
        if (value == -1.0 && PyErr_Occurred()) return -1;
    } else {
        int status = parse_score((const unsigned char *)PyBytes_AS_STRING(entry), PyBytes_GET_SIZE(entry), &value);
        if (status) return status;
    }
    *out = PyFloat_FromDouble(value);
    return *out == NULL ? -1 : 0;
}

static int pairs_to_dict(PyObject *entries, PyObject **out) {
    Py_ssize_t n = PyList_GET_SIZE(entries);
    if (n == 0 || n % 2) return BAIL;
    if ((*out = PyDict_New()) == NULL) return -1;
    for (Py_ssize_t i = 0; i < n; i += 2) {
        if (PyDict_SetItem(*out, PyList_GET_ITEM(entries, i), PyList_GET_ITEM(entries, i + 1)) < 0) return -1;
    }
    return PyDict_GET_SIZE(*out) == n / 2 ? 0 : BAIL;
}

static int pairs_to_zset(PyObject *entries, PyObject **out) {
    Py_ssize_t n = PyList_GET_SIZE(entries);
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
        status = score_object(PyList_GET_ITEM(entries, i + 1), &score);
        if (status == 0) {
            PyObject *pair = PyTuple_Pack(2, member, score);
            Py_DECREF(score);
            status = append_new(*out, pair) < 0 || PyList_Append(members, member) < 0 ? -1 : 0;
        }
        Py_DECREF(member);
    }
    if (status == 0) status = distinct_items(members);
    Py_DECREF(members);
    return status;
}

/* A collection's item count: not zero (Python flags empty ones) and no more than the bytes left. */
static int scan_count(Scan *s, Py_ssize_t *pos, uint64_t *count) {
    int status = scan_length(s, pos, count);
    if (status) return status;
    return *count == 0 || *count > (uint64_t)(s->size - *pos) ? BAIL : 0;
}

/* Types 1 and 2: a count, then that many strings (`unique`: deep mode wants a set's members distinct). */
static int scan_plain_list(Scan *s, Py_ssize_t *pos, int unique, PyObject **value) {
    uint64_t count;
    int status = scan_count(s, pos, &count);
    if (status) return status;
    if (s->keep && (*value = PyList_New(0)) == NULL) return -1;
    for (uint64_t i = 0; i < count; i++) {
        const unsigned char *data;
        Py_ssize_t len;
        if ((status = scan_bytes(s, pos, &data, &len))) return status;
        if (unique && s->deep && (status = seen_before(s, data, len))) return status;
        if (s->keep && append_new(*value, PyBytes_FromStringAndSize((const char *)data, len)) < 0) return -1;
    }
    return 0;
}

/* Type 4: field/value pairs; fields must be distinct. */
static int scan_plain_hash(Scan *s, Py_ssize_t *pos, PyObject **value) {
    uint64_t count;
    int status = scan_count(s, pos, &count);
    if (status) return status;
    if (s->keep && (*value = PyDict_New()) == NULL) return -1;
    for (uint64_t i = 0; i < count; i++) {
        PyObject *field = NULL, *item;
        const unsigned char *data;
        Py_ssize_t len;
        if ((status = scan_bytes(s, pos, &data, &len))) return status;
        if (!s->keep) status = seen_before(s, data, len);
        else if ((field = PyBytes_FromStringAndSize((const char *)data, len)) == NULL) status = -1;
        if (status == 0) status = s->keep ? scan_string(s, pos, &item) : scan_bytes(s, pos, &data, &len);
        if (status == 0 && s->keep) {
            status = PyDict_SetItem(*value, field, item) < 0 ? -1 : 0;
            Py_DECREF(item);
        }
        Py_XDECREF(field);
        if (status) return status;
    }
    return !s->keep || (uint64_t)PyDict_GET_SIZE(*value) == count ? 0 : BAIL;
}

/* Type 5: members with binary double scores, distinct in deep mode. */
static int scan_binary_zset(Scan *s, Py_ssize_t *pos, PyObject **value) {
    uint64_t count;
    int status = scan_count(s, pos, &count);
    if (status) return status;
    if (s->keep && (*value = PyList_New(0)) == NULL) return -1;
    for (uint64_t i = 0; i < count; i++) {
        const unsigned char *data;
        Py_ssize_t len;
        if ((status = scan_bytes(s, pos, &data, &len))) return status;
        if (s->deep && (status = seen_before(s, data, len))) return status;
        if (*pos + 8 > s->size) return BAIL;
        double number = PyFloat_Unpack8((const char *)s->buf + *pos, 1);
        *pos += 8;
        if (number != number) return BAIL;
        if (!s->keep) continue;
        PyObject *member = PyBytes_FromStringAndSize((const char *)data, len), *score = PyFloat_FromDouble(number);
        PyObject *pair = member && score ? PyTuple_Pack(2, member, score) : NULL;
        Py_XDECREF(member);
        Py_XDECREF(score);
        if (append_new(*value, pair) < 0) return -1;
    }
    return 0;
}

/* An intset blob's header: its width (2, 4 or 8) and member count, checked against the blob's size. */
static int scan_intset_header(Scan *s, Py_ssize_t *pos, const unsigned char **data, uint64_t *width,
                              uint64_t *length) {
    Py_ssize_t size;
    int status = scan_bytes(s, pos, data, &size);
    if (status) return status;
    *width = size >= 8 ? unsigned_le(*data, 4) : 0;
    *length = size >= 8 ? unsigned_le(*data + 4, 4) : 0;
    if ((*width != 2 && *width != 4 && *width != 8) || *length == 0 || (uint64_t)size != 8 + *length * *width)
        return BAIL;
    return 0;
}

/* Type 11: an intset blob; deep mode wants it strictly ascending. */
static int scan_intset(Scan *s, Py_ssize_t *pos, PyObject **value) {
    const unsigned char *data;
    uint64_t width, length;
    int status = scan_intset_header(s, pos, &data, &width, &length);
    if (status) return status;
    if (s->keep && (*value = PyList_New(0)) == NULL) return -1;
    long long previous = 0;
    for (uint64_t i = 0; i < length; i++) {
        long long element = signed_le(data + 8 + i * width, (int)width);
        if (s->deep && i > 0 && element <= previous) return BAIL;
        previous = element;
        if (s->keep && append_new(*value, int_text(element)) < 0) return -1;
    }
    return 0;
}

/* Types 10 and 20: one blob of members (a list, or a set whose members must be distinct). */
static int scan_member_blob(Scan *s, Py_ssize_t *pos, unsigned type, PyObject **value) {
    int listpack = type == 20, unique = type == 20;
    Py_ssize_t count;
    CheckSink check = {NULL, 0, unique, 0, 0};
    int status = scan_blob(s, pos, listpack, 1, check, s->keep ? value : NULL, &count);
    if (status) return status;
    if (count == 0) return BAIL;
    return s->keep && unique ? distinct_items(*value) : 0;
}

/* Types 12, 13, 16, 17: one blob of (member, score) or (field, value) pairs. */
static int scan_pair_blob(Scan *s, Py_ssize_t *pos, unsigned type, PyObject **value) {
    int listpack = type == 16 || type == 17, zset = type == 12 || type == 17;
    PyObject *entries = NULL;
    Py_ssize_t count;
    CheckSink check = {NULL, 1, 1, zset, 0};
    int status = scan_blob(s, pos, listpack, !zset, check, s->keep ? &entries : NULL, &count);
    if (status == 0 && (count == 0 || count % 2)) status = BAIL;
    if (status == 0 && s->keep) status = zset ? pairs_to_zset(entries, value) : pairs_to_dict(entries, value);
    Py_XDECREF(entries);
    return status;
}

/* Types 14 and 18: quicklist nodes (ziplists; or listpacks and PLAIN single elements). */
static int scan_quicklist(Scan *s, Py_ssize_t *pos, unsigned type, PyObject **value) {
    uint64_t nodes;
    int status = scan_count(s, pos, &nodes);
    if (status) return status;
    if (s->keep && (*value = PyList_New(0)) == NULL) return -1;
    Py_ssize_t items = 0;
    for (uint64_t i = 0; i < nodes; i++) {
        uint64_t container = 2;
        if (type == 18 && (status = scan_length(s, pos, &container))) return status;
        if (container == 1) {
            const unsigned char *data;
            Py_ssize_t len;
            if ((status = scan_bytes(s, pos, &data, &len))) return status;
            if (len == 0) return BAIL; /* an empty PLAIN node: Python raises Redis's refusal */
            if (s->keep && append_new(*value, PyBytes_FromStringAndSize((const char *)data, len)) < 0) return -1;
            items++;
        } else if (container == 2) {
            Py_ssize_t count;
            CheckSink check = {NULL, 0, 0, 0, 0};
            if ((status = scan_blob(s, pos, type == 18, 1, check, s->keep ? value : NULL, &count))) return status;
            items += count;
        } else {
            return BAIL;
        }
    }
    return items == 0 ? BAIL : 0;
}

/* The value of one key entry; BAIL for the types left to Python. With keep=0, *value stays NULL. */
static int scan_value(Scan *s, Py_ssize_t *pos, unsigned type, PyObject **value) {
    *value = NULL;
    set_clear(&s->seen);
    switch (type) {
    case 0: {
        if (s->keep) return scan_string(s, pos, value);
        const unsigned char *data;
        Py_ssize_t len;
        return scan_bytes(s, pos, &data, &len);
    }
    case 1:
    case 2:
        return scan_plain_list(s, pos, type == 2, value);
    case 4:
        return scan_plain_hash(s, pos, value);
    case 5:
        return scan_binary_zset(s, pos, value);
    case 10:
    case 20:
        return scan_member_blob(s, pos, type, value);
    case 11:
        return scan_intset(s, pos, value);
    case 12:
    case 13:
    case 16:
    case 17:
        return scan_pair_blob(s, pos, type, value);
    case 14:
    case 18:
        return scan_quicklist(s, pos, type, value);
    default:
        return BAIL;
    }
}

/* --- report's measuring walk ------------------------------------------------------------------
 * report/measure.py's facts of a key (keyspace/memory.py's key_usage, SAMPLES 0) for the common
 * encodings of a Redis 6.2, 7.x or 8.x keyspace, computed while the value is checked as with keep=0, from its
 * entries' lengths and integers, without building it: a string, and a listpack hash or sorted set, an
 * intset or a quicklist the target keeps as they are, a set of distinct members in whatever encoding. Anything else (a value the target converts,
 * another type or layout) bails, and the record is built for the Python model, this walk's twin
 * (tests/report/test_measure_accelerated.py proves both agree).
 */

#define ROBJ_SIZE 16      /* sizeof(robj) */
#define QUICKLIST_SIZE 40 /* sizeof(quicklist) */
#define MAX_INT_SCORE ((double)(1LL << 62)) /* a listpack score at most this and integral is an integer entry */

static PyObject *ENC_INT, *ENC_EMBSTR, *ENC_RAW, *ENC_LISTPACK, *ENC_INTSET, *ENC_QUICKLIST, *ENC_HASHTABLE, *ENC_ZIPLIST;
static PyObject *PAST_INTSET_ENTRIES, *PAST_SET_LISTPACK_ENTRIES, *PAST_SET_LISTPACK_VALUE, *PAST_LIST_SIZE;

/* What report.measure.accelerated_model hands over: the target's layout and thresholds. */
typedef struct {
    PyObject *facts_class;
    Py_ssize_t entry, quicklist_node, dict;
    Py_ssize_t hash_entries, hash_value, zset_entries, zset_value, intset_entries, set_entries, set_value;
    Py_ssize_t list_bytes, list_count;
    int set_listpacks, list_conversions, shortest_scores;
    int allocator;       /* ALLOC_*: the build's allocator (memory.allocation, fine_allocation, libc_allocation) */
    int allocated_blobs; /* an embstr, intset, listpack counted as allocated (6.2: by its length) */
    int ziplists;        /* hashes, sorted sets and list nodes as ziplists (6.2) */
    int embedded_keys;   /* the key (and TTL) in the value's object, a short string too (Redis 8) */
} Model;

enum { ALLOC_JEMALLOC, ALLOC_JEMALLOC_FINE, ALLOC_LIBC };

struct Shape {
    const Model *model;
    int scores;               /* pairs whose second items are scores, as the target writes their text */
    Py_ssize_t count, packed; /* entries, and their bytes in a listpack (memory.listpack_bytes but its 7) */
    Py_ssize_t longest_first, longest_second, largest_pair, first_len; /* texts' lengths */
    Py_ssize_t last_len, last_size, strings; /* the last entry's; every entry's sds allocation */
    Py_ssize_t previous;                     /* a ziplist's: the last entry's bytes (its next one's prevlen) */
    /* the nodes the target packs the entries in (memory._quicklist_nodes); limit 0: none */
    Py_ssize_t limit, most, node_packed, node_used, nodes_total;
};

/* The key's measured facts but its names. */
typedef struct {
    PyObject *encoding;
    Py_ssize_t bytes, elements, largest;
    PyObject *past_threshold; /* borrowed, NULL for None */
} Facts;

/* jemalloc's size class (memory.allocation: Redis 7's build). */
static Py_ssize_t jemalloc_size(Py_ssize_t size) {
    if (size <= 8) return 8;
    if (size <= 128) return (size + 15) / 16 * 16;
    int bits = 64 - __builtin_clzll((unsigned long long)size);
    Py_ssize_t step = (Py_ssize_t)1 << (bits - 3);
    return (size + step - 1) / step * step;
}

/* The allocator's size for a request, in the target's build. */
static Py_ssize_t allocated(const Model *m, Py_ssize_t size) {
    if (m->allocator == ALLOC_LIBC) return size + 8 + 15 < 48 ? 24 : (size + 8 + 15) / 16 * 16 - 8;
    if (m->allocator == ALLOC_JEMALLOC_FINE && size <= 64) return size <= 8 ? 8 : (size + 7) / 8 * 8;
    return jemalloc_size(size);
}

/* A compact encoding's bytes as counted (Layout.blob): allocated, or (6.2) its length. */
static Py_ssize_t blob_size(const Model *m, Py_ssize_t size) {
    return m->allocated_blobs ? allocated(m, size) : size;
}

/* memory._sds_bytes: an sds string's header, bytes and terminator. */
static Py_ssize_t sds_bytes(Py_ssize_t len) {
    return (len < 32 ? 1 : len < 256 ? 3 : len < 65536 ? 5 : 9) + len + 1;
}

static Py_ssize_t sds_size(const Model *m, Py_ssize_t len) {
    return allocated(m, sds_bytes(len));
}

static Py_ssize_t int_entry_size(long long v) {
    if (0 <= v && v <= 127) return 2;
    if (-4096 <= v && v <= 4095) return 3;
    if (-32768 <= v && v <= 32767) return 4;
    if (-8388608 <= v && v <= 8388607) return 5;
    return -2147483648LL <= v && v <= 2147483647LL ? 6 : 10;
}

static int canonical_int64(const unsigned char *s, Py_ssize_t len, long long *out);

/* An element as the model sizes it: an integer (an entry's, or the canonical text of one), or a text. */
typedef struct {
    int is_number;
    long long number;
    Py_ssize_t len; /* the text's */
} Element;

static Element text_element(const unsigned char *data, Py_ssize_t len) {
    Element element = {0, 0, len};
    element.is_number = canonical_int64(data, len, &element.number);
    return element;
}

/* stream_nodes.value_size: a listpack entry's bytes. */
static Py_ssize_t listpack_entry_size(Element e) {
    if (e.is_number) return int_entry_size(e.number);
    if (e.len < 64) return e.len + 2;
    Py_ssize_t body = e.len + (e.len < 4096 ? 2 : 5);
    return body + backlen_width(body);
}

/* memory.ziplist_entry: a ziplist entry's bytes after an entry of `previous` bytes. */
static Py_ssize_t ziplist_entry_size(Element e, Py_ssize_t previous) {
    long long v = e.number;
    Py_ssize_t size = !e.is_number                             ? e.len + (e.len < 64 ? 1 : e.len < 16384 ? 2 : 5)
                      : 0 <= v && v <= 12                      ? 1
                      : -128 <= v && v < 128                   ? 2
                      : -32768 <= v && v < 32768               ? 3
                      : -8388608 <= v && v < 8388608           ? 4
                      : -2147483648LL <= v && v < 2147483648LL ? 5
                                                               : 9;
    return size + (previous < 254 ? 1 : 5);
}

static Py_ssize_t text_entry_size(const unsigned char *data, Py_ssize_t len) {
    return listpack_entry_size(text_element(data, len));
}

static Py_ssize_t decimal_length(long long v) {
    unsigned long long magnitude = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
    Py_ssize_t n = v < 0 ? 2 : 1;
    while (magnitude >= 10) {
        magnitude /= 10;
        n++;
    }
    return n;
}

/* writer.score_entry: a score as its listpack or ziplist entry holds it, an integer or the target's text. */
static int score_element(double score, int shortest, Element *out) {
    if (score == floor(score) && fabs(score) <= MAX_INT_SCORE) {
        *out = (Element){1, (long long)score, decimal_length((long long)score)};
        return 0;
    }
    if (isinf(score)) {
        *out = (Element){0, 0, score > 0 ? 3 : 4};
        return 0;
    }
    char text[40];
    if (!shortest) {
        int n = snprintf(text, sizeof text, "%.17g", score);
        *out = text_element((const unsigned char *)text, n);
        return 0;
    }
    char *repr = PyOS_double_to_string(score, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (repr == NULL) return -1;
    *out = text_element((const unsigned char *)repr, (Py_ssize_t)strlen(repr));
    PyMem_Free(repr);
    return 0;
}

static Py_ssize_t empty_blob(const Model *m) {
    return m->ziplists ? 11 : 7; /* a ziplist's header and end, a listpack's */
}

static void shape_flush_node(Shape *shape) {
    shape->nodes_total += shape->model->quicklist_node + blob_size(shape->model, shape->node_used);
    shape->node_packed = 0;
    shape->node_used = empty_blob(shape->model);
}

static Py_ssize_t shape_entry_size(const Shape *shape, Element element) {
    return shape->model->ziplists ? ziplist_entry_size(element, shape->previous) : listpack_entry_size(element);
}

static int shape_add(Shape *shape, const Entry *entry, int second) {
    Py_ssize_t len = entry->is_int ? decimal_length(entry->number) : entry->len;
    Element element = {1, entry->number, len};
    if (second && shape->scores) {
        double score = (double)entry->number;
        if (!entry->is_int && parse_score(entry->data, entry->len, &score)) return BAIL;
        if (score_element(score, shape->model->shortest_scores, &element) < 0) return -1;
    } else if (!entry->is_int) {
        element = text_element(entry->data, len);
    }
    Py_ssize_t size = shape_entry_size(shape, element);
    shape->previous = size;
    shape->count++;
    shape->packed += size;
    shape->last_len = len;
    shape->last_size = size;
    shape->strings += sds_size(shape->model, len);
    if (second) {
        shape->longest_second = len > shape->longest_second ? len : shape->longest_second;
        Py_ssize_t pair = shape->first_len + len;
        shape->largest_pair = pair > shape->largest_pair ? pair : shape->largest_pair;
    } else {
        shape->first_len = len;
        shape->longest_first = len > shape->longest_first ? len : shape->longest_first;
    }
    if (shape->limit) {
        if (shape->node_packed &&
            (shape->node_used + size > shape->limit || (shape->most && shape->node_packed >= shape->most))) {
            shape_flush_node(shape);
            shape->previous = 0; /* a new node's first entry: no entry before it */
            size = shape_entry_size(shape, element);
            shape->previous = size;
        }
        shape->node_packed++;
        shape->node_used += size;
    }
    return 0;
}

/* Types 12, 13, 16, 17 that stay compact: a hash's fields and values, a sorted set's members and scores, in
 * the target's listpack or (6.2) ziplist. */
static int measure_pairs(Scan *s, Py_ssize_t *pos, unsigned type, const Model *m, Facts *out) {
    int zset = type == 12 || type == 17;
    Shape shape = {m};
    shape.scores = zset;
    CheckSink check = {NULL, 1, 1, zset, 0, &shape};
    Py_ssize_t count;
    int status = scan_blob(s, pos, type == 16 || type == 17, !zset, check, NULL, &count);
    if (status) return status;
    Py_ssize_t pairs = count / 2;
    if (count == 0 || count % 2) return BAIL;
    if (zset ? pairs > m->zset_entries || shape.longest_first > m->zset_value
             : pairs > m->hash_entries || shape.longest_first > m->hash_value || shape.longest_second > m->hash_value)
        return BAIL; /* the target converts it */
    *out = (Facts){m->ziplists ? ENC_ZIPLIST : ENC_LISTPACK, ROBJ_SIZE + blob_size(m, empty_blob(m) + shape.packed),
                   pairs, zset ? shape.longest_first : shape.largest_pair};
    return 0;
}

/* The narrowest integers an intset of these bounds holds (memory._intset_width). */
static int intset_width(long long low, long long high) {
    return low >= -32768 && high < 32768 ? 2 : low >= -2147483648LL && high < 2147483648LL ? 4 : 8;
}

/* Type 11 within set-max-intset-entries, its members ascending (duplicates go to Python). */
static int measure_intset(Scan *s, Py_ssize_t *pos, const Model *m, Facts *out) {
    const unsigned char *data;
    uint64_t width, length;
    int status = scan_intset_header(s, pos, &data, &width, &length);
    if (status) return status;
    if (length > (uint64_t)m->intset_entries) return BAIL;
    long long first = signed_le(data + 8, (int)width), previous = first;
    Py_ssize_t longest = decimal_length(first);
    for (uint64_t i = 1; i < length; i++) {
        long long element = signed_le(data + 8 + i * width, (int)width);
        if (element <= previous) return BAIL;
        Py_ssize_t len = decimal_length(element);
        longest = len > longest ? len : longest;
        previous = element;
    }
    *out = (Facts){ENC_INTSET, ROBJ_SIZE + blob_size(m, 8 + intset_width(first, previous) * (Py_ssize_t)length),
                   (Py_ssize_t)length, longest, NULL};
    return 0;
}

/* Types 14 and 18: one listpack where 7.2+ keeps the list one (writer.one_listpack), else its elements repacked
 * in the target's nodes. */
static int measure_quicklist(Scan *s, Py_ssize_t *pos, unsigned type, const Model *m, Facts *out) {
    uint64_t nodes;
    int status = scan_count(s, pos, &nodes);
    if (status) return status;
    Shape shape = {m};
    shape.limit = m->list_bytes;
    shape.most = m->list_count;
    shape.node_used = empty_blob(m);
    for (uint64_t i = 0; i < nodes; i++) {
        uint64_t container = 2; /* (type 14: every node a ziplist) */
        if (type == 18 && (status = scan_length(s, pos, &container))) return status;
        if (container == 1) {
            Entry plain = {0, 0, NULL, 0};
            if ((status = scan_bytes(s, pos, &plain.data, &plain.len))) return status;
            if (plain.len == 0) return BAIL;
            if ((status = shape_add(&shape, &plain, 0))) return status;
        } else if (container == 2) {
            Py_ssize_t count;
            CheckSink check = {NULL, 0, 0, 0, 0, &shape};
            if ((status = scan_blob(s, pos, type == 18, 1, check, NULL, &count))) return status;
        } else {
            return BAIL;
        }
    }
    if (shape.count == 0) return BAIL;
    if (m->list_conversions) {
        int counted_out = m->list_count && shape.count > m->list_count;
        if (!counted_out && 7 + shape.packed - shape.last_size + shape.last_len <= m->list_bytes) {
            *out = (Facts){ENC_LISTPACK, ROBJ_SIZE + blob_size(m, 7 + shape.packed), shape.count,
                           shape.longest_first, NULL};
            return 0;
        }
    }
    shape_flush_node(&shape);
    *out = (Facts){ENC_QUICKLIST, ROBJ_SIZE + QUICKLIST_SIZE + shape.nodes_total, shape.count, shape.longest_first,
                   m->list_conversions ? PAST_LIST_SIZE : NULL};
    return 0;
}

/* memory.table_size: a dict's buckets for `count` elements. */
static Py_ssize_t table_size(Py_ssize_t count) {
    Py_ssize_t size = 4;
    while (size < count) size *= 2;
    return count ? size : 0;
}

/* A set of `n` distinct members as the target loads it (keyspace/encodings.set_encoding): an intset when
 * `numbers` (all canonical integers, between low and high; never for a listpack stored), a listpack (7.2+) or
 * a hash table; and the threshold it is past (measure._set_threshold). `packed`: the members' listpack
 * bytes, `strings`: their sds allocations. */
static void set_facts(const Model *m, Py_ssize_t n, Py_ssize_t longest, int numbers, long long low, long long high,
                      Py_ssize_t packed, Py_ssize_t strings, Facts *out) {
    if (numbers && n <= m->intset_entries) {
        *out = (Facts){ENC_INTSET, ROBJ_SIZE + blob_size(m, 8 + intset_width(low, high) * n), n, longest, NULL};
        return;
    }
    PyObject *past_intset = numbers ? PAST_INTSET_ENTRIES : NULL; /* (more numbers than an intset holds) */
    if (m->set_listpacks && n <= m->set_entries && longest <= m->set_value) {
        *out = (Facts){ENC_LISTPACK, ROBJ_SIZE + blob_size(m, 7 + packed), n, longest, past_intset};
        return;
    }
    PyObject *past = !m->set_listpacks ? past_intset : n > m->set_entries ? PAST_SET_LISTPACK_ENTRIES
                                                                           : PAST_SET_LISTPACK_VALUE;
    *out = (Facts){ENC_HASHTABLE, ROBJ_SIZE + m->dict + 8 * table_size(n) + n * m->entry + strings, n, longest, past};
}

/* Type 2, its members distinct (duplicates go to Python). */
static int measure_plain_set(Scan *s, Py_ssize_t *pos, const Model *m, Facts *out) {
    uint64_t count;
    int status = scan_count(s, pos, &count);
    if (status) return status;
    Py_ssize_t n = (Py_ssize_t)count, longest = 0, packed = 0, strings = 0;
    long long low = LLONG_MAX, high = LLONG_MIN, number;
    int numbers = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        const unsigned char *data;
        Py_ssize_t len;
        if ((status = scan_bytes(s, pos, &data, &len)) || (status = seen_before(s, data, len))) return status;
        longest = len > longest ? len : longest;
        packed += text_entry_size(data, len);
        strings += sds_size(m, len);
        if (numbers && canonical_int64(data, len, &number)) {
            low = number < low ? number : low;
            high = number > high ? number : high;
        } else {
            numbers = 0;
        }
    }
    set_facts(m, n, longest, numbers, low, high, packed, strings, out);
    return 0;
}

/* Type 20 (7.2+), its members distinct: a listpack stays one while it is small enough, integers or not. */
static int measure_set_listpack(Scan *s, Py_ssize_t *pos, const Model *m, Facts *out) {
    if (!m->set_listpacks) return BAIL;
    Shape shape = {m};
    CheckSink check = {NULL, 0, 1, 0, 0, &shape};
    Py_ssize_t count;
    int status = scan_blob(s, pos, 1, 1, check, NULL, &count);
    if (status) return status;
    if (count == 0) return BAIL;
    set_facts(m, count, shape.longest_first, 0, 0, 0, shape.packed, shape.strings, out);
    return 0;
}

/* Redis 8's object holding the key (memory._keyed_object): its header, TTL and the key's sds. */
static Py_ssize_t key_object_bytes(Py_ssize_t key_len, int expires) {
    return ROBJ_SIZE + (expires ? 8 : 0) + 1 + sds_bytes(key_len);
}

/* A string, its key's bytes and all: a shared-format integer, embedded in its object (embstr: up to 44 bytes; Redis
 * 8: by the key's length and TTL too, memory._embedded_string), else raw. */
static int measure_string(Scan *s, Py_ssize_t *pos, const Model *m, Py_ssize_t key_len, int expires, Facts *out) {
    const unsigned char *data;
    Py_ssize_t len;
    long long number;
    int status = scan_bytes(s, pos, &data, &len);
    if (status) return status;
    Py_ssize_t head = key_object_bytes(key_len, expires), keyed = sds_size(m, key_len) + m->entry;
    if (canonical_int64(data, len, &number)) {
        *out = (Facts){ENC_INT, m->embedded_keys ? allocated(m, head) : keyed + ROBJ_SIZE, 1, len, NULL};
        return 0;
    }
    if (m->embedded_keys) {
        Py_ssize_t size = head + 3 + len + 1, ttl = expires ? 8 : 0;
        int embedded = key_len + len <= 41 && (key_len + len + ttl <= 41 || size <= allocated(m, size - ttl));
        *out = embedded ? (Facts){ENC_EMBSTR, allocated(m, size), 1, len, NULL}
                        : (Facts){ENC_RAW, allocated(m, head) + sds_size(m, len), 1, len, NULL};
    } else if (len <= 44) { /* (6.2 counts its length) */
        Py_ssize_t object = m->allocated_blobs ? allocated(m, ROBJ_SIZE + 3 + len + 1) : ROBJ_SIZE + len + 2;
        *out = (Facts){ENC_EMBSTR, keyed + object, 1, len, NULL};
    } else {
        *out = (Facts){ENC_RAW, keyed + ROBJ_SIZE + sds_size(m, len), 1, len, NULL};
    }
    return 0;
}

/* The key's facts: its value's, and its sds and dict entry (Redis 8: the object holding it, which holds the value's
 * place); BAIL for what the Python model measures. */
static int measure_value(Scan *s, Py_ssize_t *pos, unsigned type, const Model *m, Py_ssize_t key_len, int expires,
                         Facts *out) {
    int status;
    set_clear(&s->seen);
    switch (type) {
    case 0:
        return measure_string(s, pos, m, key_len, expires, out);
    case 2:
        status = measure_plain_set(s, pos, m, out);
        break;
    case 11:
        status = measure_intset(s, pos, m, out);
        break;
    case 12:
    case 13:
    case 16:
    case 17:
        status = measure_pairs(s, pos, type, m, out);
        break;
    case 14:
    case 18:
        status = measure_quicklist(s, pos, type, m, out);
        break;
    case 20:
        status = measure_set_listpack(s, pos, m, out);
        break;
    default:
        return BAIL;
    }
    if (status == 0) {
        out->bytes += m->embedded_keys ? allocated(m, key_object_bytes(key_len, expires)) - ROBJ_SIZE
                                       : sds_size(m, key_len) + m->entry;
    }
    return status;
}

static PyObject *make_facts(const Model *m, PyObject *db, PyObject *key, PyObject *type_name, const Facts *facts,
                            PyObject *expire) {
    PyObject *bytes = PyLong_FromSsize_t(facts->bytes), *elements = PyLong_FromSsize_t(facts->elements);
    PyObject *largest = PyLong_FromSsize_t(facts->largest), *made = NULL;
    if (bytes != NULL && elements != NULL && largest != NULL) {
        PyObject *past = facts->past_threshold ? facts->past_threshold : Py_None;
        PyObject *args[] = {db, key, type_name, facts->encoding, bytes, elements, largest, expire, past};
        made = PyObject_Vectorcall(m->facts_class, args, 9, NULL);
    }
    Py_XDECREF(bytes);
    Py_XDECREF(elements);
    Py_XDECREF(largest);
    return made;
}

/* --- report's fold: a measured key into its summary ------------------------------------------
 * report/summary.py's Summary.add (this fold's Python twin) for the keys the scan measures, so that
 * no object is made for them: its totals, its group's [keys, bytes], the top heaps' threshold and the
 * prefix nodes the key falls under. The rare parts stay Python's, called from here: a TTL's bucket,
 * a key that enters a top heap (summary._keep, given its KeyFacts), a prefix the tree has no node for
 * yet (PrefixTree.add does the whole key). tests/report/test_measure_accelerated.py proves both agree.
 */

#define FOLD_MAX_DEPTH 16 /* deeper prefix trees are left to PrefixTree.add */
#define FOLD_GROUPS 8     /* the groups whose counts the fold holds until it ends (most keys fall in a few) */

/* Counts added to a group's [keys, bytes] or a prefix node's keys and bytes when the fold ends (sums commute
 * with what Python adds meanwhile: nothing reads them before). */
typedef struct {
    PyObject *counts; /* the list, or the node; NULL: unused */
    long long keys, bytes;
} Pending;

typedef struct {
    PyObject *db, *type, *encoding, *bucket, *past; /* the group, compared by identity (strong references) */
    Pending pending;
} CachedGroup;

typedef struct {
    PyObject *prefix; /* the last prefix met at this level */
    Pending pending;
} CachedPrefix;

static PyObject *NAME_KEYS, *NAME_BYTES;

/* What report.summary.Summary.fold_state hands over (the summary's containers, changed in place). */
typedef struct {
    PyObject *summary, *file, *groups, *top_keys, *largest_elements, *nodes, *marks;
    PyObject *keep, *ttl_bucket, *add_prefixes, *now_ms, *no_ttl;
    Py_ssize_t top, depth;
    long long keys, bytes;
    CachedGroup groups_met[FOLD_GROUPS];
    int next_group; /* the entry the next group met replaces */
    CachedPrefix prefixes_met[FOLD_MAX_DEPTH];
} Fold;

static int fold_open(PyObject *state, Fold *f) {
    memset(f, 0, sizeof *f);
    if (!PyArg_ParseTuple(state, "OOO!O!O!O!O!OOOOOnn", &f->summary, &f->file, &PyDict_Type, &f->groups, &PyList_Type,
                          &f->top_keys, &PyList_Type, &f->largest_elements, &PyDict_Type, &f->nodes, &PyTuple_Type,
                          &f->marks, &f->keep, &f->ttl_bucket, &f->add_prefixes, &f->now_ms, &f->no_ttl, &f->top,
                          &f->depth))
        return -1;
    PyObject *keys = PyObject_GetAttr(f->summary, NAME_KEYS), *bytes = PyObject_GetAttr(f->summary, NAME_BYTES);
    f->keys = keys ? PyLong_AsLongLong(keys) : -1;
    f->bytes = bytes ? PyLong_AsLongLong(bytes) : -1;
    Py_XDECREF(keys);
    Py_XDECREF(bytes);
    return PyErr_Occurred() ? -1 : 0;
}

static int add_to_item(PyObject *list, Py_ssize_t i, long long by);
static int add_to_attr(PyObject *obj, PyObject *name, long long by);

/* Add the pending counts (when `flush`) and forget them. */
static int pending_done(Pending *pending, int flush) {
    int status = 0;
    if (pending->counts != NULL && flush && (pending->keys || pending->bytes)) {
        PyObject *counts = pending->counts;
        status = PyList_CheckExact(counts)
                     ? (add_to_item(counts, 0, pending->keys) < 0 || add_to_item(counts, 1, pending->bytes) < 0 ? -1 : 0)
                     : (add_to_attr(counts, NAME_KEYS, pending->keys) < 0 ||
                                add_to_attr(counts, NAME_BYTES, pending->bytes) < 0
                            ? -1
                            : 0);
    }
    Py_CLEAR(pending->counts);
    pending->keys = pending->bytes = 0;
    return status;
}

static int group_done(CachedGroup *group, int flush) {
    Py_CLEAR(group->db);
    Py_CLEAR(group->type);
    Py_CLEAR(group->encoding);
    Py_CLEAR(group->bucket);
    Py_CLEAR(group->past);
    return pending_done(&group->pending, flush);
}

/* The pending counts and the totals into the summary (`flush`: the scan ended cleanly), the references let go. */
static int fold_close(Fold *f, int flush) {
    int status = 0;
    for (int i = 0; i < FOLD_GROUPS; i++) status |= group_done(&f->groups_met[i], flush && status == 0);
    for (int i = 0; i < FOLD_MAX_DEPTH; i++) {
        Py_CLEAR(f->prefixes_met[i].prefix);
        status |= pending_done(&f->prefixes_met[i].pending, flush && status == 0);
    }
    if (!flush || status) return -1;
    PyObject *keys = PyLong_FromLongLong(f->keys), *bytes = PyLong_FromLongLong(f->bytes);
    status = keys && bytes && PyObject_SetAttr(f->summary, NAME_KEYS, keys) == 0 &&
                     PyObject_SetAttr(f->summary, NAME_BYTES, bytes) == 0
                 ? 0
                 : -1;
    Py_XDECREF(keys);
    Py_XDECREF(bytes);
    return status;
}

/* item += by, for an int item of a list or an attribute of an object */
static int add_to_item(PyObject *list, Py_ssize_t i, long long by) {
    long long now = PyLong_AsLongLong(PyList_GET_ITEM(list, i));
    if (now == -1 && PyErr_Occurred()) return -1;
    PyObject *sum = PyLong_FromLongLong(now + by);
    if (sum == NULL) return -1;
    return PyList_SetItem(list, i, sum);
}

static int add_to_attr(PyObject *obj, PyObject *name, long long by) {
    PyObject *value = PyObject_GetAttr(obj, name);
    long long now = value ? PyLong_AsLongLong(value) : -1;
    Py_XDECREF(value);
    if (now == -1 && PyErr_Occurred()) return -1;
    PyObject *sum = PyLong_FromLongLong(now + by);
    int status = sum ? PyObject_SetAttr(obj, name, sum) : -1;
    Py_XDECREF(sum);
    return status;
}

/* The group's [keys, bytes] in the summary (a new reference), made when it has none. */
static PyObject *group_counts(Fold *f, PyObject *group) {
    PyObject *counts = PyDict_GetItemWithError(f->groups, group);
    if (counts != NULL) {
        if (PyList_CheckExact(counts) && PyList_GET_SIZE(counts) == 2) return Py_NewRef(counts);
        PyErr_SetString(PyExc_TypeError, "a summary group's counts are not [keys, bytes]");
        return NULL;
    }
    if (PyErr_Occurred() || (counts = Py_BuildValue("[ii]", 0, 0)) == NULL) return NULL;
    if (PyDict_SetItem(f->groups, group, counts) < 0) Py_CLEAR(counts);
    return counts;
}

static int fold_group(Fold *f, PyObject *db, PyObject *type_name, const Facts *facts, PyObject *expire) {
    PyObject *bucket = expire == Py_None ? Py_NewRef(f->no_ttl)
                                         : PyObject_CallFunctionObjArgs(f->ttl_bucket, expire, f->now_ms, NULL);
    if (bucket == NULL) return -1;
    PyObject *past = facts->past_threshold ? facts->past_threshold : Py_None;
    CachedGroup *met = NULL;
    for (int i = 0; i < FOLD_GROUPS && met == NULL; i++) {
        CachedGroup *g = &f->groups_met[i];
        if (g->db == db && g->type == type_name && g->encoding == facts->encoding && g->bucket == bucket &&
            g->past == past)
            met = g;
    }
    if (met == NULL) {
        met = &f->groups_met[f->next_group];
        f->next_group = (f->next_group + 1) % FOLD_GROUPS;
        PyObject *group = PyTuple_Pack(5, db, type_name, facts->encoding, bucket, past);
        PyObject *counts = group ? group_counts(f, group) : NULL;
        Py_XDECREF(group);
        if (group_done(met, 1) < 0 || counts == NULL) {
            Py_XDECREF(counts);
            Py_DECREF(bucket);
            return -1;
        }
        *met = (CachedGroup){Py_NewRef(db), Py_NewRef(type_name), Py_NewRef(facts->encoding), Py_NewRef(bucket),
                             Py_NewRef(past), {counts, 0, 0}};
    }
    Py_DECREF(bucket);
    met->pending.keys++;
    met->pending.bytes += facts->bytes;
    return 0;
}

/* Whether a key of this value may enter the heap (Summary.add's test: it is not full, or the value is at
 * least its least). */
static int fold_heap_candidate(const Fold *f, PyObject *heap, Py_ssize_t value) {
    if (PyList_GET_SIZE(heap) < f->top) return 1;
    PyObject *least = PyList_GET_ITEM(heap, 0);
    if (!PyTuple_Check(least) || PyTuple_GET_SIZE(least) < 1) return 1; /* summary._keep decides */
    long long floor_value = PyLong_AsLongLong(PyTuple_GET_ITEM(least, 0));
    if (floor_value == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 1;
    }
    return value >= floor_value;
}

/* summary._keep(heap, (value, file, db, key, place, facts), top) for a candidate. */
static int fold_heap(Fold *f, PyObject *heap, Py_ssize_t value, PyObject *db, PyObject *key, PyObject *facts_object) {
    if (!fold_heap_candidate(f, heap, value)) return 0;
    PyObject *ranked = Py_BuildValue("(nOOOLO)", value, f->file, db, key, f->keys, facts_object);
    PyObject *top = PyLong_FromSsize_t(f->top);
    PyObject *done = ranked && top ? PyObject_CallFunctionObjArgs(f->keep, heap, ranked, top, NULL) : NULL;
    Py_XDECREF(top);
    Py_XDECREF(ranked);
    Py_XDECREF(done);
    return done == NULL ? -1 : 0;
}

/* The ends of the key's first `depth` prefixes (PrefixTree.add's matches: at each place the longest
 * separator first, the next search after the match); how many. */
static Py_ssize_t prefix_ends(const Fold *f, const char *key, Py_ssize_t len, Py_ssize_t *ends) {
    Py_ssize_t found = 0, at = 0, count = PyTuple_GET_SIZE(f->marks);
    while (at < len && found < f->depth) {
        Py_ssize_t matched = 0;
        for (Py_ssize_t i = 0; i < count && !matched; i++) {
            PyObject *mark = PyTuple_GET_ITEM(f->marks, i);
            Py_ssize_t n = PyBytes_GET_SIZE(mark);
            if (n <= len - at && memcmp(key + at, PyBytes_AS_STRING(mark), n) == 0) matched = n;
        }
        if (matched) ends[found++] = at + matched;
        at += matched ? matched : 1;
    }
    return found;
}

/* The node of the key's prefix at this level, from the last met there or the tree (then remembered); NULL and
 * no error when the tree has none. */
static Pending *prefix_node(Fold *f, Py_ssize_t level, PyObject *key, Py_ssize_t end) {
    CachedPrefix *met = &f->prefixes_met[level];
    if (met->prefix != NULL && PyBytes_GET_SIZE(met->prefix) == end &&
        memcmp(PyBytes_AS_STRING(met->prefix), PyBytes_AS_STRING(key), end) == 0)
        return &met->pending;
    PyObject *prefix = PyBytes_FromStringAndSize(PyBytes_AS_STRING(key), end);
    PyObject *node = prefix ? PyDict_GetItemWithError(f->nodes, prefix) : NULL;
    if (node == NULL || pending_done(&met->pending, 1) < 0) {
        Py_XDECREF(prefix);
        return NULL;
    }
    Py_XSETREF(met->prefix, prefix);
    met->pending.counts = Py_NewRef(node);
    return &met->pending;
}

static int fold_prefixes(Fold *f, PyObject *key, Py_ssize_t size) {
    if (f->depth <= 0) return 0;
    if (f->depth > FOLD_MAX_DEPTH) goto python;
    Py_ssize_t ends[FOLD_MAX_DEPTH];
    Pending *nodes[FOLD_MAX_DEPTH];
    Py_ssize_t levels = prefix_ends(f, PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key), ends);
    for (Py_ssize_t i = 0; i < levels; i++) {
        if ((nodes[i] = prefix_node(f, i, key, ends[i])) == NULL) {
            if (PyErr_Occurred()) return -1;
            goto python; /* a new prefix: the tree decides where it counts */
        }
    }
    for (Py_ssize_t i = 0; i < levels; i++) {
        nodes[i]->keys++;
        nodes[i]->bytes += size;
    }
    return 0;
python:;
    PyObject *bytes = PyLong_FromSsize_t(size);
    PyObject *done = bytes ? PyObject_CallFunctionObjArgs(f->add_prefixes, key, bytes, NULL) : NULL;
    Py_XDECREF(bytes);
    Py_XDECREF(done);
    return done == NULL ? -1 : 0;
}

static PyObject *make_facts(const Model *m, PyObject *db, PyObject *key, PyObject *type_name, const Facts *facts,
                            PyObject *expire);

/* Summary.add for a key the scan measured: totals, group, heaps (its KeyFacts made only for them), prefixes. */
static int fold_key(Fold *f, const Model *m, PyObject *db, PyObject *key, PyObject *type_name, const Facts *facts,
                    PyObject *expire) {
    f->keys++;
    f->bytes += facts->bytes;
    if (fold_group(f, db, type_name, facts, expire) < 0) return -1;
    if (f->top > 0 && (fold_heap_candidate(f, f->top_keys, facts->bytes) ||
                       fold_heap_candidate(f, f->largest_elements, facts->largest))) {
        PyObject *made = make_facts(m, db, key, type_name, facts, expire);
        int status = made == NULL || fold_heap(f, f->top_keys, facts->bytes, db, key, made) < 0 ||
                             fold_heap(f, f->largest_elements, facts->largest, db, key, made) < 0
                         ? -1
                         : 0;
        Py_XDECREF(made);
        if (status < 0) return -1;
    }
    return fold_prefixes(f, key, facts->bytes);
}

/* One key entry with its per-key opcodes, as a KeyRecord (or, measuring, its facts when the model
 * has them; folding, nothing: *record stays NULL); BAIL leaves it to Python. */
static int scan_key(Scan *s, Py_ssize_t *pos, PyObject *db, PyObject *names, PyObject *record_class,
                    const Model *model, Fold *fold, PyObject **record) {
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
    PyObject *info = PyTuple_GET_ITEM(names, type);
    if (model != NULL) {
        Py_ssize_t value_at = p;
        Facts facts;
        status = measure_value(s, &p, type, model, PyBytes_GET_SIZE(key), expire != Py_None, &facts);
        if (status == 0 && fold != NULL) {
            status = fold_key(fold, model, db, key, PyTuple_GET_ITEM(info, 0), &facts, expire);
            if (status == 0) *pos = p;
            goto done;
        }
        if (status == 0) {
            *record = make_facts(model, db, key, PyTuple_GET_ITEM(info, 0), &facts, expire);
            status = *record == NULL ? -1 : 0;
            if (status == 0) *pos = p;
            goto done;
        }
        if (status < 0) goto done;
        p = value_at; /* the record is built for the Python model */
    }
    if ((status = scan_value(s, &p, type, &value))) goto done;
    PyObject *type_byte = PyLong_FromLong(type), *offset = PyLong_FromSsize_t(start);
    if (type_byte == NULL || offset == NULL) {
        Py_XDECREF(type_byte);
        Py_XDECREF(offset);
        status = -1;
        goto done;
    }
    PyObject *args[] = {db,     key,  PyTuple_GET_ITEM(info, 0), PyTuple_GET_ITEM(info, 1), type_byte, value ? value : Py_None,
                        expire, idle, freq,                       Py_None,                   offset};
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
    int deep, keep = 1;
    PyObject *db, *names, *record_class, *measure = Py_None, *fold_state = Py_None;
    if (!PyArg_ParseTuple(args, "y*nnOpO!O|pOO", &view, &pos, &limit, &db, &deep, &PyTuple_Type, &names, &record_class,
                          &keep, &measure, &fold_state))
        return NULL;
    Model model, *measuring = NULL;
    if (measure != Py_None) {
        if (!PyArg_ParseTuple(measure, "Onnnnnnnnnnnnpppippp", &model.facts_class, &model.entry, &model.quicklist_node,
                              &model.dict, &model.hash_entries, &model.hash_value, &model.zset_entries,
                              &model.zset_value, &model.intset_entries, &model.set_entries, &model.set_value,
                              &model.list_bytes, &model.list_count, &model.set_listpacks, &model.list_conversions,
                              &model.shortest_scores, &model.allocator, &model.allocated_blobs, &model.ziplists,
                              &model.embedded_keys)) {
            PyBuffer_Release(&view);
            return NULL;
        }
        measuring = &model;
    }
    Fold fold, *folding = NULL;
    if (measuring != NULL && fold_state != Py_None) {
        if (fold_open(fold_state, &fold) < 0) {
            PyBuffer_Release(&view);
            return NULL;
        }
        folding = &fold;
    }
    Scan s = {view.buf, view.len, deep, keep, NULL, 0, {NULL, 0, 0}};
    PyObject *records = PyList_New(0);
    Py_ssize_t stop = pos + SCAN_MAX_BYTES < limit ? pos + SCAN_MAX_BYTES : limit;
    while (records != NULL && pos < stop && PyList_GET_SIZE(records) < SCAN_MAX_RECORDS) {
        PyObject *record = NULL;
        int status = scan_key(&s, &pos, db, names, record_class, measuring, folding, &record);
        if (status == BAIL) break;
        if (status == 0 && record == NULL) continue; /* folded */
        if (status < 0 || append_new(records, record) < 0) Py_CLEAR(records);
        if (folding != NULL) break; /* a record to measure in Python: it is added before the next keys */
    }
    if (folding != NULL && fold_close(folding, records != NULL) < 0) Py_CLEAR(records);
    PyMem_Free(s.scratch);
    PyMem_Free(s.seen.slots);
    PyBuffer_Release(&view);
    if (records == NULL) return NULL;
    return Py_BuildValue("(Nn)", records, pos);
}

/* --- AOF scan (check-aof's walk, clean records only) ------------------------------------------
 * Walks records that are exactly well-formed ('*' or '$', plain digits, CRLF; annotation lines)
 * and stops at the start of the first record that is not, or that would be an error (a nested MULTI,
 * a stray EXEC, a count below 1), or at the end. rdbtools/aof/check.py walks from there with the
 * checker's exact rules, so every message stays the Python code's; this only has to agree with it
 * on clean records, which the parity tests check with and without it.
 */

#define AOF_NUMBER_MAX 18 /* digits: within a long, and well inside the checker's 127-byte line */

/* `<prefix><digits>\r\n` at pos; the value, or -1 when the line is not exactly that. */
static long long aof_number(const unsigned char *buf, Py_ssize_t size, Py_ssize_t *pos, unsigned char prefix) {
    Py_ssize_t p = *pos;
    if (p >= size || buf[p] != prefix) return -1;
    p++;
    long long value = 0;
    int digits = 0;
    while (p < size && buf[p] >= '0' && buf[p] <= '9' && digits < AOF_NUMBER_MAX) {
        value = value * 10 + (buf[p] - '0');
        p++;
        digits++;
    }
    if (!digits || p + 1 >= size || buf[p] != '\r' || buf[p + 1] != '\n') return -1;
    *pos = p + 2;
    return value;
}

static int is_command(const unsigned char *data, Py_ssize_t len, const char *name) {
    size_t n = strlen(name);
    const unsigned char *nul = memchr(data, 0, (size_t)len);
    if (nul != NULL) len = nul - data; /* the checker compares up to a NUL */
    if ((size_t)len != n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = data[i];
        if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (unsigned char)name[i]) return 0;
    }
    return 1;
}

/* aof_scan(buf, pos, limit, multi) -> (pos, multi, lines, commands, last_start, last_end, epos, first_ts,
 * last_ts, kept_start, kept_end, ok_pos): where it stopped (at the first record starting at or after
 * limit, so that the caller can release the pages behind) and what it saw (-1: none). */
static PyObject *aof_scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, limit;
    int multi;
    if (!PyArg_ParseTuple(args, "y*nni", &view, &pos, &limit, &multi)) return NULL;
    const unsigned char *buf = view.buf;
    Py_ssize_t size = view.len, last_start = -1, last_end = -1, kept_start = -1, kept_end = -1, epos = -1;
    Py_ssize_t ok_pos = multi ? -1 : pos;
    long long lines = 0, commands = 0, first_ts = -1, last_ts = -1;
    while (pos < size && pos < limit) {
        Py_ssize_t start = pos;
        if (buf[pos] == '#') {
            Py_ssize_t limit = size - pos < 1023 ? size - pos : 1023;
            const unsigned char *newline = memchr(buf + pos, '\n', (size_t)limit);
            if (newline == NULL) break;
            Py_ssize_t end = newline - buf + 1;
            if (end - pos > 5 && memcmp(buf + pos, "#TS:", 4) == 0) {
                Py_ssize_t q = pos + 4;
                long long ts = 0;
                int digits = 0;
                while (q < end && buf[q] >= '0' && buf[q] <= '9' && digits < AOF_NUMBER_MAX) {
                    ts = ts * 10 + (buf[q++] - '0');
                    digits++;
                }
                if (!digits || buf[q] != '\r') break; /* an unusual timestamp: Python reads it */
                if (first_ts < 0) first_ts = ts;
                last_ts = ts;
            }
            epos = start; /* the checker notes where it read the annotation */
            pos = end;
            if (!multi) ok_pos = pos;
            continue;
        }
        Py_ssize_t p = pos, record_epos = epos;
        long long argc = aof_number(buf, size, &p, '*');
        if (argc < 1) break;
        int next_multi = multi, clean = 1;
        for (long long i = 0; i < argc && clean; i++) {
            long long len = aof_number(buf, size, &p, '$');
            if (len < 0 || len > size - p - 2 || buf[p + len] != '\r' || buf[p + len + 1] != '\n') {
                clean = 0;
                break;
            }
            record_epos = p;
            if (i == 0) {
                if (is_command(buf + p, len, "multi")) {
                    if (next_multi) clean = 0;
                    next_multi = 1;
                } else if (is_command(buf + p, len, "exec")) {
                    if (!next_multi) clean = 0;
                    next_multi = 0;
                }
            }
            p += len + 2;
        }
        if (!clean) break;
        lines += 1 + 2 * argc;
        commands++;
        last_start = start;
        last_end = p;
        epos = record_epos;
        multi = next_multi;
        pos = p;
        if (!multi) {
            ok_pos = pos;
            kept_start = last_start;
            kept_end = last_end;
        }
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(niLLnnnLLnnn)", pos, multi, lines, commands, last_start, last_end, epos, first_ts,
                         last_ts, kept_start, kept_end, ok_pos);
}

/* --- RESP records (the AOF reader's hot loop; twin of formats/resp.py's iter_records) -------
 * Returns the clean records from pos (plain-digit counts, CRLFs where they belong, annotation lines
 * ending within 1024 bytes), at most `most` of them, and stops before anything else: the Python
 * loop reads that record with its own rules and messages, then hands back.
 */

static int resp_command(const unsigned char *buf, Py_ssize_t end, Py_ssize_t *pos, PyObject **args) {
    Py_ssize_t p = *pos;
    long long argc = aof_number(buf, end, &p, '*');
    if (argc < 1) return BAIL;
    if (argc > (end - p) / 4) return BAIL; /* each argument takes at least "$0\r\n\r\n": more cannot be here */
    PyObject *list = PyList_New((Py_ssize_t)argc);
    if (list == NULL) return -1;
    for (long long i = 0; i < argc; i++) {
        long long len = aof_number(buf, end, &p, '$');
        if (len < 0 || len > end - p - 2 || buf[p + len] != '\r' || buf[p + len + 1] != '\n') {
            Py_DECREF(list);
            return BAIL;
        }
        PyObject *arg = PyBytes_FromStringAndSize((const char *)buf + p, (Py_ssize_t)len);
        if (arg == NULL) {
            Py_DECREF(list);
            return -1;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, arg);
        p += len + 2;
    }
    *pos = p;
    *args = list;
    return 0;
}

static int resp_annotation(const unsigned char *buf, Py_ssize_t end, Py_ssize_t *pos, PyObject **text) {
    Py_ssize_t p = *pos, window = end - p < 1024 ? end - p : 1024;
    for (Py_ssize_t i = 1; i + 1 < window; i++) {
        if (buf[p + i] == '\r' && buf[p + i + 1] == '\n') {
            *text = PyBytes_FromStringAndSize((const char *)buf + p + 1, i - 1);
            if (*text == NULL) return -1;
            *pos = p + i + 2;
            return 0;
        }
    }
    return BAIL;
}

/* A RespRecord (a NamedTuple, so a tuple subclass) allocated and filled here: no Python code runs
 * per record. */
static PyObject *make_record(PyTypeObject *cls, Py_ssize_t offset, Py_ssize_t line, PyObject *args,
                             PyObject *annotation) {
    PyObject *where = PyLong_FromSsize_t(offset), *at_line = PyLong_FromSsize_t(line);
    PyObject *record = where != NULL && at_line != NULL ? cls->tp_alloc(cls, 4) : NULL;
    if (record == NULL) {
        Py_XDECREF(where);
        Py_XDECREF(at_line);
        return NULL;
    }
    Py_INCREF(args);
    Py_INCREF(annotation);
    PyTuple_SET_ITEM(record, 0, where);
    PyTuple_SET_ITEM(record, 1, at_line);
    PyTuple_SET_ITEM(record, 2, args);
    PyTuple_SET_ITEM(record, 3, annotation);
    return record;
}

/* resp_scan(buf, pos, end, line, most, record_class) -> (records, pos, line) */
static PyObject *resp_scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, end, line, most;
    PyObject *record_class;
    if (!PyArg_ParseTuple(args, "y*nnnnO", &view, &pos, &end, &line, &most, &record_class)) return NULL;
    const unsigned char *buf = view.buf;
    if (end > view.len) end = view.len;
    PyObject *records = PyList_New(0);
    while (records != NULL && pos < end && PyList_GET_SIZE(records) < most) {
        Py_ssize_t start = pos;
        PyObject *value = NULL, *record;
        int annotation = buf[pos] == '#';
        int status = annotation ? resp_annotation(buf, end, &pos, &value) : resp_command(buf, end, &pos, &value);
        if (status == BAIL) break;
        if (status < 0) {
            Py_CLEAR(records);
            break;
        }
        record = make_record((PyTypeObject *)record_class, start, line, annotation ? Py_None : value,
                             annotation ? value : Py_None);
        if (!annotation) line += 1 + 2 * (PyList_GET_SIZE(value));
        Py_DECREF(value);
        if (append_new(records, record) < 0) Py_CLEAR(records);
    }
    PyBuffer_Release(&view);
    if (records == NULL) return NULL;
    return Py_BuildValue("(Nnn)", records, pos, line);
}

/* --- client requests (server/protocol.py) --------------------------------------------------- */

/* canonical_int64(value) -> int | None: the integer a byte string is the canonical decimal text of (Redis's
 * string2ll), else None. Twin of formats/numbers.py's python_canonical_int64 (INCR, list indexes, intsets). */
static PyObject *canonical_int64_of(PyObject *self, PyObject *value) {
    long long number;
    int ok;
    if (PyBytes_CheckExact(value)) { /* (the usual argument: read in place, no buffer taken) */
        ok = canonical_int64((const unsigned char *)PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value), &number);
    } else {
        Py_buffer view;
        if (PyObject_GetBuffer(value, &view, PyBUF_SIMPLE) < 0) return NULL;
        ok = canonical_int64(view.buf, view.len, &number);
        PyBuffer_Release(&view);
    }
    if (ok) return PyLong_FromLongLong(number);
    Py_RETURN_NONE;
}

/* prefix + the decimal text of an int (past int64: Python's str) + suffix, as bytes. */
static PyObject *number_text(PyObject *number, const char *prefix, Py_ssize_t prefix_len, const char *suffix,
                             Py_ssize_t suffix_len) {
    char buf[48];
    int overflow;
    long long value = PyLong_AsLongLongAndOverflow(number, &overflow);
    if (value == -1 && PyErr_Occurred()) return NULL;
    if (!overflow) {
        memcpy(buf, prefix, prefix_len);
        Py_ssize_t len = prefix_len + int64_digits(buf + prefix_len, value);
        memcpy(buf + len, suffix, suffix_len);
        return PyBytes_FromStringAndSize(buf, len + suffix_len);
    }
    PyObject *text = PyObject_Str(number);
    if (text == NULL) return NULL;
    PyObject *digits = PyUnicode_AsASCIIString(text);
    Py_DECREF(text);
    if (digits == NULL) return NULL;
    Py_ssize_t digits_len = PyBytes_GET_SIZE(digits);
    PyObject *result = PyBytes_FromStringAndSize(NULL, prefix_len + digits_len + suffix_len);
    if (result != NULL) {
        char *out = PyBytes_AS_STRING(result);
        memcpy(out, prefix, prefix_len);
        memcpy(out + prefix_len, PyBytes_AS_STRING(digits), digits_len);
        memcpy(out + prefix_len + digits_len, suffix, suffix_len);
    }
    Py_DECREF(digits);
    return result;
}

/* int_text(number) -> bytes: b"%d" % number. Twin of formats/numbers.py's python_int_text (INCR's value). */
static PyObject *int_text_of(PyObject *self, PyObject *number) {
    if (!PyLong_Check(number)) {
        PyErr_SetString(PyExc_TypeError, "int_text(int)");
        return NULL;
    }
    return number_text(number, "", 0, "", 0);
}

/* int_line(marker, number) -> bytes: a RESP line of a number, b"%c%d\r\n" % (marker, number) (an integer
 * reply, a bulk or array header). Twin of server/protocol.py's python_int_line. */
static PyObject *int_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyLong_Check(args[0]) || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "int_line(marker, number)");
        return NULL;
    }
    long marker = PyLong_AsLong(args[0]);
    if (marker < 0 || marker > 255) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "int_line: a marker is a byte");
        return NULL;
    }
    char prefix = (char)marker;
    return number_text(args[1], &prefix, 1, "\r\n", 2);
}

/* read_double(value, hexadecimal) -> float | None: the double Redis reads from an argument (strtod over the
 * whole of it, no leading space, NaN refused, ERANGE refused when it overflowed or underflowed to zero; no
 * hexadecimal where the target reads doubles with fast_float). Twin of formats/numbers.py's
 * python_read_double. A bytes object ends in a NUL, so strtod reads it in place; the process keeps the C
 * locale for numbers (LC_NUMERIC), as Redis does. */
static PyObject *read_double(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "read_double(bytes, hexadecimal)");
        return NULL;
    }
    const char *text = PyBytes_AS_STRING(args[0]);
    Py_ssize_t len = PyBytes_GET_SIZE(args[0]);
    int hexadecimal = PyObject_IsTrue(args[1]);
    if (hexadecimal < 0) return NULL;
    if (len == 0 || strchr(" \t\n\v\f\r", text[0]) != NULL) Py_RETURN_NONE;
    if (!hexadecimal && (memchr(text, 'x', len) != NULL || memchr(text, 'X', len) != NULL)) Py_RETURN_NONE;
    char *end;
    errno = 0;
    double number = strtod(text, &end);
    if (end != text + len || isnan(number) ||
        (errno == ERANGE && (number == HUGE_VAL || number == -HUGE_VAL || number == 0.0)))
        Py_RETURN_NONE;
    return PyFloat_FromDouble(number);
}

typedef struct {
    long long max_bulk, max_multibulk;
    Py_ssize_t max_header;
    const char *error;
} RequestLimits;

/* One header line ('*' or '$' and a number) at *pos: 1 with *value and *pos past it, 0 while
 * incomplete, -1 with limits->error set. Twin of RequestParser._header. */
static int request_header(const unsigned char *buf, Py_ssize_t len, Py_ssize_t *pos, int bulk,
                          RequestLimits *limits, long long *value) {
    Py_ssize_t start = *pos, stop = start + limits->max_header - 1, end;
    if (stop > len - 1) stop = len - 1;
    for (end = start; end < stop; end++)
        if (buf[end] == '\r' && buf[end + 1] == '\n') break;
    if (end >= stop) {
        if (len - start > limits->max_header) {
            limits->error = bulk ? "ERR Protocol error: too big bulk count string"
                                 : "ERR Protocol error: too big mbulk count string";
            return -1;
        }
        return 0;
    }
    long long number;
    int ok = canonical_int64(buf + start + 1, end - start - 1, &number);
    if (!ok || number > (bulk ? limits->max_bulk : limits->max_multibulk) || (bulk && number < 0)) {
        limits->error = bulk ? "ERR Protocol error: invalid bulk length" : "ERR Protocol error: invalid multibulk length";
        return -1;
    }
    *value = number < 0 ? 0 : number;
    *pos = end + 2;
    return 1;
}

/* The end of one complete request at pos (> pos), 0 while incomplete, -1 on a broken header. */
static Py_ssize_t request_end(const unsigned char *buf, Py_ssize_t len, Py_ssize_t pos, RequestLimits *limits,
                              int *got) {
    long long count, length;
    int status = request_header(buf, len, &pos, 0, limits, &count);
    if (status <= 0) return status;
    for (long long i = 0; i < count; i++) {
        if (pos >= len) return 0;
        if (buf[pos] != '$') {
            *got = buf[pos];
            limits->error = "ERR Protocol error: expected '$', got '%c'";
            return -1;
        }
        status = request_header(buf, len, &pos, 1, limits, &length);
        if (status <= 0) return status;
        if (pos + length + 2 > len) return 0;
        pos += length + 2;
    }
    return pos;
}

/* A header's number where request_end has checked it (a count below 0 is one of 0, as there). */
static long long checked_header(const unsigned char *buf, Py_ssize_t *pos) {
    const unsigned char *p = buf + *pos + 1;
    int negative = *p == '-';
    unsigned long long value = 0;
    for (p += negative; *p != '\r'; p++) value = value * 10 + (unsigned)(*p - '0');
    *pos = p + 2 - buf;
    return negative ? 0 : (long long)value;
}

/* The argument list of the complete request at *pos (NULL for a count of 0 or below: no request),
 * *pos past it; -1 in *failed when Python ran out of memory. */
static PyObject *request_arguments(const unsigned char *buf, Py_ssize_t *pos, int *failed) {
    long long count = checked_header(buf, pos);
    if (count == 0) return NULL;
    PyObject *request = PyList_New((Py_ssize_t)count);
    if (request == NULL) {
        *failed = -1;
        return NULL;
    }
    for (Py_ssize_t i = 0; i < (Py_ssize_t)count; i++) {
        Py_ssize_t length = (Py_ssize_t)checked_header(buf, pos);
        PyObject *argument = PyBytes_FromStringAndSize((const char *)buf + *pos, length);
        if (argument == NULL) {
            Py_DECREF(request);
            *failed = -1;
            return NULL;
        }
        PyList_SET_ITEM(request, i, argument);
        *pos += length + 2;
    }
    return request;
}

/* requests_take(buf, pos, max_bulk, max_multibulk, max_header, out) -> (end, error): the complete RESP
 * requests from pos appended to out as lists of bytes (a count of 0 or below: none, as Redis skips it),
 * up to end, before an incomplete request, a byte that starts an inline one, or a header beyond Redis's
 * limits (error: its protocol error text, else None). Twin of server/protocol.py's python_requests_take:
 * the run is scanned first, so that no argument is made for a request not all there. */
static PyObject *requests_take(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    /* (called once a read: its arguments taken without PyArg_ParseTuple's format, which costs as much as a
     * small request's scan) */
    if (nargs != 6 || !PyList_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "requests_take(buffer, pos, max_bulk, max_multibulk, max_header, out)");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    RequestLimits limits = {PyLong_AsLongLong(args[2]), PyLong_AsLongLong(args[3]), PyLong_AsSsize_t(args[4]), NULL};
    PyObject *out = args[5];
    Py_buffer view;
    if (PyErr_Occurred() || PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    if (pos < 0 || pos > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "pos outside the buffer");
        return NULL;
    }
    const unsigned char *buf = view.buf;
    int got = 0, failed = 0;
    Py_ssize_t end = pos;
    while (end < view.len && buf[end] == '*') {
        Py_ssize_t next = request_end(buf, view.len, end, &limits, &got);
        if (next <= 0) break;
        end = next;
    }
    while (pos < end && failed == 0) {
        PyObject *request = request_arguments(buf, &pos, &failed);
        if (request != NULL) {
            if (PyList_Append(out, request) < 0) failed = -1;
            Py_DECREF(request);
        }
    }
    PyBuffer_Release(&view);
    if (failed) return NULL;
    if (limits.error == NULL) return Py_BuildValue("(nO)", end, Py_None);
    return Py_BuildValue("(nN)", end, PyUnicode_FromFormat(limits.error, got));
}

/* encode_bulks(list) -> bytes | None: a RESP array of bulk strings (a reply such as LRANGE's), None
 * when an item is not exactly bytes. Twin of server/protocol.py's python_encode_bulks. */
/* "<kind><n>\r\n" for a count or length n >= 0 (sprintf costs more than the copy it heads). */
static char *resp_header(char *p, char kind, Py_ssize_t n) {
    char digits[24];
    int k = 0;
    *p++ = kind;
    do {
        digits[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    while (k) *p++ = digits[--k];
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

static PyObject *encode_bulks(PyObject *self, PyObject *items) {
    if (!PyList_CheckExact(items)) Py_RETURN_NONE;
    Py_ssize_t count = PyList_GET_SIZE(items), size = 24;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyBytes_CheckExact(item)) Py_RETURN_NONE;
        size += PyBytes_GET_SIZE(item) + 25;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) return NULL;
    char *p = PyBytes_AS_STRING(out);
    p = resp_header(p, '*', count);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        Py_ssize_t length = PyBytes_GET_SIZE(item);
        p = resp_header(p, '$', length);
        memcpy(p, PyBytes_AS_STRING(item), length);
        p += length;
        *p++ = '\r';
        *p++ = '\n';
    }
    if (_PyBytes_Resize(&out, p - PyBytes_AS_STRING(out)) < 0) return NULL;
    return out;
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

/* --- building a listpack (the writer's hot path; twin of python_encode_listpack) ----------- */

typedef struct {
    unsigned char *data;
    Py_ssize_t size, capacity;
} Buffer;

static unsigned char *buffer_grow(Buffer *b, Py_ssize_t extra) {
    if (b->size + extra > b->capacity) {
        Py_ssize_t capacity = (b->size + extra) * 2;
        unsigned char *data = PyMem_Realloc(b->data, (size_t)capacity);
        if (data == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        b->data = data;
        b->capacity = capacity;
    }
    unsigned char *at = b->data + b->size;
    b->size += extra;
    return at;
}

/* string2ll's rule (numbers.canonical_int64): is this the canonical decimal text of an int64? */
static int canonical_int64(const unsigned char *s, Py_ssize_t len, long long *out) {
    if (len < 1 || len > 20) return 0;
    int negative = s[0] == '-';
    const unsigned char *p = s + negative;
    Py_ssize_t n = len - negative;
    if (n == 0 || (p[0] == '0' && (n > 1 || negative))) return 0;
    uint64_t value = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        uint64_t digit = p[i] - '0';
        if (value > (UINT64_MAX - digit) / 10) return 0;
        value = value * 10 + digit;
    }
    if (negative ? value > (uint64_t)INT64_MAX + 1 : value > (uint64_t)INT64_MAX) return 0;
    *out = negative ? (long long)(0 - value) : (long long)value;
    return 1;
}

static void put_le(unsigned char *at, uint64_t value, int width) {
    for (int i = 0; i < width; i++) at[i] = (unsigned char)(value >> (8 * i));
}

/* lpAppend's encoding of one integer entry; returns its body size. */
static int listpack_int_body(long long v, unsigned char *body) {
    if (v >= 0 && v <= 127) {
        body[0] = (unsigned char)v;
        return 1;
    }
    if (v >= -4096 && v <= 4095) {
        uint64_t raw = (uint64_t)v & 0x1FFF;
        body[0] = (unsigned char)(0xC0 | raw >> 8);
        body[1] = raw & 0xFF;
        return 2;
    }
    int width = v >= -32768 && v <= 32767 ? 2 : v >= -8388608 && v <= 8388607 ? 3 : v >= INT32_MIN && v <= INT32_MAX ? 4 : 8;
    body[0] = width == 2 ? 0xF1 : width == 3 ? 0xF2 : width == 4 ? 0xF3 : 0xF4;
    put_le(body + 1, (uint64_t)v, width);
    return width + 1;
}

static int put_backlen(Buffer *b, Py_ssize_t body) {
    int width = backlen_width(body);
    unsigned char *at = buffer_grow(b, width);
    if (at == NULL) return -1;
    for (int i = 0; i < width; i++) {
        unsigned char group = (body >> (7 * (width - 1 - i))) & 0x7F;
        at[i] = i == 0 ? group : group | 0x80;
    }
    return 0;
}

static int append_listpack_int(Buffer *b, long long v) {
    unsigned char body[9];
    int size = listpack_int_body(v, body);
    unsigned char *at = buffer_grow(b, size);
    if (at == NULL) return -1;
    memcpy(at, body, (size_t)size);
    return put_backlen(b, size);
}

static int append_listpack_string(Buffer *b, const unsigned char *data, Py_ssize_t len) {
    long long number;
    if (canonical_int64(data, len, &number)) return append_listpack_int(b, number);
    int head = len < 64 ? 1 : len < 4096 ? 2 : 5;
    unsigned char *at = buffer_grow(b, head + len);
    if (at == NULL) return -1;
    if (head == 1) at[0] = (unsigned char)(0x80 | len);
    else if (head == 2) {
        at[0] = (unsigned char)(0xE0 | len >> 8);
        at[1] = len & 0xFF;
    } else {
        at[0] = 0xF0;
        put_le(at + 1, (uint64_t)len, 4);
    }
    memcpy(at + head, data, (size_t)len);
    return put_backlen(b, head + len);
}

static int append_listpack_item(Buffer *b, PyObject *item) {
    if (PyBytes_Check(item)) {
        return append_listpack_string(b, (const unsigned char *)PyBytes_AS_STRING(item), PyBytes_GET_SIZE(item));
    }
    if (PyLong_Check(item)) {
        long long v = PyLong_AsLongLong(item);
        if (v == -1 && PyErr_Occurred()) return -1;
        return append_listpack_int(b, v);
    }
    PyErr_Format(PyExc_TypeError, "listpack values are bytes or int, not %.100s", Py_TYPE(item)->tp_name);
    return -1;
}

static PyObject *encode_listpack(PyObject *self, PyObject *values) {
    PyObject *items = PySequence_Fast(values, "listpack values must be a sequence");
    if (items == NULL) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(items);
    Buffer b = {NULL, 0, 0};
    PyObject *result = NULL;
    if (buffer_grow(&b, 6) == NULL) goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (append_listpack_item(&b, PySequence_Fast_GET_ITEM(items, i)) < 0) goto done;
    }
    unsigned char *end = buffer_grow(&b, 1);
    if (end == NULL) goto done;
    *end = 0xFF;
    if (b.size > 0xFFFFFFFF) {
        PyErr_SetString(PyExc_ValueError, "a listpack holds at most 4 GB");
        goto done;
    }
    put_le(b.data, (uint64_t)b.size, 4);
    put_le(b.data + 4, (uint64_t)(count < 65535 ? count : 65535), 2);
    result = PyBytes_FromStringAndSize((const char *)b.data, b.size);
done:
    PyMem_Free(b.data);
    Py_DECREF(items);
    return result;
}

/* --- RDB strings (the writer's most frequent call; twin of primitives.encode_string on bytes) ------ */

static int put_length(Buffer *b, uint64_t len) {
    unsigned char *at;
    if (len < 64) {
        if ((at = buffer_grow(b, 1)) == NULL) return -1;
        at[0] = (unsigned char)len;
    } else if (len < 16384) {
        if ((at = buffer_grow(b, 2)) == NULL) return -1;
        at[0] = (unsigned char)(0x40 | len >> 8);
        at[1] = len & 0xFF;
    } else if (len <= 0xFFFFFFFF) {
        if ((at = buffer_grow(b, 5)) == NULL) return -1;
        at[0] = 0x80;
        for (int i = 0; i < 4; i++) at[1 + i] = (unsigned char)(len >> (8 * (3 - i)));
    } else {
        if ((at = buffer_grow(b, 9)) == NULL) return -1;
        at[0] = 0x81;
        for (int i = 0; i < 8; i++) at[1 + i] = (unsigned char)(len >> (8 * (7 - i)));
    }
    return 0;
}

/* encode_plain_string(lzf_compress, value, compress): integer form, else LZF over 20 bytes when it saves
 * at least 4 (lzf_compress(data, limit) -> bytes or None), else the raw string with its length. */
static PyObject *encode_plain_string(PyObject *self, PyObject *args) {
    PyObject *value, *lzf_compress;
    int compress;
    if (!PyArg_ParseTuple(args, "OSp", &lzf_compress, &value, &compress)) return NULL;
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(value);
    Py_ssize_t size = PyBytes_GET_SIZE(value);
    Buffer b = {NULL, 0, 0};
    PyObject *result = NULL;
    long long number;
    if (size <= 11 && canonical_int64(data, size, &number) && number >= INT32_MIN && number <= INT32_MAX) {
        int width = number >= -128 && number <= 127 ? 1 : number >= -32768 && number <= 32767 ? 2 : 4;
        unsigned char out[5];
        out[0] = (unsigned char)(0xC0 | (width == 1 ? 0 : width == 2 ? 1 : 2));
        put_le(out + 1, (uint64_t)number, width);
        return PyBytes_FromStringAndSize((const char *)out, width + 1);
    }
    if (compress && size > 20) {
        /* (python-lzf gives lzf_compress one byte more than it is told; Redis gives it size - 4) */
        PyObject *packed = PyObject_CallFunction(lzf_compress, "On", value, size - 5);
        if (packed == NULL) return NULL;
        if (packed != Py_None) {
            unsigned char *at = buffer_grow(&b, 1);
            if (at != NULL) {
                at[0] = 0xC3;
                Py_ssize_t clen = PyBytes_GET_SIZE(packed);
                if (put_length(&b, (uint64_t)clen) == 0 && put_length(&b, (uint64_t)size) == 0 &&
                    (at = buffer_grow(&b, clen)) != NULL) {
                    memcpy(at, PyBytes_AS_STRING(packed), (size_t)clen);
                    result = PyBytes_FromStringAndSize((const char *)b.data, b.size);
                }
            }
            Py_DECREF(packed);
            PyMem_Free(b.data);
            return result;
        }
        Py_DECREF(packed);
    }
    if (put_length(&b, (uint64_t)size) == 0) {
        unsigned char *at = buffer_grow(&b, size);
        if (at != NULL) {
            memcpy(at, data, (size_t)size);
            result = PyBytes_FromStringAndSize((const char *)b.data, b.size);
        }
    }
    PyMem_Free(b.data);
    return result;
}

/* --- byte strings as JSON text (dump's hot path; twins of export/records.py's python_* functions) ---
 * A byte string is its text when it is well-formed UTF-8, else {"b64": base64}. Checking the bytes
 * first avoids the UnicodeDecodeError Python raises (and catches) for every binary value.
 */

static PyObject *B64_KEY;

/* Well-formed UTF-8 as the Unicode standard (table 3-7) and Python's strict decoder define it. */
static int utf8_well_formed(const unsigned char *s, Py_ssize_t len) {
    Py_ssize_t i = 0;
    while (i < len) {
        while (i + 8 <= len) { /* runs of ASCII, eight bytes at a time */
            uint64_t word;
            memcpy(&word, s + i, 8);
            if (word & 0x8080808080808080ULL) break;
            i += 8;
        }
        if (i >= len) break;
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int extra;
        unsigned low = 0x80, high = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) extra = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            if (c == 0xE0) low = 0xA0; /* overlong */
            if (c == 0xED) high = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            if (c == 0xF0) low = 0x90; /* overlong */
            if (c == 0xF4) high = 0x8F; /* beyond U+10FFFF */
        } else {
            return 0;
        }
        if (extra > len - i - 1 || s[i + 1] < low || s[i + 1] > high) return 0;
        for (int k = 2; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        }
        i += 1 + extra;
    }
    return 1;
}

static PyObject *base64_text(const unsigned char *s, Py_ssize_t len) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    PyObject *text = PyUnicode_New((len + 2) / 3 * 4, 127);
    if (text == NULL) return NULL;
    char *out = (char *)PyUnicode_1BYTE_DATA(text);
    Py_ssize_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = alphabet[(v >> 6) & 63];
        *out++ = alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0);
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    return text;
}

static PyObject *json_text(const unsigned char *s, Py_ssize_t len) {
    if (utf8_well_formed(s, len)) {
        PyObject *text = PyUnicode_DecodeUTF8((const char *)s, len, "strict");
        if (text != NULL || !PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) return text;
        PyErr_Clear(); /* not reached when the check above agrees with Python's decoder */
    }
    PyObject *encoded = base64_text(s, len);
    if (encoded == NULL) return NULL;
    PyObject *wrapped = PyDict_New();
    if (wrapped == NULL || PyDict_SetItem(wrapped, B64_KEY, encoded) < 0) Py_CLEAR(wrapped);
    Py_DECREF(encoded);
    return wrapped;
}

static PyObject *json_text_of(PyObject *item) {
    if (PyBytes_Check(item)) return json_text((const unsigned char *)PyBytes_AS_STRING(item), PyBytes_GET_SIZE(item));
    Py_buffer view;
    if (PyObject_GetBuffer(item, &view, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *text = json_text(view.buf, view.len);
    PyBuffer_Release(&view);
    return text;
}

static PyObject *bytes_to_json(PyObject *self, PyObject *item) {
    return json_text_of(item);
}

static PyObject *texts_to_json(PyObject *self, PyObject *items) {
    PyObject *seq = PySequence_Fast(items, "expected an iterable of byte strings");
    if (seq == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = PyList_New(n);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        PyObject *text = json_text_of(PySequence_Fast_GET_ITEM(seq, i));
        if (text == NULL) Py_CLEAR(out);
        else PyList_SET_ITEM(out, i, text);
    }
    Py_DECREF(seq);
    return out;
}

/* --- module -------------------------------------------------------------------------------- */

static PyObject *decode_blob(PyObject *args, PyObject *kwargs, int listpack) {
    static char *keywords[] = {"buf", "deep", NULL};
    Py_buffer view;
    int deep = 0; /* ziplists are always validated fully: Redis converts them on load */
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|p", keywords, &view, &deep)) return NULL;
    ListSink out = {PyList_New(0), 0};
    Py_ssize_t count = -1;
    if (out.list != NULL) {
        count = listpack ? walk_listpack(view.buf, view.len, deep, visit_append, &out)
                         : walk_ziplist(view.buf, view.len, visit_append, &out);
    }
    PyBuffer_Release(&view);
    if (count < 0) Py_CLEAR(out.list);
    return out.list;
}

static PyObject *decode_listpack(PyObject *self, PyObject *args, PyObject *kwargs) {
    return decode_blob(args, kwargs, 1);
}

static PyObject *decode_ziplist(PyObject *self, PyObject *args, PyObject *kwargs) {
    return decode_blob(args, kwargs, 0);
}

static PyMethodDef methods[] = {
    {"decode_listpack", (PyCFunction)(void (*)(void))decode_listpack, METH_VARARGS | METH_KEYWORDS,
     "Entries of a listpack blob (see formats/listpack.py)."},
    {"decode_ziplist", (PyCFunction)(void (*)(void))decode_ziplist, METH_VARARGS | METH_KEYWORDS,
     "Entries of a ziplist blob (see formats/ziplist.py)."},
    {"encode_plain_string", encode_plain_string, METH_VARARGS, "An RDB string of plain bytes (see primitives.py)."},
    {"encode_listpack", encode_listpack, METH_O, "A listpack of bytes/int values (see formats/listpack.py)."},
    {"resp_scan", resp_scan, METH_VARARGS, "Clean RESP records from pos (see formats/resp.py)."},
    {"aof_scan", aof_scan, METH_VARARGS, "Clean AOF records from pos (see aof/check.py)."},
    {"canonical_int64", canonical_int64_of, METH_O, "The integer of a canonical decimal text, or None (see formats/numbers.py)."},
    {"int_text", int_text_of, METH_O, "b'%d' % number (see formats/numbers.py)."},
    {"int_line", (PyCFunction)(void (*)(void))int_line, METH_FASTCALL, "A RESP line of a number (see server/protocol.py)."},
    {"read_double", (PyCFunction)(void (*)(void))read_double, METH_FASTCALL, "The double Redis reads from an argument, or None (see formats/numbers.py)."},
    {"requests_take", (PyCFunction)(void (*)(void))requests_take, METH_FASTCALL, "The complete RESP requests from pos, as lists (see server/protocol.py)."},
    {"encode_bulks", encode_bulks, METH_O, "A RESP array of bulk strings, or None (see server/protocol.py)."},
    {"repeated_int64", repeated_int64, METH_VARARGS, "Values occurring twice in an array('q'), sorted in place."},
    {"scan_keys", scan_keys, METH_VARARGS, "Consecutive clean key entries as KeyRecords, or measured (see rdb/reader.py)."},
    {"bytes_to_json", bytes_to_json, METH_O, "A byte string as JSON: its text, or {'b64': ...} (see export/records.py)."},
    {"texts_to_json", texts_to_json, METH_O, "bytes_to_json of each item, as a list (see export/records.py)."},
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
    B64_KEY = PyUnicode_InternFromString("b64");
    NAME_KEYS = PyUnicode_InternFromString("keys");
    NAME_BYTES = PyUnicode_InternFromString("bytes");
    if (B64_KEY == NULL || NAME_KEYS == NULL || NAME_BYTES == NULL) return NULL;
    PyObject **texts[] = {&ENC_INT, &ENC_EMBSTR, &ENC_RAW, &ENC_LISTPACK, &ENC_INTSET, &ENC_QUICKLIST, &ENC_HASHTABLE, &ENC_ZIPLIST,
                          &PAST_INTSET_ENTRIES, &PAST_SET_LISTPACK_ENTRIES, &PAST_SET_LISTPACK_VALUE, &PAST_LIST_SIZE};
    const char *names[] = {"int", "embstr", "raw", "listpack", "intset", "quicklist", "hashtable", "ziplist",
                           "set-max-intset-entries", "set-max-listpack-entries", "set-max-listpack-value",
                           "list-max-listpack-size"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if ((*texts[i] = PyUnicode_InternFromString(names[i])) == NULL) return NULL;
    }
    return PyModule_Create(&module);
}
