/* A read's Redis commands and its usual answer in C: what read.py and answer.py otherwise do
 * in Python (with the same keys, bytes and answers), without a Python call per entity. Built
 * by setup.py when a C compiler is there; the readers take the Python path when it is not.
 *
 * hget_round(texts, slot_prefix, buckets, tags, kept) -> (keys, resp)
 *   A read's data commands for one view: each entity's data key (its canonical key text's
 *   CRC-32, as zlib.crc32 of its UTF-8, modulo `buckets`: `kept[bucket]` when the bucket
 *   keys are kept, else `<slot_prefix><bucket % tags>}:<bucket>`, layout.data_key) and
 *   `HGET <key> <text>` of each as RESP, as hiredis.pack_command writes it (read._round).
 *
 * key_texts(rows, name, int_key) -> list[str] | None
 *   Each entity row's canonical key text for a view of one key `name` (keys.keyer's fast
 *   path): str(value) of an int key given as an int, the value of a string key given as a
 *   str. None when a row is not a dict or holds anything else: keys.keyer then makes them
 *   (and coerces or refuses the value, as ever).
 *
 * present(records, base_us, positions, tombstone, oldest) -> (values, events) | None
 *   The usual answer (answer._all_present): msgpack-v1 records (online/packed.py) all found,
 *   none a tombstone, none older than the TTL, decoded into each record's picked feature
 *   values and its event time in one pass.
 *   records    list of bytes (None: not found)
 *   base_us    the generation's event base (epoch µs)
 *   positions  tuple of the record's element indexes (>= 1) to pick, in the order asked
 *   tombstone  a tombstone's element count (a record of that many elements or fewer is one)
 *   oldest     epoch µs of the oldest event served (None: no TTL)
 *   values: a tuple of the picked elements per record; events: naive datetimes (UTC).
 *   None whenever the answer is not that usual one or a record holds anything else than what
 *   packed.py writes (not found, a tombstone, expired, an unknown msgpack type, trailing
 *   bytes, invalid UTF-8, an event outside datetime's range...): the caller then takes the
 *   Python path (msgpack.unpackb and answer._each), which answers, or fails, exactly as
 *   before. The values are what msgpack.unpackb gives (int, float, str, bool, None, list,
 *   bytes): sync/tests/online/test_speedups.py compares both paths on generated records.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 32
static const int64_t UNITS[4] = {1, 1000, 1000000, 60000000};
static const int64_t US_PER_DAY = 86400000000LL;

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} Cursor;

static int take(Cursor *c, Py_ssize_t n, const unsigned char **out) {
    if (c->end - c->p < n) return 0;
    *out = c->p;
    c->p += n;
    return 1;
}

static uint64_t be(const unsigned char *s, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | s[i];
    return v;
}

/* An integer element (any msgpack int) into *v; 0 when it is not one or beyond int64. */
static int read_int(Cursor *c, int64_t *v) {
    const unsigned char *s;
    if (!take(c, 1, &s)) return 0;
    unsigned char b = s[0];
    if (b <= 0x7f) { *v = b; return 1; }
    if (b >= 0xe0) { *v = (int8_t)b; return 1; }
    int n;
    switch (b) {
        case 0xcc: case 0xd0: n = 1; break;
        case 0xcd: case 0xd1: n = 2; break;
        case 0xce: case 0xd2: n = 4; break;
        case 0xcf: case 0xd3: n = 8; break;
        default: return 0;
    }
    if (!take(c, n, &s)) return 0;
    uint64_t u = be(s, n);
    if (b >= 0xd0) {  /* signed: sign-extend */
        if (n < 8 && (u >> (8 * n - 1)) & 1) u |= ~(uint64_t)0 << (8 * n);
        *v = (int64_t)u;
        return 1;
    }
    if (u > (uint64_t)INT64_MAX) return 0;
    *v = (int64_t)u;
    return 1;
}

/* An array's header (fixarray, array 16, array 32) into *n; 0 when it is not one. */
static int array_header(Cursor *c, Py_ssize_t *n) {
    const unsigned char *s;
    if (!take(c, 1, &s)) return 0;
    if (s[0] >= 0x90 && s[0] <= 0x9f) { *n = s[0] & 0x0f; return 1; }
    int width = s[0] == 0xdc ? 2 : s[0] == 0xdd ? 4 : 0;
    if (width == 0 || !take(c, width, &s)) return 0;
    *n = (Py_ssize_t)be(s, width);
    return 1;
}

/* One element as a new reference; NULL (no exception set) when it is not one of ours. */
static PyObject *element(Cursor *c, int depth) {
    const unsigned char *s;
    if (c->p >= c->end || depth > MAX_DEPTH) return NULL;
    unsigned char b = c->p[0];
    Py_ssize_t n = -1;
    if ((b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd) {
        if (!array_header(c, &n)) return NULL;
        goto array;
    }
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xcf) || (b >= 0xd0 && b <= 0xd3)) {
        if (b == 0xcf) {  /* uint64: msgpack gives any value, beyond int64 too */
            c->p++;
            if (!take(c, 8, &s)) return NULL;
            return PyLong_FromUnsignedLongLong(be(s, 8));
        }
        int64_t v;
        if (!read_int(c, &v)) return NULL;
        return PyLong_FromLongLong(v);
    }
    c->p++;
    switch (b) {
        case 0xc0: Py_RETURN_NONE;
        case 0xc2: Py_RETURN_FALSE;
        case 0xc3: Py_RETURN_TRUE;
        case 0xcb: {
            if (!take(c, 8, &s)) return NULL;
            uint64_t bits = be(s, 8);
            double d;
            memcpy(&d, &bits, 8);
            return PyFloat_FromDouble(d);
        }
        case 0xca: {
            if (!take(c, 4, &s)) return NULL;
            uint32_t bits = (uint32_t)be(s, 4);
            float f;
            memcpy(&f, &bits, 4);
            return PyFloat_FromDouble((double)f);
        }
        case 0xd9: case 0xc4: if (!take(c, 1, &s)) return NULL; n = (Py_ssize_t)be(s, 1); break;
        case 0xda: case 0xc5: if (!take(c, 2, &s)) return NULL; n = (Py_ssize_t)be(s, 2); break;
        case 0xdb: case 0xc6: if (!take(c, 4, &s)) return NULL; n = (Py_ssize_t)be(s, 4); break;
        default:
            if (b >= 0xa0 && b <= 0xbf) { n = b & 0x1f; break; }
            return NULL;  /* maps, ext, reserved: not written by packed.py */
    }
    if (!take(c, n, &s)) return NULL;
    if (b == 0xc4 || b == 0xc5 || b == 0xc6) return PyBytes_FromStringAndSize((const char *)s, n);
    PyObject *text = PyUnicode_DecodeUTF8((const char *)s, n, NULL);
    if (text == NULL) PyErr_Clear();
    return text;
array:
    if (n > c->end - c->p) return NULL;  /* each element takes at least a byte */
    PyObject *list = PyList_New(n);
    if (list == NULL) { PyErr_Clear(); return NULL; }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = element(c, depth + 1);
        if (item == NULL) { Py_DECREF(list); return NULL; }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

/* Days since 1970-01-01 -> proleptic Gregorian date (H. Hinnant's civil_from_days). */
static void civil(int64_t z, int *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* A naive datetime of epoch µs; NULL (no exception set) beyond years 1-9999. */
static PyObject *datetime_of(int64_t us) {
    int64_t days = us / US_PER_DAY, rem = us % US_PER_DAY;
    if (rem < 0) { rem += US_PER_DAY; days -= 1; }
    int y, m, d;
    civil(days, &y, &m, &d);
    if (y < 1 || y > 9999) return NULL;
    int64_t secs = rem / 1000000;
    PyObject *dt = PyDateTimeAPI->DateTime_FromDateAndTime(
        y, m, d, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60),
        (int)(rem % 1000000), Py_None, PyDateTimeAPI->DateTimeType);
    if (dt == NULL) PyErr_Clear();
    return dt;
}

typedef struct {
    PyObject **items;
    Py_ssize_t size;
} Scratch;

static void clear(PyObject **items, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) Py_CLEAR(items[i]);
}

/* One record: its picked values (a new tuple) and its event's epoch µs; NULL otherwise. */
static PyObject *record(PyObject *raw, int64_t base, const Py_ssize_t *at, Py_ssize_t k,
                        Py_ssize_t tomb, Scratch *scratch, int64_t *event) {
    if (!PyBytes_Check(raw)) return NULL;
    Cursor c = {(const unsigned char *)PyBytes_AS_STRING(raw),
                (const unsigned char *)PyBytes_AS_STRING(raw) + PyBytes_GET_SIZE(raw)};
    Py_ssize_t n;
    if (!array_header(&c, &n) || n <= tomb || n < 1) return NULL;  /* or a tombstone */
    int64_t tagged, unit = 0;
    if (!read_int(&c, &tagged)) return NULL;
    if (__builtin_mul_overflow(tagged >> 2, UNITS[tagged & 3], &unit)) return NULL;
    if (__builtin_add_overflow(base, unit, event)) return NULL;
    if (n - 1 > scratch->size) {
        PyObject **grown = PyMem_Realloc(scratch->items, sizeof(PyObject *) * (size_t)(n - 1));
        if (grown == NULL) return NULL;
        memset(grown + scratch->size, 0, sizeof(PyObject *) * (size_t)(n - 1 - scratch->size));
        scratch->items = grown;
        scratch->size = n - 1;
    }
    PyObject **items = scratch->items;
    for (Py_ssize_t i = 0; i < n - 1; i++) {
        items[i] = element(&c, 1);
        if (items[i] == NULL) { clear(items, i); return NULL; }
    }
    PyObject *picked = NULL;
    if (c.p != c.end) goto done;  /* trailing bytes: not a record of ours */
    for (Py_ssize_t j = 0; j < k; j++)
        if (at[j] >= n) goto done;  /* a position past this record's end */
    picked = PyTuple_New(k);
    if (picked == NULL) { PyErr_Clear(); goto done; }
    for (Py_ssize_t j = 0; j < k; j++) {
        Py_INCREF(items[at[j] - 1]);  /* element 0 is the event */
        PyTuple_SET_ITEM(picked, j, items[at[j] - 1]);
    }
done:
    clear(items, n - 1);
    return picked;
}

static PyObject *present(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *records, *positions, *oldest_obj;
    long long base;
    Py_ssize_t tomb;
    if (!PyArg_ParseTuple(args, "O!LO!nO", &PyList_Type, &records, &base, &PyTuple_Type,
                          &positions, &tomb, &oldest_obj))
        return NULL;
    int has_oldest = oldest_obj != Py_None;
    long long oldest = 0;
    if (has_oldest) {
        oldest = PyLong_AsLongLong(oldest_obj);
        if (oldest == -1 && PyErr_Occurred()) return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(records), k = PyTuple_GET_SIZE(positions);
    if (count == 0) Py_RETURN_NONE;
    /* Our own list of the records: what an allocation's garbage collection may run cannot
     * shrink it or free a record being read. */
    records = PyList_GetSlice(records, 0, count);
    if (records == NULL) return NULL;
    PyObject *values = PyList_New(count), *events = PyList_New(count);
    int64_t *stamps = PyMem_Malloc(sizeof(int64_t) * (size_t)count);
    Py_ssize_t *at = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(k + 1));
    Scratch scratch = {NULL, 0};
    PyObject *out = NULL;
    if (values == NULL || events == NULL || stamps == NULL || at == NULL) {
        Py_DECREF(records);
        Py_XDECREF(values);
        Py_XDECREF(events);
        PyMem_Free(stamps);
        PyMem_Free(at);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t j = 0; j < k; j++) {  /* the positions, read once for every record */
        at[j] = PyLong_AsSsize_t(PyTuple_GET_ITEM(positions, j));
        if (at[j] < 1) goto usual_not;  /* element 0 is the event; an error is Python's */
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *picked = record(PyList_GET_ITEM(records, i), base, at, k, tomb, &scratch,
                                  &stamps[i]);
        if (picked == NULL) goto usual_not;
        PyList_SET_ITEM(values, i, picked);
        if (has_oldest && stamps[i] < oldest) goto usual_not;  /* expired */
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *dt = datetime_of(stamps[i]);
        if (dt == NULL) goto usual_not;
        PyList_SET_ITEM(events, i, dt);
    }
    out = PyTuple_Pack(2, values, events);  /* NULL with MemoryError set, if it fails */
    goto release;
usual_not:
    PyErr_Clear();
    out = Py_NewRef(Py_None);
release:
    Py_DECREF(records);
    Py_XDECREF(values);
    Py_XDECREF(events);
    PyMem_Free(stamps);
    PyMem_Free(at);
    PyMem_Free(scratch.items);
    return out;
}

/* CRC-32 (ISO-HDLC, zlib's): the bucket hash of entity keys (layout.crc32_py). */
static uint32_t CRC_TABLE[256];

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        CRC_TABLE[i] = c;
    }
}

static uint32_t crc32_of(const char *s, Py_ssize_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (Py_ssize_t i = 0; i < n; i++) c = CRC_TABLE[(c ^ (unsigned char)s[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buffer;

static int put(Buffer *b, const char *s, Py_ssize_t n) {
    if (b->len + n > b->cap) {
        Py_ssize_t cap = (b->cap + n) * 2;
        char *grown = PyMem_Realloc(b->data, (size_t)cap);
        if (grown == NULL) { PyErr_NoMemory(); return 0; }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
    return 1;
}

/* The decimal digits of n >= 0 at out (no terminator); their count. */
static int digits(Py_ssize_t n, char *out) {
    char tmp[24];
    int len = 0;
    do { tmp[len++] = (char)('0' + n % 10); n /= 10; } while (n > 0);
    for (int i = 0; i < len; i++) out[i] = tmp[len - 1 - i];
    return len;
}

static int put_bulk(Buffer *b, const char *s, Py_ssize_t n) {
    char head[32];
    int h = 1;
    head[0] = '$';
    h += digits(n, head + 1);
    head[h++] = '\r';
    head[h++] = '\n';
    return put(b, head, h) && put(b, s, n) && put(b, "\r\n", 2);
}

static PyObject *hget_round(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *texts, *prefix, *kept;
    Py_ssize_t buckets, tags;
    if (!PyArg_ParseTuple(args, "O!UnnO", &PyList_Type, &texts, &prefix, &buckets, &tags, &kept))
        return NULL;
    if (buckets < 1 || tags < 1) {
        PyErr_SetString(PyExc_ValueError, "buckets and tags must be positive");
        return NULL;
    }
    if (kept != Py_None && (!PyList_Check(kept) || PyList_GET_SIZE(kept) != buckets)) {
        PyErr_SetString(PyExc_ValueError, "kept must be None or a list of every bucket's key");
        return NULL;
    }
    Py_ssize_t plen, count = PyList_GET_SIZE(texts);
    const char *pre = PyUnicode_AsUTF8AndSize(prefix, &plen);
    if (pre == NULL) return NULL;
    texts = PyList_GetSlice(texts, 0, count);  /* our own: see present() */
    if (texts == NULL) return NULL;
    PyObject *keys = PyList_New(count);
    Buffer out = {NULL, 0, 0};
    if (keys == NULL) { Py_DECREF(texts); return NULL; }
    out.cap = count * (plen + 96) + 64;  /* room for the usual keys and texts: one allocation */
    out.data = PyMem_Malloc((size_t)out.cap);
    if (out.data == NULL) { Py_DECREF(keys); Py_DECREF(texts); return PyErr_NoMemory(); }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *text = PyList_GET_ITEM(texts, i), *key;
        Py_ssize_t tlen, klen;
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "entity key texts must be str");
            goto fail;
        }
        const char *t = PyUnicode_AsUTF8AndSize(text, &tlen);
        if (t == NULL) goto fail;
        Py_ssize_t bucket = (Py_ssize_t)(crc32_of(t, tlen) % (uint32_t)buckets);
        if (kept != Py_None) {
            if (bucket >= PyList_GET_SIZE(kept)) {  /* changed meanwhile: not ours to guess */
                PyErr_SetString(PyExc_ValueError, "kept must hold every bucket's key");
                goto fail;
            }
            key = Py_NewRef(PyList_GET_ITEM(kept, bucket));
        } else {
            char tail[48];
            int n = digits(bucket % tags, tail);
            tail[n++] = '}';
            tail[n++] = ':';
            n += digits(bucket, tail + n);
            tail[n] = '\0';
            key = PyUnicode_New(plen + n, 127);
            if (key != NULL && PyUnicode_IS_ASCII(prefix)) {
                memcpy(PyUnicode_1BYTE_DATA(key), pre, (size_t)plen);
                memcpy(PyUnicode_1BYTE_DATA(key) + plen, tail, (size_t)n);
            } else if (key != NULL) {  /* a non-ASCII prefix: decode the whole key */
                Py_DECREF(key);
                key = PyUnicode_FromFormat("%U%s", prefix, tail);
            }
        }
        if (key == NULL) goto fail;
        PyList_SET_ITEM(keys, i, key);
        const char *k = PyUnicode_AsUTF8AndSize(key, &klen);
        if (k == NULL) goto fail;
        if (!put(&out, "*3\r\n$4\r\nHGET\r\n", 14) || !put_bulk(&out, k, klen) ||
            !put_bulk(&out, t, tlen))
            goto fail;
    }
    PyObject *resp = PyBytes_FromStringAndSize(out.data, out.len);
    PyMem_Free(out.data);
    Py_DECREF(texts);
    if (resp == NULL) { Py_DECREF(keys); return NULL; }
    PyObject *pair = PyTuple_Pack(2, keys, resp);
    Py_DECREF(keys);
    Py_DECREF(resp);
    return pair;
fail:
    PyMem_Free(out.data);
    Py_DECREF(keys);
    Py_DECREF(texts);
    return NULL;
}

static PyObject *key_texts(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *rows, *name;
    int int_key;
    if (!PyArg_ParseTuple(args, "O!Up", &PyList_Type, &rows, &name, &int_key)) return NULL;
    rows = PyList_GetSlice(rows, 0, PyList_GET_SIZE(rows));  /* our own: see present() */
    if (rows == NULL) return NULL;
    Py_ssize_t count = PyList_GET_SIZE(rows);
    PyObject *texts = PyList_New(count);
    if (texts == NULL) { Py_DECREF(rows); return NULL; }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i), *value, *text;
        if (!PyDict_CheckExact(row)) goto other;
        value = PyDict_GetItemWithError(row, name);  /* borrowed */
        if (value == NULL) { PyErr_Clear(); goto other; }
        if (int_key ? !PyLong_CheckExact(value) : !PyUnicode_CheckExact(value)) goto other;
        Py_INCREF(value);  /* the row's dict may lose it while str() allocates */
        text = int_key ? PyObject_Str(value) : Py_NewRef(value);
        Py_DECREF(value);
        if (text == NULL) { Py_DECREF(texts); Py_DECREF(rows); return NULL; }
        PyList_SET_ITEM(texts, i, text);
    }
    Py_DECREF(rows);
    return texts;
other:
    Py_DECREF(texts);
    Py_DECREF(rows);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"key_texts", key_texts, METH_VARARGS,
     "key_texts(rows, name, int_key) -> list[str] | None"},
    {"hget_round", hget_round, METH_VARARGS,
     "hget_round(texts, slot_prefix, buckets, tags, kept) -> (keys, resp)"},
    {"present", present, METH_VARARGS,
     "present(records, base_us, positions, tombstone, oldest) -> (values, events) | None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups",
    "A read's commands and its usual answer in C (online/redis/read.py and answer.py use it "
    "when built).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    crc_init();
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    return PyModule_Create(&module);
}
