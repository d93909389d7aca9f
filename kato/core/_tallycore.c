/* Compiled symbol tally of a batch of learns: kato.core.tally.pure_tally, same results.
 *
 * Each distinct symbol gets a small id on first sight (one dict lookup per occurrence);
 * counts, the last sequence holding it and the touch log are C arrays indexed by id. The
 * three result dicts are built once at the end, in the orders pure_tally defines: ids are
 * first-occurrence order; the last-touch order comes from walking the touch log backwards.
 * The pure loop spends its time in per-occurrence dict updates and integer objects.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    Py_ssize_t *data;
    Py_ssize_t length;
    Py_ssize_t capacity;
} Array;

static int array_push(Array *array, Py_ssize_t value) {
    if (array->length == array->capacity) {
        Py_ssize_t capacity = array->capacity ? array->capacity * 2 : 1024;
        Py_ssize_t *grown = PyMem_Realloc(array->data, (size_t)capacity * sizeof(Py_ssize_t));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        array->data = grown;
        array->capacity = capacity;
    }
    array->data[array->length++] = value;
    return 0;
}

typedef struct {
    PyObject *ids;     /* symbol -> id */
    PyObject *symbols; /* id -> symbol */
    Array frequency;   /* id -> occurrences */
    Array members;     /* id -> sequences holding it */
    Array last;        /* id -> index of the last sequence holding it */
    Array touches;     /* ids, one per first occurrence of a symbol in a sequence */
} State;

/* Count one occurrence of symbol in sequence number index. */
static int count(State *state, PyObject *symbol, Py_ssize_t index) {
    PyObject *found = PyDict_GetItemWithError(state->ids, symbol);
    Py_ssize_t id;
    if (found != NULL) {
        id = PyLong_AsSsize_t(found);
        state->frequency.data[id] += 1;
        if (state->last.data[id] == index) {
            return 0;
        }
        state->members.data[id] += 1;
        state->last.data[id] = index;
    } else {
        if (PyErr_Occurred()) {
            return -1;
        }
        id = PyList_GET_SIZE(state->symbols);
        PyObject *number = PyLong_FromSsize_t(id);
        int status = number == NULL ? -1 : PyDict_SetItem(state->ids, symbol, number);
        Py_XDECREF(number);
        if (status < 0 || PyList_Append(state->symbols, symbol) < 0 ||
            array_push(&state->frequency, 1) < 0 || array_push(&state->members, 1) < 0 ||
            array_push(&state->last, index) < 0) {
            return -1;
        }
    }
    return array_push(&state->touches, id);
}

static int count_sequence(State *state, PyObject *events, Py_ssize_t index) {
    PyObject *outer = PySequence_Fast(events, "each item must be a sequence of events");
    if (outer == NULL) {
        return -1;
    }
    int status = 0;
    Py_ssize_t count_events = PySequence_Fast_GET_SIZE(outer);
    for (Py_ssize_t i = 0; i < count_events && status == 0; i++) {
        PyObject *event = PySequence_Fast(PySequence_Fast_GET_ITEM(outer, i),
                                          "each event must be a sequence of symbols");
        if (event == NULL) {
            status = -1;
            break;
        }
        Py_ssize_t count_symbols = PySequence_Fast_GET_SIZE(event);
        for (Py_ssize_t j = 0; j < count_symbols && status == 0; j++) {
            status = count(state, PySequence_Fast_GET_ITEM(event, j), index);
        }
        Py_DECREF(event);
    }
    Py_DECREF(outer);
    return status;
}

/* {symbol: values[id]} for ids in the given order. */
static PyObject *counts_dict(State *state, const Py_ssize_t *order, Py_ssize_t length,
                             const Py_ssize_t *values) {
    PyObject *result = PyDict_New();
    for (Py_ssize_t k = 0; k < length && result != NULL; k++) {
        Py_ssize_t id = order == NULL ? k : order[k];
        PyObject *number = PyLong_FromSsize_t(values[id]);
        if (number == NULL ||
            PyDict_SetItem(result, PyList_GET_ITEM(state->symbols, id), number) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(number);
    }
    return result;
}

static PyObject *results(State *state) {
    Py_ssize_t distinct = PyList_GET_SIZE(state->symbols);
    /* Ids by last touch, ascending: the touch log walked backwards, each id kept once. */
    Py_ssize_t *order = PyMem_Malloc((size_t)(distinct ? distinct : 1) * sizeof(Py_ssize_t));
    char *seen = PyMem_Calloc((size_t)(distinct ? distinct : 1), 1);
    PyObject *answer = NULL;
    if (order == NULL || seen == NULL) {
        PyErr_NoMemory();
    } else {
        Py_ssize_t position = distinct;
        for (Py_ssize_t k = state->touches.length - 1; k >= 0; k--) {
            Py_ssize_t id = state->touches.data[k];
            if (!seen[id]) {
                seen[id] = 1;
                order[--position] = id;
            }
        }
        PyObject *frequencies = counts_dict(state, NULL, distinct, state->frequency.data);
        PyObject *members = counts_dict(state, NULL, distinct, state->members.data);
        PyObject *last = counts_dict(state, order, distinct, state->last.data);
        if (frequencies != NULL && members != NULL && last != NULL) {
            answer = PyTuple_Pack(3, frequencies, members, last);
        }
        Py_XDECREF(frequencies);
        Py_XDECREF(members);
        Py_XDECREF(last);
    }
    PyMem_Free(order);
    PyMem_Free(seen);
    return answer;
}

static PyObject *tally(PyObject *module, PyObject *sequences) {
    (void)module;
    State state = {PyDict_New(), PyList_New(0), {0}, {0}, {0}, {0}};
    PyObject *iterator = PyObject_GetIter(sequences);
    PyObject *answer = NULL;
    if (state.ids != NULL && state.symbols != NULL && iterator != NULL) {
        int status = 0;
        PyObject *events;
        for (Py_ssize_t index = 0; status == 0 && (events = PyIter_Next(iterator)); index++) {
            status = count_sequence(&state, events, index);
            Py_DECREF(events);
        }
        if (status == 0 && !PyErr_Occurred()) {
            answer = results(&state);
        }
    }
    Py_XDECREF(iterator);
    Py_XDECREF(state.ids);
    Py_XDECREF(state.symbols);
    PyMem_Free(state.frequency.data);
    PyMem_Free(state.members.data);
    PyMem_Free(state.last.data);
    PyMem_Free(state.touches.data);
    return answer;
}

static PyMethodDef methods[] = {
    {"tally", tally, METH_O,
     "(occurrences, sequences holding, last sequence index) of each symbol of a batch."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_tallycore", "Compiled symbol tally (see kato.core.tally).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__tallycore(void) { return PyModule_Create(&module_definition); }
