/* Compiled pattern identity (semantics §1.6): sha1 of str([list(event) for event in events]).
 *
 * The text is built exactly as Python renders a list of lists of strings: "[", events joined
 * by ", ", each "[" + reprs joined by ", " + "]", "]". A string made only of printable ASCII
 * without a quote or backslash is its own repr between single quotes; any other element is
 * rendered by PyObject_Repr itself, so every input hashes as kato.core.hashing's pure path
 * does. The digest is hashlib.sha1's (called through the C API), so the two paths share one
 * SHA-1 implementation as well. Rendering in C is what saves the time: the pure path builds a
 * list per event and a repr object per symbol before joining them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Starts on the caller's stack; a text longer than that moves to the heap. */
typedef struct {
    char *data;
    Py_ssize_t length;
    Py_ssize_t capacity;
    int on_heap;
} Buffer;

static PyObject *sha1_constructor; /* hashlib.sha1 */
static PyObject *hexdigest_name;   /* "hexdigest" */

static int buffer_reserve(Buffer *buffer, Py_ssize_t more) {
    if (buffer->length + more <= buffer->capacity) {
        return 0;
    }
    Py_ssize_t capacity = buffer->capacity ? buffer->capacity : 256;
    while (capacity < buffer->length + more) {
        capacity *= 2;
    }
    char *grown = buffer->on_heap ? PyMem_Realloc(buffer->data, (size_t)capacity)
                                  : PyMem_Malloc((size_t)capacity);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (!buffer->on_heap) {
        memcpy(grown, buffer->data, (size_t)buffer->length);
        buffer->on_heap = 1;
    }
    buffer->data = grown;
    buffer->capacity = capacity;
    return 0;
}

static int buffer_append(Buffer *buffer, const char *text, Py_ssize_t length) {
    if (buffer_reserve(buffer, length) < 0) {
        return -1;
    }
    memcpy(buffer->data + buffer->length, text, (size_t)length);
    buffer->length += length;
    return 0;
}

/* Whether repr(symbol) is symbol between single quotes. */
static int plain_ascii(PyObject *symbol) {
    if (!PyUnicode_Check(symbol) || !PyUnicode_IS_ASCII(symbol)) {
        return 0;
    }
    const Py_UCS1 *characters = PyUnicode_1BYTE_DATA(symbol);
    Py_ssize_t length = PyUnicode_GET_LENGTH(symbol);
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS1 c = characters[i];
        if (c < 0x20 || c > 0x7e || c == '\'' || c == '\\') {
            return 0;
        }
    }
    return 1;
}

static int append_repr(Buffer *buffer, PyObject *symbol) {
    if (plain_ascii(symbol)) {
        Py_ssize_t length = PyUnicode_GET_LENGTH(symbol);
        if (buffer_reserve(buffer, length + 2) < 0) {
            return -1;
        }
        buffer->data[buffer->length++] = '\'';
        memcpy(buffer->data + buffer->length, PyUnicode_1BYTE_DATA(symbol), (size_t)length);
        buffer->length += length;
        buffer->data[buffer->length++] = '\'';
        return 0;
    }
    PyObject *repr = PyObject_Repr(symbol);
    if (repr == NULL) {
        return -1;
    }
    Py_ssize_t length;
    const char *text = PyUnicode_AsUTF8AndSize(repr, &length);
    int status = text == NULL ? -1 : buffer_append(buffer, text, length);
    Py_DECREF(repr);
    return status;
}

/* The rendering of str([list(event) for event in events]) into buffer. */
static int render(Buffer *buffer, PyObject *events) {
    PyObject *outer = PySequence_Fast(events, "events must be a sequence of events");
    if (outer == NULL) {
        return -1;
    }
    int status = buffer_append(buffer, "[", 1);
    Py_ssize_t count = PySequence_Fast_GET_SIZE(outer);
    for (Py_ssize_t i = 0; i < count && status == 0; i++) {
        if (i > 0) {
            status = buffer_append(buffer, ", ", 2);
        }
        PyObject *event = PySequence_Fast(PySequence_Fast_GET_ITEM(outer, i),
                                          "each event must be a sequence of symbols");
        if (event == NULL) {
            status = -1;
            break;
        }
        status = status == 0 ? buffer_append(buffer, "[", 1) : status;
        Py_ssize_t symbols = PySequence_Fast_GET_SIZE(event);
        for (Py_ssize_t j = 0; j < symbols && status == 0; j++) {
            if (j > 0) {
                status = buffer_append(buffer, ", ", 2);
            }
            if (status == 0) {
                status = append_repr(buffer, PySequence_Fast_GET_ITEM(event, j));
            }
        }
        status = status == 0 ? buffer_append(buffer, "]", 1) : status;
        Py_DECREF(event);
    }
    status = status == 0 ? buffer_append(buffer, "]", 1) : status;
    Py_DECREF(outer);
    return status;
}

static PyObject *pattern_hash(PyObject *module, PyObject *events) {
    (void)module;
    char stack[512];
    Buffer buffer = {stack, 0, sizeof(stack), 0};
    PyObject *result = NULL;
    if (render(&buffer, events) == 0) {
        PyObject *bytes = PyBytes_FromStringAndSize(buffer.data, buffer.length);
        PyObject *digest = bytes == NULL ? NULL : PyObject_CallOneArg(sha1_constructor, bytes);
        Py_XDECREF(bytes);
        if (digest != NULL) {
            result = PyObject_CallMethodNoArgs(digest, hexdigest_name);
            Py_DECREF(digest);
        }
    }
    if (buffer.on_heap) {
        PyMem_Free(buffer.data);
    }
    return result;
}

static PyObject *strings_name; /* "strings" */
static PyObject *vectors_name; /* "vectors" */

/* Events of at most this many symbols are sorted in place of list.sort (below). */
#define SMALL_EVENT 8

/* tuple(sorted(strings)) of a tuple of at most SMALL_EVENT exact str, by insertion sort (stable,
 * as list.sort; PyUnicode_Compare orders by code point, as str's "<"): the strings tuple itself
 * when already in order. Building a list, sorting and copying it back to a tuple was most of
 * the batch learn path's per-event cost. NULL without an error for any other input. */
static PyObject *small_sorted_event(PyObject *strings) {
    if (!PyTuple_CheckExact(strings) || PyTuple_GET_SIZE(strings) > SMALL_EVENT) {
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(strings);
    PyObject *sorted[SMALL_EVENT];
    int moved = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *symbol = PyTuple_GET_ITEM(strings, i);
        if (!PyUnicode_CheckExact(symbol)) {
            return NULL;
        }
        Py_ssize_t j = i;
        for (; j > 0 && PyUnicode_Compare(symbol, sorted[j - 1]) < 0; j--) {
            sorted[j] = sorted[j - 1];
            moved = 1;
        }
        sorted[j] = symbol;
    }
    if (!moved) {
        Py_INCREF(strings);
        return strings;
    }
    PyObject *event = PyTuple_New(count);
    for (Py_ssize_t i = 0; event != NULL && i < count; i++) {
        Py_INCREF(sorted[i]);
        PyTuple_SET_ITEM(event, i, sorted[i]);
    }
    return event;
}

/* The event of one observation's strings: the tuple itself unsorted (or already in order),
 * else tuple(sorted(strings)). */
static PyObject *string_event(PyObject *strings, int sort) {
    if (!sort) {
        Py_INCREF(strings);
        return strings;
    }
    PyObject *event = small_sorted_event(strings);
    if (event != NULL || PyErr_Occurred()) {
        return event;
    }
    PyObject *list = PySequence_List(strings);
    if (list == NULL) {
        return NULL;
    }
    event = PyList_Sort(list) < 0 ? NULL : PyList_AsTuple(list);
    Py_DECREF(list);
    return event;
}

/* (events shrunk to their first kept items, pattern hash of them); steals events. */
static PyObject *with_name(PyObject *module, PyObject *events, Py_ssize_t kept) {
    if (_PyTuple_Resize(&events, kept) < 0) {
        return NULL;
    }
    PyObject *name = pattern_hash(module, events);
    PyObject *result = name == NULL ? NULL : PyTuple_Pack(2, events, name);
    Py_XDECREF(name);
    Py_DECREF(events);
    return result;
}

/* hashing.pure_string_events: (events, pattern hash) of observations without vectors. */
static PyObject *string_events(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "string_events(observations, sort)");
        return NULL;
    }
    int sort = PyObject_IsTrue(args[1]);
    PyObject *observations = sort < 0 ? NULL : PySequence_Fast(args[0], "observations");
    if (observations == NULL) {
        return NULL;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(observations);
    PyObject *events = PyTuple_New(count); /* shrunk to the non-empty events at the end */
    Py_ssize_t kept = 0;
    int failed = events == NULL, vectors_seen = 0;
    for (Py_ssize_t i = 0; i < count && !failed && !vectors_seen; i++) {
        PyObject *observation = PySequence_Fast_GET_ITEM(observations, i);
        PyObject *vectors = PyObject_GetAttr(observation, vectors_name);
        int truth = vectors == NULL ? -1 : PyObject_IsTrue(vectors);
        Py_XDECREF(vectors);
        if (truth != 0) {
            failed = truth < 0;
            vectors_seen = truth > 0;
            break;
        }
        PyObject *strings = PyObject_GetAttr(observation, strings_name);
        truth = strings == NULL ? -1 : PyObject_IsTrue(strings);
        PyObject *event = truth > 0 ? string_event(strings, sort) : NULL;
        Py_XDECREF(strings);
        if (truth < 0 || (truth > 0 && event == NULL)) {
            failed = 1;
        } else if (event != NULL) {
            PyTuple_SET_ITEM(events, kept++, event);
        }
    }
    Py_DECREF(observations);
    if (failed || vectors_seen) {
        Py_XDECREF(events);
        if (failed) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    return with_name(module, events, kept);
}

/* Appends symbol as a JSON string the way json.dumps(..., ensure_ascii=False) writes an ASCII
 * one: quote, backslash, \b \f \n \r \t as two-character escapes, other control characters as
 * \u00xx (lower-case hex), everything else (DEL included) as itself. */
static int append_json_ascii(Buffer *buffer, PyObject *symbol) {
    static const char hex[] = "0123456789abcdef";
    const Py_UCS1 *characters = PyUnicode_1BYTE_DATA(symbol);
    Py_ssize_t length = PyUnicode_GET_LENGTH(symbol);
    if (buffer_reserve(buffer, 6 * length + 2) < 0) { /* the longest escape is 6 bytes */
        return -1;
    }
    char *out = buffer->data + buffer->length;
    *out++ = '"';
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS1 c = characters[i];
        const char *escape = NULL;
        switch (c) {
            case '"': escape = "\\\""; break;
            case '\\': escape = "\\\\"; break;
            case '\b': escape = "\\b"; break;
            case '\f': escape = "\\f"; break;
            case '\n': escape = "\\n"; break;
            case '\r': escape = "\\r"; break;
            case '\t': escape = "\\t"; break;
            default: break;
        }
        if (escape != NULL) {
            *out++ = escape[0];
            *out++ = escape[1];
        } else if (c < 0x20) {
            memcpy(out, "\\u00", 4);
            out[4] = hex[c >> 4];
            out[5] = hex[c & 0xf];
            out += 6;
        } else {
            *out++ = (char)c;
        }
    }
    *out++ = '"';
    buffer->length = out - buffer->data;
    return 0;
}

/* events_text.pure_events_json for events whose symbols are all exact ASCII str: the compact
 * JSON text [["a","b"],["c"]]; None for any other symbol (the pure encoder writes those). */
static PyObject *ascii_events_json(PyObject *module, PyObject *events) {
    (void)module;
    PyObject *outer = PySequence_Fast(events, "events must be a sequence of events");
    if (outer == NULL) {
        return NULL;
    }
    char stack[512];
    Buffer buffer = {stack, 0, sizeof(stack), 0};
    int status = buffer_append(&buffer, "[", 1), other = 0;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(outer);
    for (Py_ssize_t i = 0; i < count && status == 0 && !other; i++) {
        PyObject *event = PySequence_Fast(PySequence_Fast_GET_ITEM(outer, i),
                                          "each event must be a sequence of symbols");
        if (event == NULL) {
            status = -1;
            break;
        }
        status = buffer_append(&buffer, i > 0 ? ",[" : "[", i > 0 ? 2 : 1);
        Py_ssize_t symbols = PySequence_Fast_GET_SIZE(event);
        for (Py_ssize_t j = 0; j < symbols && status == 0 && !other; j++) {
            PyObject *symbol = PySequence_Fast_GET_ITEM(event, j);
            other = !PyUnicode_CheckExact(symbol) || !PyUnicode_IS_ASCII(symbol);
            if (!other) {
                status = j > 0 ? buffer_append(&buffer, ",", 1) : 0;
                status = status == 0 ? append_json_ascii(&buffer, symbol) : status;
            }
        }
        status = status == 0 ? buffer_append(&buffer, "]", 1) : status;
        Py_DECREF(event);
    }
    status = status == 0 ? buffer_append(&buffer, "]", 1) : status;
    Py_DECREF(outer);
    PyObject *result = NULL;
    if (status == 0 && other) {
        result = Py_NewRef(Py_None);
    } else if (status == 0) {
        result = PyUnicode_FromStringAndSize(buffer.data, buffer.length); /* ASCII: valid UTF-8 */
    }
    if (buffer.on_heap) {
        PyMem_Free(buffer.data);
    }
    return result;
}

/* hashing.pure_list_events: (events, pattern hash) of events given as lists of strings (a
 * checked sequence file's items): each non-empty list as a tuple, sorted when sort. The same
 * result as string_events of observations built from those lists, without building them. */
static PyObject *list_events(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "list_events(events, sort)");
        return NULL;
    }
    int sort = PyObject_IsTrue(args[1]);
    PyObject *lists = sort < 0 ? NULL : PySequence_Fast(args[0], "events");
    if (lists == NULL) {
        return NULL;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(lists);
    PyObject *events = PyTuple_New(count); /* shrunk to the non-empty events at the end */
    Py_ssize_t kept = 0;
    int failed = events == NULL;
    for (Py_ssize_t i = 0; i < count && !failed; i++) {
        PyObject *strings = PySequence_Tuple(PySequence_Fast_GET_ITEM(lists, i));
        if (strings == NULL) {
            failed = 1;
        } else if (PyTuple_GET_SIZE(strings) > 0) {
            PyObject *event = string_event(strings, sort);
            failed = event == NULL;
            if (!failed) {
                PyTuple_SET_ITEM(events, kept++, event);
            }
        }
        Py_XDECREF(strings);
    }
    Py_DECREF(lists);
    if (failed) {
        Py_XDECREF(events);
        return NULL;
    }
    return with_name(module, events, kept);
}

/* Whether events is a non-empty exact list of non-empty exact lists of exact str, each of
 * 1 to max_length code points: the import line's shape (hashing.pure_checked_events). */
static int import_shape(PyObject *events, Py_ssize_t max_length) {
    if (!PyList_CheckExact(events) || PyList_GET_SIZE(events) == 0) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(events); i++) {
        PyObject *event = PyList_GET_ITEM(events, i);
        if (!PyList_CheckExact(event) || PyList_GET_SIZE(event) == 0) {
            return 0;
        }
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(event); j++) {
            PyObject *symbol = PyList_GET_ITEM(event, j);
            if (!PyUnicode_CheckExact(symbol)) {
                return 0;
            }
            Py_ssize_t length = PyUnicode_GET_LENGTH(symbol);
            if (length == 0 || length > max_length) {
                return 0;
            }
        }
    }
    return 1;
}

/* hashing.pure_is_string_events: whether value is an exact list of exact lists of exact str
 * (a sequence file's events as JSON decodes them; any lengths). */
static PyObject *is_string_events(PyObject *module, PyObject *value) {
    (void)module;
    if (!PyList_CheckExact(value)) {
        Py_RETURN_FALSE;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++) {
        PyObject *event = PyList_GET_ITEM(value, i);
        if (!PyList_CheckExact(event)) {
            Py_RETURN_FALSE;
        }
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(event); j++) {
            if (!PyUnicode_CheckExact(PyList_GET_ITEM(event, j))) {
                Py_RETURN_FALSE;
            }
        }
    }
    Py_RETURN_TRUE;
}

/* hashing.pure_checked_events: (events as tuples, pattern hash) of an import line's events,
 * or None unless they have the import shape. One call in place of a dozen C loops driven
 * from Python and a second walk to hash: this runs for every pattern of an import. */
static PyObject *checked_events(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "checked_events(events, max_symbol_length)");
        return NULL;
    }
    Py_ssize_t max_length = PyNumber_AsSsize_t(args[1], NULL); /* a bigger int clamps */
    if (max_length == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (!import_shape(args[0], max_length)) {
        Py_RETURN_NONE;
    }
    Py_ssize_t count = PyList_GET_SIZE(args[0]);
    PyObject *events = PyTuple_New(count);
    for (Py_ssize_t i = 0; events != NULL && i < count; i++) {
        PyObject *event = PyList_AsTuple(PyList_GET_ITEM(args[0], i));
        if (event == NULL) {
            Py_CLEAR(events);
        } else {
            PyTuple_SET_ITEM(events, i, event);
        }
    }
    PyObject *name = events == NULL ? NULL : pattern_hash(module, events);
    PyObject *result = name == NULL ? NULL : PyTuple_Pack(2, events, name);
    Py_XDECREF(name);
    Py_XDECREF(events);
    return result;
}

static PyMethodDef methods[] = {
    {"pattern_hash", pattern_hash, METH_O,
     "Bare 40-hex identity of an event sequence: sha1 of str(list of lists)."},
    {"string_events", (PyCFunction)(void (*)(void))string_events, METH_FASTCALL,
     "(events, pattern hash) of observations without vectors; None if one has vectors."},
    {"ascii_events_json", ascii_events_json, METH_O,
     "Compact JSON text of events of ASCII strings; None if a symbol is anything else."},
    {"list_events", (PyCFunction)(void (*)(void))list_events, METH_FASTCALL,
     "(events, pattern hash) of events given as lists of strings."},
    {"is_string_events", is_string_events, METH_O,
     "Whether a value is an exact list of exact lists of exact str."},
    {"checked_events", (PyCFunction)(void (*)(void))checked_events, METH_FASTCALL,
     "(events as tuples, pattern hash) of an import line's events; None unless well-formed."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_hashcore", "Compiled pattern identity (see kato.core.hashing).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hashcore(void) {
    PyObject *hashlib = PyImport_ImportModule("hashlib");
    if (hashlib == NULL) {
        return NULL;
    }
    sha1_constructor = PyObject_GetAttrString(hashlib, "sha1");
    Py_DECREF(hashlib);
    hexdigest_name = PyUnicode_InternFromString("hexdigest");
    strings_name = PyUnicode_InternFromString("strings");
    vectors_name = PyUnicode_InternFromString("vectors");
    if (sha1_constructor == NULL || hexdigest_name == NULL || strings_name == NULL ||
        vectors_name == NULL) {
        return NULL;
    }
    return PyModule_Create(&module_definition);
}
