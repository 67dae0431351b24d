/* The serialiser of render.event_body and of text lines, in C; and undecodable.decode_text.
 *
 * The same bytes as the Python code in render.py and ical.py, which stays the reference and the
 * fallback: the differential tests (tests/test_ical.py) hold both to icalendar byte for byte.
 * Every rule here mirrors a line of ical.py:
 *   - TEXT escaping as icalendar does it: "\N" -> line break first, then \ ; , and line breaks;
 *   - RFC 6868 parameter escaping, quoting on , ; : U+2019 or (for CN) a space or ';
 *   - folding into chunks of at most 74 octets, never inside a UTF-8 sequence, never right after
 *     a \ or ^ (one octet back);
 *   - UTC date-times and dates with fixed-width fields.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <string.h>

#define CHUNK 74

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} Buf;

static int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *data = PyMem_Realloc(b->data, (size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const char *s, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

#define PUT_LIT(b, s) buf_put((b), (s), (Py_ssize_t)(sizeof(s) - 1))

static void buf_free(Buf *b) {
    PyMem_Free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* The UTF-8 of a str: borrowed from the object when it is ASCII, else a new bytes in *owner. */
static const char *utf8_of(PyObject *text, Py_ssize_t *size, PyObject **owner) {
    *owner = NULL;
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "expected str, got %.80s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    if (PyUnicode_IS_ASCII(text)) {
        *size = PyUnicode_GET_LENGTH(text);
        return (const char *)PyUnicode_DATA(text);
    }
    *owner = PyUnicode_AsUTF8String(text);
    if (*owner == NULL) return NULL;
    *size = PyBytes_GET_SIZE(*owner);
    return PyBytes_AS_STRING(*owner);
}

/* Append a TEXT value, escaped as ical.escape_text does (see the comment there). */
static int put_escaped(Buf *b, const char *s, Py_ssize_t n) {
    if (buf_reserve(b, 2 * n) < 0) return -1;  /* an escape at most doubles an octet */
    char *out = b->data + b->len;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        switch (c) {
        case '\\':
            *out++ = '\\';
            if (i + 1 < n && s[i + 1] == 'N') {  /* "\N" is a line break to icalendar */
                *out++ = 'n';
                i++;
            } else {
                *out++ = '\\';
            }
            break;
        case ';':
        case ',':
            *out++ = '\\';
            *out++ = c;
            break;
        case '\r':
            /* CR LF is one break, and so is CR followed by a "\N" that became LF */
            if (i + 1 < n && s[i + 1] == '\n') {
                i++;
            } else if (i + 2 < n && s[i + 1] == '\\' && s[i + 2] == 'N') {
                i += 2;
            }
            *out++ = '\\';
            *out++ = 'n';
            break;
        case '\n':
            *out++ = '\\';
            *out++ = 'n';
            break;
        default:
            *out++ = c;
        }
    }
    b->len = out - b->data;
    return 0;
}

/* Append the content line in line[0:n], folded, and CRLF. */
static int put_folded(Buf *b, const char *line, Py_ssize_t n) {
    Py_ssize_t pos = 0;
    while (n - pos > CHUNK) {
        Py_ssize_t end = pos + CHUNK;
        while (((unsigned char)line[end] & 0xC0) == 0x80) end--;
        if (line[end - 1] == '\\' || line[end - 1] == '^') end--;
        if (buf_put(b, line + pos, end - pos) < 0 || PUT_LIT(b, "\r\n ") < 0) return -1;
        pos = end;
    }
    if (buf_put(b, line + pos, n - pos) < 0) return -1;
    return PUT_LIT(b, "\r\n");
}

/* Append "prefix" + escaped value as one folded line; scratch holds the unfolded line. */
static int put_text_prop(Buf *b, Buf *scratch, const char *prefix, PyObject *value) {
    Py_ssize_t size;
    PyObject *owner;
    const char *s = utf8_of(value, &size, &owner);
    if (s == NULL) return -1;
    scratch->len = 0;
    int rc = buf_put(scratch, prefix, (Py_ssize_t)strlen(prefix));
    if (rc == 0) rc = put_escaped(scratch, s, size);
    Py_XDECREF(owner);
    if (rc < 0) return -1;
    return put_folded(b, scratch->data, scratch->len);
}

/* Append "NAME;CN=...:mailto:address" of a Person (name, email), folded. */
static int put_address(Buf *b, Buf *scratch, const char *name, PyObject *person) {
    if (!PyTuple_Check(person) || PyTuple_GET_SIZE(person) != 2) {
        PyErr_SetString(PyExc_TypeError, "a person is a (name, email) tuple");
        return -1;
    }
    PyObject *cn = PyTuple_GET_ITEM(person, 0);
    PyObject *email = PyTuple_GET_ITEM(person, 1);
    PyObject *email_text = PyUnicode_CheckExact(email) ? Py_NewRef(email) : PyObject_Str(email);
    if (email_text == NULL) return -1;
    PyObject *shown = cn;  /* person.name or str(person.email) */
    int empty = PyUnicode_Check(cn) ? PyUnicode_GET_LENGTH(cn) == 0 : PyObject_Not(cn);
    if (empty < 0) goto fail_email;
    if (empty) shown = email_text;
    Py_ssize_t size, esize;
    PyObject *owner, *eowner;
    const char *s = utf8_of(shown, &size, &owner);
    if (s == NULL) goto fail_email;
    const char *e = utf8_of(email_text, &esize, &eowner);
    if (e == NULL) {
        Py_XDECREF(owner);
        goto fail_email;
    }
    int quote = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        char c = s[i];
        if (c == ' ' || c == '\'' || c == ',' || c == ';' || c == ':') quote = 1;
        /* U+2019 RIGHT SINGLE QUOTATION MARK */
        if ((unsigned char)c == 0xE2 && i + 2 < size && (unsigned char)s[i + 1] == 0x80
            && (unsigned char)s[i + 2] == 0x99)
            quote = 1;
    }
    int rc = 0;
    scratch->len = 0;
    rc |= buf_put(scratch, name, (Py_ssize_t)strlen(name));
    rc |= PUT_LIT(scratch, ";CN=");
    if (quote) rc |= PUT_LIT(scratch, "\"");
    for (Py_ssize_t i = 0; i < size && rc == 0; i++) {
        char c = s[i];
        if (c == '^') {
            rc |= PUT_LIT(scratch, "^^");
        } else if (c == '\r') {
            if (i + 1 < size && s[i + 1] == '\n') i++;
            rc |= PUT_LIT(scratch, "^n");
        } else if (c == '\n') {
            rc |= PUT_LIT(scratch, "^n");
        } else if (c == '"') {
            rc |= PUT_LIT(scratch, "^'");
        } else {
            rc |= buf_put(scratch, &c, 1);
        }
    }
    if (quote) rc |= PUT_LIT(scratch, "\"");
    rc |= PUT_LIT(scratch, ":mailto:");
    rc |= buf_put(scratch, e, esize);
    Py_XDECREF(owner);
    Py_XDECREF(eowner);
    Py_DECREF(email_text);
    if (rc) return -1;
    return put_folded(b, scratch->data, scratch->len);
fail_email:
    Py_DECREF(email_text);
    return -1;
}

static char *put_digits(char *out, int value, int width) {
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
    return out + width;
}

/* Append "NAME:YYYYMMDDTHHMMSSZ" or "NAME;VALUE=DATE:YYYYMMDD", and CRLF. */
static int put_dt_line(Buf *b, const char *name, PyObject *value) {
    Py_ssize_t name_len = (Py_ssize_t)strlen(name);
    if (buf_reserve(b, name_len + 32) < 0) return -1;
    char *out = b->data + b->len;
    memcpy(out, name, (size_t)name_len);
    out += name_len;
    if (PyDateTime_Check(value)) {
        *out++ = ':';
        out = put_digits(out, PyDateTime_GET_YEAR(value), 4);
        out = put_digits(out, PyDateTime_GET_MONTH(value), 2);
        out = put_digits(out, PyDateTime_GET_DAY(value), 2);
        *out++ = 'T';
        out = put_digits(out, PyDateTime_DATE_GET_HOUR(value), 2);
        out = put_digits(out, PyDateTime_DATE_GET_MINUTE(value), 2);
        out = put_digits(out, PyDateTime_DATE_GET_SECOND(value), 2);
        *out++ = 'Z';
    } else if (PyDate_Check(value)) {
        memcpy(out, ";VALUE=DATE:", 12);
        out += 12;
        out = put_digits(out, PyDateTime_GET_YEAR(value), 4);
        out = put_digits(out, PyDateTime_GET_MONTH(value), 2);
        out = put_digits(out, PyDateTime_GET_DAY(value), 2);
    } else {
        PyErr_Format(PyExc_TypeError, "%s: expected a date or datetime", name);
        return -1;
    }
    *out++ = '\r';
    *out++ = '\n';
    b->len = out - b->data;
    return 0;
}

/* Append "NAME:" + str(value) and CRLF (numbers). */
static int put_number(Buf *b, const char *name, PyObject *value) {
    if (PyLong_CheckExact(value)) {
        int overflow;
        long number = PyLong_AsLongAndOverflow(value, &overflow);
        if (!overflow && !(number == -1 && PyErr_Occurred())) {
            char text[32];
            int n = snprintf(text, sizeof text, "%s%ld\r\n", name, number);
            return buf_put(b, text, n);
        }
        PyErr_Clear();
    }
    PyObject *text = PyObject_Str(value);
    if (text == NULL) return -1;
    Py_ssize_t size;
    PyObject *owner;
    const char *s = utf8_of(text, &size, &owner);
    int rc = -1;
    if (s != NULL) {
        rc = buf_put(b, name, (Py_ssize_t)strlen(name));
        if (rc == 0) rc = buf_put(b, s, size);
        if (rc == 0) rc = PUT_LIT(b, "\r\n");
    }
    Py_XDECREF(owner);
    Py_DECREF(text);
    return rc;
}

static PyObject *s_start, *s_end, *s_stamp, *s_sequence, *s_attendees, *s_category,
    *s_description, *s_location, *s_organizer, *s_priority, *s_transparent, *s_url;

/* Body fields of an EventContent, as new references (NULL and an exception when one is missing). */
typedef struct {
    PyObject *start, *end, *stamp, *sequence, *attendees, *category, *description, *location,
        *organizer, *priority, *transparent, *url;
} Fields;

static void fields_clear(Fields *f) {
    PyObject **all = (PyObject **)f;
    for (size_t i = 0; i < sizeof(Fields) / sizeof(PyObject *); i++) Py_CLEAR(all[i]);
}

static int fields_read(PyObject *content, Fields *f) {
    memset(f, 0, sizeof *f);
    PyObject *names[] = {s_start, s_end, s_stamp, s_sequence, s_attendees, s_category,
                         s_description, s_location, s_organizer, s_priority, s_transparent,
                         s_url};
    PyObject **all = (PyObject **)f;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        all[i] = PyObject_GetAttr(content, names[i]);
        if (all[i] == NULL) {
            fields_clear(f);
            return -1;
        }
    }
    return 0;
}

static PyObject *event_body(PyObject *module, PyObject *content) {
    Fields f;
    if (fields_read(content, &f) < 0) return NULL;
    Buf dates = {0}, rest = {0}, scratch = {0};
    PyObject *result = NULL;
    if (buf_reserve(&dates, 128) < 0 || buf_reserve(&rest, 2048) < 0 || buf_reserve(&scratch, 1024) < 0)
        goto done;
    if (put_dt_line(&dates, "DTSTART", f.start) < 0 || put_dt_line(&dates, "DTEND", f.end) < 0
        || put_dt_line(&dates, "DTSTAMP", f.stamp) < 0)
        goto done;
    if (put_number(&rest, "SEQUENCE:", f.sequence) < 0) goto done;
    PyObject *attendees = PySequence_Fast(f.attendees, "attendees must be a sequence");
    if (attendees == NULL) goto done;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(attendees); i++) {
        if (put_address(&rest, &scratch, "ATTENDEE", PySequence_Fast_GET_ITEM(attendees, i)) < 0) {
            Py_DECREF(attendees);
            goto done;
        }
    }
    Py_DECREF(attendees);
    if (put_text_prop(&rest, &scratch, "CATEGORIES:", f.category) < 0) goto done;
    if (f.description != Py_None
        && put_text_prop(&rest, &scratch, "DESCRIPTION:", f.description) < 0)
        goto done;
    /* LAST-MODIFIED is the stamp, as a date-time */
    if (put_dt_line(&rest, "LAST-MODIFIED", f.stamp) < 0) goto done;
    if (f.location != Py_None && put_text_prop(&rest, &scratch, "LOCATION:", f.location) < 0)
        goto done;
    if (f.organizer != Py_None && put_address(&rest, &scratch, "ORGANIZER", f.organizer) < 0)
        goto done;
    if (f.priority != Py_None && put_number(&rest, "PRIORITY:", f.priority) < 0) goto done;
    int transparent = PyObject_IsTrue(f.transparent);
    if (transparent < 0) goto done;
    if ((transparent ? PUT_LIT(&rest, "TRANSP:TRANSPARENT\r\n") : PUT_LIT(&rest, "TRANSP:OPAQUE\r\n"))
        < 0)
        goto done;
    if (f.url != Py_None) {
        Py_ssize_t size;
        PyObject *owner;
        const char *s = utf8_of(f.url, &size, &owner);
        if (s == NULL) goto done;
        scratch.len = 0;
        int rc = PUT_LIT(&scratch, "URL:");
        if (rc == 0) rc = buf_put(&scratch, s, size);
        Py_XDECREF(owner);
        if (rc < 0 || put_folded(&rest, scratch.data, scratch.len) < 0) goto done;
    }
    result = Py_BuildValue("(y#y#)", dates.data ? dates.data : "", dates.len,
                           rest.data ? rest.data : "", rest.len);
done:
    fields_clear(&f);
    buf_free(&dates);
    buf_free(&rest);
    buf_free(&scratch);
    return result;
}

static PyObject *text_line(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "text_line(prefix, value)");
        return NULL;
    }
    Py_ssize_t psize;
    PyObject *powner;
    const char *prefix = utf8_of(args[0], &psize, &powner);
    if (prefix == NULL) return NULL;
    Buf out = {0}, scratch = {0};
    PyObject *result = NULL;
    Py_ssize_t size;
    PyObject *owner;
    const char *s = utf8_of(args[1], &size, &owner);
    if (s != NULL) {
        int rc = buf_put(&scratch, prefix, psize);
        if (rc == 0) rc = put_escaped(&scratch, s, size);
        if (rc == 0) rc = put_folded(&out, scratch.data, scratch.len);
        if (rc == 0) result = PyBytes_FromStringAndSize(out.data, out.len);
        Py_XDECREF(owner);
    }
    Py_XDECREF(powner);
    buf_free(&out);
    buf_free(&scratch);
    return result;
}

/* Values decode_text read with bytes replaced: undecodable.replacements() adds them up. */
static Py_ssize_t replaced = 0;

/* sqlite3's text_factory (undecodable.py): UTF-8, with bytes that are not valid UTF-8 read as
 * U+FFFD, and counted. One positional argument, so the call costs little per value, where
 * functools.partial(str, encoding=..., errors=...) adds about 300 ns. */
static PyObject *decode_text(PyObject *self, PyObject *data) {
    char *s;
    Py_ssize_t size;
    if (PyBytes_AsStringAndSize(data, &s, &size) < 0) return NULL;
    PyObject *text = PyUnicode_DecodeUTF8(s, size, NULL);
    if (text == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        replaced++;
        text = PyUnicode_DecodeUTF8(s, size, "replace");
    }
    return text;
}

static PyObject *replacements(PyObject *self, PyObject *unused) {
    return PyLong_FromSsize_t(replaced);
}

static PyMethodDef methods[] = {
    {"event_body", (PyCFunction)event_body, METH_O,
     "event_body(content) -> (dates, rest): render.event_body in C."},
    {"text_line", (PyCFunction)(void (*)(void))text_line, METH_FASTCALL,
     "text_line(prefix, value) -> bytes: a TEXT property line, escaped, folded, with CRLF."},
    {"decode_text", (PyCFunction)decode_text, METH_O,
     "decode_text(data) -> str: UTF-8 bytes as text, bad bytes as U+FFFD (counted)."},
    {"replacements", (PyCFunction)replacements, METH_NOARGS,
     "replacements() -> int: how many values decode_text read with bytes replaced."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "feedgen._speedups", "The serialiser's hot path in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
#define INTERN(var, text) \
    if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL;
    INTERN(s_start, "start");
    INTERN(s_end, "end");
    INTERN(s_stamp, "stamp");
    INTERN(s_sequence, "sequence");
    INTERN(s_attendees, "attendees");
    INTERN(s_category, "category");
    INTERN(s_description, "description");
    INTERN(s_location, "location");
    INTERN(s_organizer, "organizer");
    INTERN(s_priority, "priority");
    INTERN(s_transparent, "transparent");
    INTERN(s_url, "url");
#undef INTERN
    return PyModule_Create(&module_def);
}
