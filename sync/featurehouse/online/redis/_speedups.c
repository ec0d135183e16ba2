/* A read's Redis commands and its usual answer, and a full sync's records, bucket hashes and
 * RESTORE payloads, in C: what read.py, answer.py, packed.py, layout.py and HSET otherwise do
 * (with the same keys, bytes and answers), without a Python call per entity or row. Built by
 * setup.py when a C compiler is there; readers and writers take the Python path when it is not.
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
 *
 * pack_records(n, columns) -> (offsets, data)
 *   A full sync's msgpack-v1 records (online/packed.py `records` of the parts
 *   encoding.Codec.encode makes, byte for byte), written in C with the GIL released: the
 *   publish's encoding thread then runs beside the sort and the sends. `columns` are the
 *   record's elements after its array header, each a tuple (kind, values, valid, extra):
 *   kind 0 int64 (the shortest msgpack int), 1 tagged time (`extra`: the base, epoch µs),
 *   2 float64, 3 bool (values: one byte per row), 4 string (values: the UTF-8 bytes, extra:
 *   n + 1 int32 offsets into them); values and extra are buffers, valid a buffer of one byte
 *   per row (0: nil) or None. offsets: n + 1 int32 (bytes), data: the records back to back.
 *
 * crc32_texts(data, offsets) -> bytes
 *   zlib.crc32 of each of n texts (n + 1 int32 offsets into data), as n uint32 (layout's
 *   crc32_array, the publish's bucket hash), with the GIL released.
 *
 * restore_payload(runs, keys, key_offsets, fields, field_offsets, records, record_offsets,
 *                 rdb_version) -> bytes | None
 *   A full publish's buckets as `RESTORE <key> 0 <payload>` commands (RESP), one per run of
 *   rows: each payload is what DUMP gives of the hash that HSETs of the run's field/record
 *   pairs make while it is a listpack (the same entries, byte for byte: Redis's integer
 *   encoding of integer-like strings included), framed for RDB `rdb_version` with its CRC-64.
 *   Redis then copies each bucket in place instead of inserting its entries one by one.
 *   runs: int32 rows per run (their rows back to back); keys/key_offsets: each run's key;
 *   fields, records: the rows' texts (bytes + n + 1 int32 offsets). None when a run holds a
 *   field twice (HSET keeps the last; the caller then sends HSETs).
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


/* --- pack_records: the write path's msgpack-v1 records --- */

enum { K_INT = 0, K_TIME = 1, K_FLOAT = 2, K_BOOL = 3, K_STR = 4 };

typedef struct {
    int kind;
    Py_buffer values, valid, extra;
    int has_valid, has_extra;
    int64_t base;
} Column;

/* The tagged time of `delta` µs (packed.tagged): 4 * n + code, n in the largest unit that
 * divides it. */
static int64_t tagged_of(int64_t value, int64_t base) {
    int64_t delta = (int64_t)((uint64_t)value - (uint64_t)base); /* wraps, as numpy's */
    int code = 3;
    while (code > 0 && delta % UNITS[code] != 0) code--;
    return (int64_t)((uint64_t)(delta / UNITS[code]) * 4u + (uint64_t)code);
}

/* The shortest msgpack int of v at out (NULL: only count); its bytes. */
static int put_int(int64_t v, unsigned char *out) {
    if (v >= -32 && v <= 127) {
        if (out) out[0] = (unsigned char)(v & 0xFF);
        return 1;
    }
    int width, tag;
    if (v >= 0) {
        uint64_t u = (uint64_t)v;
        if (u <= 0xFF) { tag = 0xCC; width = 1; }
        else if (u <= 0xFFFF) { tag = 0xCD; width = 2; }
        else if (u <= 0xFFFFFFFFu) { tag = 0xCE; width = 4; }
        else { tag = 0xCF; width = 8; }
    } else {
        if (v >= -128) { tag = 0xD0; width = 1; }
        else if (v >= -32768) { tag = 0xD1; width = 2; }
        else if (v >= -2147483648LL) { tag = 0xD2; width = 4; }
        else { tag = 0xD3; width = 8; }
    }
    if (out) {
        uint64_t u = (uint64_t)v;
        out[0] = (unsigned char)tag;
        for (int i = 0; i < width; i++) out[1 + i] = (unsigned char)(u >> (8 * (width - 1 - i)));
    }
    return 1 + width;
}

static int put_str_header(Py_ssize_t len, unsigned char *out) {
    if (len <= 31) { if (out) out[0] = (unsigned char)(0xA0 + len); return 1; }
    if (len <= 0xFF) { if (out) { out[0] = 0xD9; out[1] = (unsigned char)len; } return 2; }
    if (len <= 0xFFFF) {
        if (out) { out[0] = 0xDA; out[1] = (unsigned char)(len >> 8); out[2] = (unsigned char)len; }
        return 3;
    }
    if (out) {
        out[0] = 0xDB;
        for (int i = 0; i < 4; i++) out[1 + i] = (unsigned char)((uint64_t)len >> (8 * (3 - i)));
    }
    return 5;
}

/* Element i of column c at out (NULL: only count); its bytes. */
static Py_ssize_t put_element(const Column *c, Py_ssize_t i, unsigned char *out) {
    if (c->has_valid && !((const unsigned char *)c->valid.buf)[i]) {
        if (out) out[0] = 0xC0;
        return 1;
    }
    switch (c->kind) {
    case K_INT:
        return put_int(((const int64_t *)c->values.buf)[i], out);
    case K_TIME:
        return put_int(tagged_of(((const int64_t *)c->values.buf)[i], c->base), out);
    case K_FLOAT:
        if (out) {
            uint64_t u;
            memcpy(&u, (const char *)c->values.buf + 8 * i, 8);
            out[0] = 0xCB;
            for (int k = 0; k < 8; k++) out[1 + k] = (unsigned char)(u >> (8 * (7 - k)));
        }
        return 9;
    case K_BOOL:
        if (out) out[0] = ((const unsigned char *)c->values.buf)[i] ? 0xC3 : 0xC2;
        return 1;
    default: { /* K_STR */
        const int32_t *off = (const int32_t *)c->extra.buf;
        Py_ssize_t len = off[i + 1] - off[i];
        int h = put_str_header(len, out);
        if (out) memcpy(out + h, (const char *)c->values.buf + off[i], (size_t)len);
        return h + len;
    }
    }
}

static void release_columns(Column *cols, Py_ssize_t m) {
    for (Py_ssize_t j = 0; j < m; j++) {
        if (cols[j].values.obj) PyBuffer_Release(&cols[j].values);
        if (cols[j].has_valid) PyBuffer_Release(&cols[j].valid);
        if (cols[j].has_extra) PyBuffer_Release(&cols[j].extra);
    }
    PyMem_Free(cols);
}

static const Py_ssize_t ITEM_SIZE[] = {8, 8, 8, 1, 1};

static PyObject *pack_records(PyObject *self, PyObject *args) {
    (void)self;
    Py_ssize_t n;
    PyObject *columns;
    if (!PyArg_ParseTuple(args, "nO!", &n, &PyList_Type, &columns)) return NULL;
    if (n < 0) { PyErr_SetString(PyExc_ValueError, "pack_records: n < 0"); return NULL; }
    Py_ssize_t m = PyList_GET_SIZE(columns);
    Column *cols = PyMem_Calloc((size_t)(m ? m : 1), sizeof(Column));
    if (cols == NULL) return PyErr_NoMemory();
    Py_ssize_t ready = 0;
    for (; ready < m; ready++) {
        Column *c = &cols[ready];
        PyObject *valid, *extra, *values;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(columns, ready), "iOOO", &c->kind, &values, &valid,
                              &extra))
            goto fail;
        if (c->kind < K_INT || c->kind > K_STR) {
            PyErr_Format(PyExc_ValueError, "pack_records: unknown kind %d", c->kind);
            goto fail;
        }
        if (PyObject_GetBuffer(values, &c->values, PyBUF_SIMPLE) < 0) goto fail;
        if (valid != Py_None) {
            if (PyObject_GetBuffer(valid, &c->valid, PyBUF_SIMPLE) < 0) goto fail;
            c->has_valid = 1;
            if (c->valid.len < n) {
                PyErr_SetString(PyExc_ValueError, "pack_records: validity shorter than n");
                goto fail;
            }
        }
        if (c->kind == K_TIME) {
            c->base = PyLong_AsLongLong(extra);
            if (c->base == -1 && PyErr_Occurred()) goto fail;
        } else if (c->kind == K_STR) {
            if (PyObject_GetBuffer(extra, &c->extra, PyBUF_SIMPLE) < 0) goto fail;
            c->has_extra = 1;
            if (c->extra.len < 4 * (n + 1)) {
                PyErr_SetString(PyExc_ValueError, "pack_records: string offsets shorter than n + 1");
                goto fail;
            }
            const int32_t *off = (const int32_t *)c->extra.buf;
            if (n && (off[0] < 0 || off[n] > c->values.len)) {
                PyErr_SetString(PyExc_ValueError, "pack_records: string offsets out of range");
                goto fail;
            }
        } else if (c->values.len < ITEM_SIZE[c->kind] * n) {
            PyErr_SetString(PyExc_ValueError, "pack_records: values shorter than n");
            goto fail;
        }
    }
    unsigned char head[3];
    int head_len = m < 16 ? 1 : 3;
    head[0] = m < 16 ? (unsigned char)(0x90 + m) : 0xDC;
    head[1] = (unsigned char)(m >> 8);
    head[2] = (unsigned char)m;
    PyObject *offsets = PyBytes_FromStringAndSize(NULL, 4 * (n + 1));
    if (offsets == NULL) goto fail;
    int32_t *off = (int32_t *)PyBytes_AS_STRING(offsets);
    int64_t total = 0;
    int too_big = 0;
    Py_BEGIN_ALLOW_THREADS
    off[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        total += head_len;
        for (Py_ssize_t j = 0; j < m; j++) total += put_element(&cols[j], i, NULL);
        if (total > INT32_MAX) { too_big = 1; break; }
        off[i + 1] = (int32_t)total;
    }
    Py_END_ALLOW_THREADS
    if (too_big) {
        Py_DECREF(offsets);
        PyErr_SetString(PyExc_OverflowError, "pack_records: more than 2 GiB of records");
        goto fail;
    }
    PyObject *data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (data == NULL) { Py_DECREF(offsets); goto fail; }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(data);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        memcpy(out, head, (size_t)head_len);
        out += head_len;
        for (Py_ssize_t j = 0; j < m; j++) out += put_element(&cols[j], i, out);
    }
    Py_END_ALLOW_THREADS
    release_columns(cols, m);
    return Py_BuildValue("(NN)", offsets, data);
fail:
    release_columns(cols, ready + 1 <= m ? ready + 1 : m);
    return NULL;
}

/* --- restore_payload: a full publish's buckets as DUMP payloads --- */

static uint64_t CRC64_TABLE[8][256]; /* Redis's CRC-64 (Jones, reflected), sliced by 8 */

static void crc64_init(void) {
    const uint64_t poly = 0x95AC9329AC4BC9B5ULL;
    for (int i = 0; i < 256; i++) {
        uint64_t c = (uint64_t)i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ poly : c >> 1;
        CRC64_TABLE[0][i] = c;
    }
    for (int i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            CRC64_TABLE[t][i] = (CRC64_TABLE[t - 1][i] >> 8) ^ CRC64_TABLE[0][CRC64_TABLE[t - 1][i] & 0xFF];
}

static uint64_t crc64_of(const unsigned char *p, size_t n) {
    uint64_t c = 0;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c ^= w; /* little-endian hosts (x86-64, arm64) */
        c = CRC64_TABLE[7][c & 0xFF] ^ CRC64_TABLE[6][(c >> 8) & 0xFF] ^
            CRC64_TABLE[5][(c >> 16) & 0xFF] ^ CRC64_TABLE[4][(c >> 24) & 0xFF] ^
            CRC64_TABLE[3][(c >> 32) & 0xFF] ^ CRC64_TABLE[2][(c >> 40) & 0xFF] ^
            CRC64_TABLE[1][(c >> 48) & 0xFF] ^ CRC64_TABLE[0][c >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) c = CRC64_TABLE[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c;
}

/* Redis's string2ll (listpack's lpStringToInt64): is s the canonical text of an int64? */
static int as_int64(const unsigned char *s, Py_ssize_t n, int64_t *value) {
    if (n == 0 || n >= 21) return 0;
    if (n == 1 && s[0] >= '0' && s[0] <= '9') { *value = s[0] - '0'; return 1; }
    Py_ssize_t i = 0;
    int negative = 0;
    if (s[0] == '-') { negative = 1; i = 1; if (n == 1) return 0; }
    if (s[i] < '1' || s[i] > '9') return 0;
    uint64_t v = (uint64_t)(s[i++] - '0');
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        if (v > UINT64_MAX / 10) return 0;
        v *= 10;
        if (v > UINT64_MAX - (uint64_t)(s[i] - '0')) return 0;
        v += (uint64_t)(s[i] - '0');
    }
    if (negative) {
        if (v > (uint64_t)INT64_MAX + 1) return 0;
        *value = (int64_t)(0 - v);
    } else {
        if (v > (uint64_t)INT64_MAX) return 0;
        *value = (int64_t)v;
    }
    return 1;
}

/* One listpack entry of s at out (NULL: only count): encoding, data, back length. */
static Py_ssize_t lp_entry(const unsigned char *s, Py_ssize_t n, unsigned char *out) {
    unsigned char head[9];
    Py_ssize_t h, body;
    int64_t v;
    const unsigned char *data = s;
    if (as_int64(s, n, &v)) {
        uint64_t u = (uint64_t)v;
        data = NULL;
        body = 0;
        if (v >= 0 && v <= 127) { head[0] = (unsigned char)v; h = 1; }
        else if (v >= -4096 && v <= 4095) {
            uint64_t w = v < 0 ? (1u << 13) + u : u;
            head[0] = (unsigned char)((w >> 8) | 0xC0); head[1] = (unsigned char)(w & 0xFF); h = 2;
        } else {
            int width = v >= -32768 && v <= 32767 ? 2
                      : v >= -8388608 && v <= 8388607 ? 3
                      : v >= INT32_MIN && v <= INT32_MAX ? 4 : 8;
            head[0] = width == 2 ? 0xF1 : width == 3 ? 0xF2 : width == 4 ? 0xF3 : 0xF4;
            for (int k = 0; k < width; k++) head[1 + k] = (unsigned char)(u >> (8 * k));
            h = 1 + width;
        }
    } else {
        body = n;
        if (n < 64) { head[0] = (unsigned char)(0x80 | n); h = 1; }
        else if (n < 4096) { head[0] = (unsigned char)(0xE0 | (n >> 8)); head[1] = (unsigned char)(n & 0xFF); h = 2; }
        else {
            head[0] = 0xF0;
            for (int k = 0; k < 4; k++) head[1 + k] = (unsigned char)((uint64_t)n >> (8 * k));
            h = 5;
        }
    }
    uint64_t l = (uint64_t)(h + body);
    unsigned char back[5];
    int b;
    if (l <= 127) { back[0] = (unsigned char)l; b = 1; }
    else if (l < 16383) { back[0] = (unsigned char)(l >> 7); back[1] = (unsigned char)((l & 127) | 128); b = 2; }
    else if (l < 2097151) {
        back[0] = (unsigned char)(l >> 14); back[1] = (unsigned char)(((l >> 7) & 127) | 128);
        back[2] = (unsigned char)((l & 127) | 128); b = 3;
    } else if (l < 268435455) {
        back[0] = (unsigned char)(l >> 21); back[1] = (unsigned char)(((l >> 14) & 127) | 128);
        back[2] = (unsigned char)(((l >> 7) & 127) | 128); back[3] = (unsigned char)((l & 127) | 128);
        b = 4;
    } else {
        back[0] = (unsigned char)(l >> 28); back[1] = (unsigned char)(((l >> 21) & 127) | 128);
        back[2] = (unsigned char)(((l >> 14) & 127) | 128);
        back[3] = (unsigned char)(((l >> 7) & 127) | 128); back[4] = (unsigned char)((l & 127) | 128);
        b = 5;
    }
    if (out) {
        memcpy(out, head, (size_t)h);
        if (data) memcpy(out + h, data, (size_t)body);
        memcpy(out + h + body, back, (size_t)b);
    }
    return h + body + b;
}

static int rdb_len(uint64_t n, unsigned char *out) {
    if (n < 64) { out[0] = (unsigned char)n; return 1; }
    if (n < 16384) { out[0] = (unsigned char)(0x40 | (n >> 8)); out[1] = (unsigned char)(n & 0xFF); return 2; }
    if (n <= 0xFFFFFFFFu) {
        out[0] = 0x80;
        for (int k = 0; k < 4; k++) out[1 + k] = (unsigned char)(n >> (8 * (3 - k)));
        return 5;
    }
    out[0] = 0x81;
    for (int k = 0; k < 8; k++) out[1 + k] = (unsigned char)(n >> (8 * (7 - k)));
    return 9;
}

typedef struct {
    const unsigned char *data;
    const int32_t *off;
} Texts;

static inline const unsigned char *text_at(const Texts *t, Py_ssize_t i, Py_ssize_t *n) {
    *n = t->off[i + 1] - t->off[i];
    return t->data + t->off[i];
}

/* Does a run (rows lo..hi) hold a field twice? An open-addressing set of the row indexes. */
static int has_duplicate(const Texts *fields, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t *slots,
                         Py_ssize_t size) {
    for (Py_ssize_t k = 0; k < size; k++) slots[k] = -1;
    for (Py_ssize_t i = lo; i < hi; i++) {
        Py_ssize_t n;
        const unsigned char *s = text_at(fields, i, &n);
        uint64_t h = 1469598103934665603ULL;
        for (Py_ssize_t k = 0; k < n; k++) h = (h ^ s[k]) * 1099511628211ULL;
        Py_ssize_t at = (Py_ssize_t)(h & (uint64_t)(size - 1));
        while (slots[at] >= 0) {
            Py_ssize_t m;
            const unsigned char *t = text_at(fields, slots[at], &m);
            if (m == n && memcmp(s, t, (size_t)n) == 0) return 1;
            at = (at + 1) & (size - 1);
        }
        slots[at] = i;
    }
    return 0;
}

static PyObject *restore_payload(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer b[7];
    int version;
    memset(b, 0, sizeof(b));
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*i", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6],
                          &version))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t runs = b[0].len / 4, n = b[4].len / 4 - 1;
    const int32_t *lengths = (const int32_t *)b[0].buf;
    Texts keys = {(const unsigned char *)b[1].buf, (const int32_t *)b[2].buf};
    Texts fields = {(const unsigned char *)b[3].buf, (const int32_t *)b[4].buf};
    Texts records = {(const unsigned char *)b[5].buf, (const int32_t *)b[6].buf};
    Py_ssize_t total_rows = 0, longest = 0;
    for (Py_ssize_t r = 0; r < runs; r++) {
        if (lengths[r] <= 0) { PyErr_SetString(PyExc_ValueError, "restore_payload: empty run"); goto done; }
        total_rows += lengths[r];
        if (lengths[r] > longest) longest = lengths[r];
    }
    if (n < 0 || total_rows != n || b[6].len / 4 - 1 != n || b[2].len / 4 - 1 != runs) {
        PyErr_SetString(PyExc_ValueError, "restore_payload: runs, keys, fields and records disagree");
        goto done;
    }
    if (n && (fields.off[n] > b[3].len || records.off[n] > b[5].len || keys.off[runs] > b[1].len ||
              fields.off[0] < 0 || records.off[0] < 0 || keys.off[0] < 0)) {
        PyErr_SetString(PyExc_ValueError, "restore_payload: offsets out of range");
        goto done;
    }
    Py_ssize_t size = 16;
    while (size < 2 * longest) size <<= 1;
    /* slots: the duplicate check's set, then each run's listpack size (pass 1 -> pass 2) */
    Py_ssize_t *slots = PyMem_Malloc((size_t)(size + runs) * sizeof(Py_ssize_t));
    if (slots == NULL) { PyErr_NoMemory(); goto done; }
    Py_ssize_t *listpack_sizes = slots + size;
    /* pass 1: sizes (and duplicate fields) */
    int duplicate = 0;
    Py_ssize_t bytes = 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t row = 0;
    for (Py_ssize_t r = 0; r < runs && !duplicate; r++) {
        Py_ssize_t lo = row, hi = row + lengths[r], lp = 7, kn, m;
        if (has_duplicate(&fields, lo, hi, slots, size)) { duplicate = 1; break; }
        for (Py_ssize_t i = lo; i < hi; i++) {
            const unsigned char *s = text_at(&fields, i, &m);
            lp += lp_entry(s, m, NULL);
            s = text_at(&records, i, &m);
            lp += lp_entry(s, m, NULL);
        }
        listpack_sizes[r] = lp;
        text_at(&keys, r, &kn);
        Py_ssize_t payload = 1 + 9 + lp + 2 + 8;
        bytes += 96 + kn + payload; /* RESP framing: under 96 bytes beside key and payload */
        row = hi;
    }
    Py_END_ALLOW_THREADS
    if (duplicate) {
        PyMem_Free(slots);
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, bytes);
    if (out == NULL) { PyMem_Free(slots); goto done; }
    unsigned char *w = (unsigned char *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t row2 = 0;
    for (Py_ssize_t r = 0; r < runs; r++) {
        Py_ssize_t lo = row2, hi = row2 + lengths[r], lp = listpack_sizes[r], kn, m;
        unsigned char len_head[9];
        int lh = rdb_len((uint64_t)lp, len_head);
        Py_ssize_t payload = 1 + lh + lp + 2 + 8;
        const unsigned char *key = text_at(&keys, r, &kn);
        char num[24];
        memcpy(w, "*4\r\n$7\r\nRESTORE\r\n$", 18); w += 18;
        int d = digits(kn, num); memcpy(w, num, (size_t)d); w += d;
        memcpy(w, "\r\n", 2); w += 2;
        memcpy(w, key, (size_t)kn); w += kn;
        memcpy(w, "\r\n$1\r\n0\r\n$", 10); w += 10;
        d = digits(payload, num); memcpy(w, num, (size_t)d); w += d;
        memcpy(w, "\r\n", 2); w += 2;
        unsigned char *start = w;
        *w++ = 16; /* RDB_TYPE_HASH_LISTPACK */
        memcpy(w, len_head, (size_t)lh); w += lh;
        uint32_t total = (uint32_t)lp;
        uint16_t count = 2 * (hi - lo) < 65535 ? (uint16_t)(2 * (hi - lo)) : 65535;
        for (int k = 0; k < 4; k++) *w++ = (unsigned char)(total >> (8 * k));
        *w++ = (unsigned char)(count & 0xFF); *w++ = (unsigned char)(count >> 8);
        for (Py_ssize_t i = lo; i < hi; i++) {
            const unsigned char *s = text_at(&fields, i, &m);
            w += lp_entry(s, m, w);
            s = text_at(&records, i, &m);
            w += lp_entry(s, m, w);
        }
        *w++ = 0xFF;
        *w++ = (unsigned char)(version & 0xFF); *w++ = (unsigned char)(version >> 8);
        uint64_t crc = crc64_of(start, (size_t)(w - start));
        for (int k = 0; k < 8; k++) *w++ = (unsigned char)(crc >> (8 * k));
        memcpy(w, "\r\n", 2); w += 2;
        row2 = hi;
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(slots);
    Py_ssize_t used = (Py_ssize_t)(w - (unsigned char *)PyBytes_AS_STRING(out));
    if (_PyBytes_Resize(&out, used) < 0) goto done;
    result = out;
done:
    for (int k = 0; k < 7; k++)
        if (b[k].obj) PyBuffer_Release(&b[k]);
    return result;
}

static PyObject *crc32_texts(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data, offsets;
    if (!PyArg_ParseTuple(args, "y*y*", &data, &offsets)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t n = offsets.len / 4 - 1;
    const int32_t *off = (const int32_t *)offsets.buf;
    if (n < 0 || (n > 0 && (off[0] < 0 || off[n] > data.len))) {
        PyErr_SetString(PyExc_ValueError, "crc32_texts: offsets out of range");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, 4 * (n > 0 ? n : 0));
    if (out == NULL) goto done;
    uint32_t *crc = (uint32_t *)PyBytes_AS_STRING(out);
    const char *text = (const char *)data.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) crc[i] = crc32_of(text + off[i], off[i + 1] - off[i]);
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    return out;
}

static PyMethodDef methods[] = {
    {"key_texts", key_texts, METH_VARARGS,
     "key_texts(rows, name, int_key) -> list[str] | None"},
    {"hget_round", hget_round, METH_VARARGS,
     "hget_round(texts, slot_prefix, buckets, tags, kept) -> (keys, resp)"},
    {"present", present, METH_VARARGS,
     "present(records, base_us, positions, tombstone, oldest) -> (values, events) | None"},
    {"pack_records", pack_records, METH_VARARGS, "pack_records(n, columns) -> (offsets, data)"},
    {"crc32_texts", crc32_texts, METH_VARARGS, "crc32_texts(data, offsets) -> bytes"},
    {"restore_payload", restore_payload, METH_VARARGS,
     "restore_payload(runs, keys, key_offsets, fields, field_offsets, records, record_offsets, "
     "rdb_version) -> bytes | None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups",
    "A read's commands and its usual answer, a full sync's records, bucket hashes and RESTORE "
    "payloads in C (read.py, answer.py, packed.py, layout.py and restore.py use it when built).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    crc_init();
    crc64_init();
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    return PyModule_Create(&module);
}
