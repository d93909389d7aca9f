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

static PyMethodDef methods[] = {
    {"pattern_hash", pattern_hash, METH_O,
     "Bare 40-hex identity of an event sequence: sha1 of str(list of lists)."},
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
    if (sha1_constructor == NULL || hexdigest_name == NULL) {
        return NULL;
    }
    return PyModule_Create(&module_definition);
}
