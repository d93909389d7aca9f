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
#include <stdint.h>
#include <string.h>

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

/* --- postings: the index's per-symbol work for a batch of new patterns (tally.pure_postings) --- */

/* ids[start..start+length) as the int32 bytes of an array("i"). */
static PyObject *int32_bytes(const int32_t *values, Py_ssize_t length) {
    return PyBytes_FromStringAndSize((const char *)values, length * (Py_ssize_t)sizeof(int32_t));
}

/* [(key, values of that key as int32 bytes[, counts as int32 bytes]), ...] in ascending key
 * order, from parallel arrays of keys (0 <= key < keys), slots and (optional) counts, each
 * key's entries kept in their given order (a stable counting sort). */
static PyObject *grouped(const int32_t *key, const int32_t *slot, const int32_t *counts,
                         Py_ssize_t length, Py_ssize_t keys) {
    Py_ssize_t *start = PyMem_Calloc((size_t)keys + 1, sizeof(Py_ssize_t));
    int32_t *sorted = PyMem_Malloc((size_t)(length ? length : 1) * 2 * sizeof(int32_t));
    PyObject *result = start == NULL || sorted == NULL ? NULL : PyList_New(0);
    if (result == NULL) {
        PyMem_Free(start);
        PyMem_Free(sorted);
        return start == NULL || sorted == NULL ? PyErr_NoMemory() : NULL;
    }
    for (Py_ssize_t i = 0; i < length; i++) {
        start[key[i] + 1] += 1;
    }
    for (Py_ssize_t k = 0; k < keys; k++) {
        start[k + 1] += start[k];
    }
    Py_ssize_t *next = PyMem_Malloc((size_t)(keys ? keys : 1) * sizeof(Py_ssize_t));
    if (next == NULL) {
        Py_DECREF(result);
        PyMem_Free(start);
        PyMem_Free(sorted);
        return PyErr_NoMemory();
    }
    memcpy(next, start, (size_t)keys * sizeof(Py_ssize_t));
    int32_t *sorted_counts = sorted + length;
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_ssize_t at = next[key[i]]++;
        sorted[at] = slot[i];
        if (counts != NULL) {
            sorted_counts[at] = counts[i];
        }
    }
    for (Py_ssize_t k = 0; k < keys && result != NULL; k++) {
        Py_ssize_t size = start[k + 1] - start[k];
        if (size == 0) {
            continue;
        }
        PyObject *item =
            counts == NULL
                ? Py_BuildValue("(nN)", k, int32_bytes(sorted + start[k], size))
                : Py_BuildValue("(nNN)", k, int32_bytes(sorted + start[k], size),
                                int32_bytes(sorted_counts + start[k], size));
        if (item == NULL || PyList_Append(result, item) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(item);
    }
    PyMem_Free(next);
    PyMem_Free(start);
    PyMem_Free(sorted);
    return result;
}

/* The symbol ids of every occurrence, in order, and each pattern's length (ids is grown). */
static int pattern_ids(PyObject *patterns, PyObject *symbol_ids, int32_t **ids,
                       Py_ssize_t *count, Py_ssize_t *capacity, Py_ssize_t *lengths,
                       Py_ssize_t *keys) {
    Py_ssize_t total = PySequence_Fast_GET_SIZE(patterns);
    for (Py_ssize_t p = 0; p < total; p++) {
        PyObject *events = PySequence_Fast(PySequence_Fast_GET_ITEM(patterns, p),
                                           "each pattern must be a sequence of events");
        if (events == NULL) {
            return -1;
        }
        Py_ssize_t before = *count;
        for (Py_ssize_t e = 0; e < PySequence_Fast_GET_SIZE(events); e++) {
            PyObject *event = PySequence_Fast(PySequence_Fast_GET_ITEM(events, e),
                                              "each event must be a sequence of symbols");
            if (event == NULL) {
                Py_DECREF(events);
                return -1;
            }
            for (Py_ssize_t j = 0; j < PySequence_Fast_GET_SIZE(event); j++) {
                PyObject *found =
                    PyDict_GetItemWithError(symbol_ids, PySequence_Fast_GET_ITEM(event, j));
                Py_ssize_t id = found == NULL ? -1 : PyLong_AsSsize_t(found);
                if (id < 0 || id > INT32_MAX) {
                    if (!PyErr_Occurred()) {
                        PyErr_SetString(PyExc_KeyError, "a symbol without an id");
                    }
                    Py_DECREF(event);
                    Py_DECREF(events);
                    return -1;
                }
                if (*count == *capacity) {
                    *capacity = *capacity ? *capacity * 2 : 4096;
                    int32_t *grown = PyMem_Realloc(*ids, (size_t)*capacity * sizeof(int32_t));
                    if (grown == NULL) {
                        PyErr_NoMemory();
                        Py_DECREF(event);
                        Py_DECREF(events);
                        return -1;
                    }
                    *ids = grown;
                }
                (*ids)[(*count)++] = (int32_t)id;
                *keys = id + 1 > *keys ? id + 1 : *keys;
            }
            Py_DECREF(event);
        }
        Py_DECREF(events);
        lengths[p] = *count - before;
    }
    return 0;
}

/* (ids, pairs, firsts) of patterns (sequences of events of str) learned into slots first,
 * first + 1, ...: ids the int32 bytes of every symbol's id (symbol_ids: str -> int, every
 * symbol present), pairs [(id, slots, counts)] — each pattern holding the symbol once, with
 * the symbol's count in it, slots ascending — and firsts [(id, slots)] of the patterns whose
 * first symbol it is; both in ascending id order. */
static PyObject *postings(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3 || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "postings(patterns, symbol_ids: dict, first)");
        return NULL;
    }
    Py_ssize_t first = PyNumber_AsSsize_t(args[2], PyExc_OverflowError);
    PyObject *patterns = first == -1 && PyErr_Occurred()
                             ? NULL
                             : PySequence_Fast(args[0], "patterns must be a sequence");
    if (patterns == NULL) {
        return NULL;
    }
    Py_ssize_t total = PySequence_Fast_GET_SIZE(patterns);
    Py_ssize_t *lengths = PyMem_Malloc((size_t)(total ? total : 1) * sizeof(Py_ssize_t));
    int32_t *ids = NULL, *pair_key = NULL, *pair_slot = NULL, *pair_count = NULL;
    int32_t *first_key = NULL, *first_slot = NULL;
    Py_ssize_t count = 0, capacity = 0, keys = 0, pairs = 0, firsts = 0;
    PyObject *result = NULL;
    if (lengths == NULL) {
        PyErr_NoMemory();
    } else if (pattern_ids(patterns, args[1], &ids, &count, &capacity, lengths, &keys) == 0) {
        size_t room = (size_t)(count ? count : 1);
        pair_key = PyMem_Malloc(room * sizeof(int32_t));
        pair_slot = PyMem_Malloc(room * sizeof(int32_t));
        pair_count = PyMem_Malloc(room * sizeof(int32_t));
        first_key = PyMem_Malloc((size_t)(total ? total : 1) * sizeof(int32_t));
        first_slot = PyMem_Malloc((size_t)(total ? total : 1) * sizeof(int32_t));
    }
    if (pair_key != NULL && pair_slot != NULL && pair_count != NULL && first_key != NULL &&
        first_slot != NULL) {
        Py_ssize_t offset = 0;
        for (Py_ssize_t p = 0; p < total; p++) {
            const int32_t *own = ids + offset;
            Py_ssize_t length = lengths[p];
            int32_t slot = (int32_t)(first + p);
            if (length > 0) {
                first_key[firsts] = own[0];
                first_slot[firsts++] = slot;
            }
            for (Py_ssize_t j = 0; j < length; j++) {
                Py_ssize_t earlier = 0; /* a pattern holds a few dozen symbols at most */
                while (earlier < j && own[earlier] != own[j]) {
                    earlier++;
                }
                if (earlier < j) {
                    continue; /* counted at its first occurrence */
                }
                int32_t times = 1;
                for (Py_ssize_t k = j + 1; k < length; k++) {
                    times += own[k] == own[j];
                }
                pair_key[pairs] = own[j];
                pair_slot[pairs] = slot;
                pair_count[pairs++] = times;
            }
            offset += length;
        }
        PyObject *id_bytes = int32_bytes(ids, count);
        PyObject *pair_list = grouped(pair_key, pair_slot, pair_count, pairs, keys);
        PyObject *first_list = grouped(first_key, first_slot, NULL, firsts, keys);
        if (id_bytes != NULL && pair_list != NULL && first_list != NULL) {
            result = PyTuple_Pack(3, id_bytes, pair_list, first_list);
        }
        Py_XDECREF(id_bytes);
        Py_XDECREF(pair_list);
        Py_XDECREF(first_list);
    } else if (!PyErr_Occurred()) {
        PyErr_NoMemory();
    }
    PyMem_Free(lengths);
    PyMem_Free(ids);
    PyMem_Free(pair_key);
    PyMem_Free(pair_slot);
    PyMem_Free(pair_count);
    PyMem_Free(first_key);
    PyMem_Free(first_slot);
    Py_DECREF(patterns);
    return result;
}

static PyMethodDef methods[] = {
    {"tally", tally, METH_O,
     "(occurrences, sequences holding, last sequence index) of each symbol of a batch."},
    {"postings", (PyCFunction)(void (*)(void))postings, METH_FASTCALL,
     "(ids, pairs, firsts) of a batch of new patterns for the index (tally.pure_postings)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_tallycore", "Compiled symbol tally (see kato.core.tally).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__tallycore(void) { return PyModule_Create(&module_definition); }
