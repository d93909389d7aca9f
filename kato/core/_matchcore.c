/*
 * Compiled core of prediction (semantics §4.4–§4.13, decisions D2–D4).
 *
 * matching_blocks: exactly difflib.SequenceMatcher(None, a, b, autojunk=False)
 *     .get_matching_blocks() (without the sentinel) on int32-coded sequences.
 * score: one call for every candidate of a prediction. It matches each candidate against
 *     the state, keeps those whose ratio reaches the recall threshold, computes the present
 *     range, itfdf_similarity and potential with the same floating-point operations in the
 *     same order as the definitions of semantics §4.10–§4.12 (so results are bit-identical
 *     to the straightforward Python), and returns only the best `keep` survivors (plus
 *     everything tied with the last of them) with their blocks, entropy, hamiltonians and
 *     confluence.
 *
 * Build flags include -ffp-contract=off: a fused multiply-add would change roundings.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Py_ssize_t i, j, k;
} Block;

typedef struct {
    Py_ssize_t alo, ahi, blo, bhi;
} Range;

/* Scratch space sized for one state of length lb. */
typedef struct {
    Py_ssize_t *prev, *cur;
    Range *queue;
    Block *blocks;
    Py_ssize_t capacity; /* blocks: at most min(la, lb) + 1 */
} Work;

static int work_init(Work *w, Py_ssize_t lb) {
    Py_ssize_t n = lb + 2;
    w->prev = PyMem_Calloc(n, sizeof(Py_ssize_t));
    w->cur = PyMem_Calloc(n, sizeof(Py_ssize_t));
    w->queue = PyMem_Malloc(n * sizeof(Range));
    w->blocks = PyMem_Malloc(n * sizeof(Block));
    w->capacity = n;
    if (!w->prev || !w->cur || !w->queue || !w->blocks) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void work_free(Work *w) {
    PyMem_Free(w->prev);
    PyMem_Free(w->cur);
    PyMem_Free(w->queue);
    PyMem_Free(w->blocks);
}

/* difflib find_longest_match without junk: the longest a[i:i+k] == b[j:j+k] inside the
 * ranges, the earliest i (then j) among equals, found by the same row-by-row DP. */
static Block longest_match(const int32_t *a, const int32_t *b, Range r, Work *w) {
    Block best = {r.alo, r.blo, 0};
    Py_ssize_t *prev = w->prev, *cur = w->cur, *swap;
    for (Py_ssize_t j = r.blo; j < r.bhi; j++) prev[j] = 0;
    for (Py_ssize_t i = r.alo; i < r.ahi; i++) {
        int32_t symbol = a[i];
        for (Py_ssize_t j = r.blo; j < r.bhi; j++) {
            if (b[j] == symbol) {
                Py_ssize_t k = (j > r.blo ? prev[j - 1] : 0) + 1;
                cur[j] = k;
                if (k > best.k) {
                    best.i = i - k + 1;
                    best.j = j - k + 1;
                    best.k = k;
                }
            } else {
                cur[j] = 0;
            }
        }
        swap = prev;
        prev = cur;
        cur = swap;
    }
    return best;
}

/* get_matching_blocks: recursive split (LIFO as difflib), sort, merge adjacent blocks.
 * Returns the block count; blocks land in w->blocks. */
static Py_ssize_t matching_blocks_core(const int32_t *a, Py_ssize_t la, const int32_t *b,
                                       Py_ssize_t lb, Work *w) {
    Py_ssize_t queued = 0, count = 0;
    Block *blocks = w->blocks;
    w->queue[queued++] = (Range){0, la, 0, lb};
    while (queued) {
        Range r = w->queue[--queued];
        Block m = longest_match(a, b, r, w);
        if (m.k) {
            blocks[count++] = m;
            if (r.alo < m.i && r.blo < m.j) w->queue[queued++] = (Range){r.alo, m.i, r.blo, m.j};
            if (m.i + m.k < r.ahi && m.j + m.k < r.bhi)
                w->queue[queued++] = (Range){m.i + m.k, r.ahi, m.j + m.k, r.bhi};
        }
    }
    /* Blocks cover disjoint ranges of a, so ordering by i is difflib's tuple sort. */
    for (Py_ssize_t x = 1; x < count; x++) {
        Block key = blocks[x];
        Py_ssize_t y = x - 1;
        while (y >= 0 && blocks[y].i > key.i) {
            blocks[y + 1] = blocks[y];
            y--;
        }
        blocks[y + 1] = key;
    }
    Py_ssize_t merged = 0;
    for (Py_ssize_t x = 0; x < count; x++) {
        if (merged && blocks[merged - 1].i + blocks[merged - 1].k == blocks[x].i &&
            blocks[merged - 1].j + blocks[merged - 1].k == blocks[x].j) {
            blocks[merged - 1].k += blocks[x].k;
        } else {
            blocks[merged++] = blocks[x];
        }
    }
    return merged;
}

/* Python's round(x, 12): correctly rounded to 12 decimals, then to the nearest double.
 * When x·1e12 is clearly away from a half-integer, the decimal digit string is rint(x·1e12)
 * and one IEEE division gives the nearest double to it; otherwise let the C library's
 * exact decimal conversion (round-half-even, like CPython's dtoa) decide. */
static double round12(double x) {
    if (!isfinite(x)) return x;
    double y = x * 1e12;
    if (fabs(y) < 1e15) {
        double r = nearbyint(y);
        double ulp = nextafter(fabs(y), INFINITY) - fabs(y);
        if (0.5 - fabs(y - r) > 4 * ulp) return r / 1e12;
    }
    char text[64];
    snprintf(text, sizeof text, "%.12f", x);
    return strtod(text, NULL);
}

/* Distinct symbols of seq in first-occurrence order with their counts (Counter order). */
static Py_ssize_t distinct_counts(const int32_t *seq, Py_ssize_t n, int32_t *symbols,
                                  Py_ssize_t *counts) {
    Py_ssize_t distinct = 0;
    for (Py_ssize_t x = 0; x < n; x++) {
        Py_ssize_t y = 0;
        while (y < distinct && symbols[y] != seq[x]) y++;
        if (y == distinct) {
            symbols[distinct] = seq[x];
            counts[distinct++] = 0;
        }
        counts[y]++;
    }
    return distinct;
}

/* -p·log_n(p) as CPython's math.log(p, n) computes it: log(p) / log(n). */
static double entropy_term(double p, double log_base) {
    return p > 0 ? -p * (log(p) / log_base) : 0.0;
}

typedef struct {
    double entropy, hamiltonian, grand_hamiltonian, confluence;
} Information;

/* entropy, hamiltonian, grand_hamiltonian and confluence of §4.10 for one present range;
 * sums run over the same items in the same order as the definitions. */
static Information information(const int32_t *present, Py_ssize_t size, const double *prob,
                               int32_t *symbols, Py_ssize_t *counts, long long t_sym,
                               double pattern_probability) {
    Information out = {0.0, 0.0, 0.0, 0.0};
    double log_2 = log(2.0), log_t_sym = log((double)t_sym), log_cp = 0.0;
    int informative = t_sym > 1; /* h_n is 0 unless n > 1 */
    Py_ssize_t distinct = distinct_counts(present, size, symbols, counts);
    for (Py_ssize_t x = 0; x < size; x++) {
        double p = prob[present[x]];
        out.entropy += entropy_term(p, log_2);
        log_cp += log10(p != 0.0 ? p : 1e-10);
        if (informative) {
            Py_ssize_t y = 0;
            while (symbols[y] != present[x]) y++;
            out.hamiltonian += entropy_term((double)counts[y] / (double)size, log_t_sym);
        }
    }
    for (Py_ssize_t y = 0; informative && y < distinct; y++)
        out.grand_hamiltonian += entropy_term(prob[symbols[y]], log_t_sym);
    double combined_probability = size ? pow(10.0, log_cp) : 0.0;
    out.entropy = round12(out.entropy);
    out.hamiltonian = round12(out.hamiltonian);
    out.grand_hamiltonian = round12(out.grand_hamiltonian);
    out.confluence = round12(pattern_probability * (1 - combined_probability));
    return out;
}

static int parse_int32(PyObject *obj, Py_buffer *view, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->itemsize != 4 || !view->format ||
        (strcmp(view->format, "i") && strcmp(view->format, "=i") && strcmp(view->format, "<i"))) {
        PyErr_Format(PyExc_TypeError, "%s must be an int32 buffer", what);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static int parse_int64(PyObject *obj, Py_buffer *view, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->itemsize != 8 || !view->format ||
        (strcmp(view->format, "q") && strcmp(view->format, "l") && strcmp(view->format, "=q") &&
         strcmp(view->format, "<q") && strcmp(view->format, "<l") && strcmp(view->format, "=l"))) {
        PyErr_Format(PyExc_TypeError, "%s must be an int64 buffer", what);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *py_matching_blocks(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *a_obj, *b_obj;
    if (!PyArg_ParseTuple(args, "OO:matching_blocks", &a_obj, &b_obj)) return NULL;
    Py_buffer a, b;
    if (parse_int32(a_obj, &a, "a") < 0) return NULL;
    if (parse_int32(b_obj, &b, "b") < 0) {
        PyBuffer_Release(&a);
        return NULL;
    }
    Py_ssize_t la = a.len / 4, lb = b.len / 4;
    Work w;
    PyObject *result = NULL;
    if (work_init(&w, lb > la ? lb : la) == 0) {
        Py_ssize_t count = matching_blocks_core(a.buf, la, b.buf, lb, &w);
        result = PyList_New(count);
        for (Py_ssize_t x = 0; result && x < count; x++) {
            PyObject *item = Py_BuildValue("(nnn)", w.blocks[x].i, w.blocks[x].j, w.blocks[x].k);
            if (!item) {
                Py_CLEAR(result);
                break;
            }
            PyList_SET_ITEM(result, x, item);
        }
    }
    work_free(&w);
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    return result;
}

typedef struct {
    Py_ssize_t slot, start, end, matched, nblocks;
    double potential, itfdf;
} Survivor;

static int by_potential_desc(const void *left, const void *right) {
    double l = ((const Survivor *)left)->potential, r = ((const Survivor *)right)->potential;
    return (l < r) - (l > r);
}

typedef struct {
    Py_buffer state, flat, flat_offsets, bounds, bounds_offsets, frequencies, member_frequency,
        candidates;
} Inputs;

static void inputs_release(Inputs *in, int parsed) {
    Py_buffer *views[] = {&in->state, &in->flat, &in->flat_offsets, &in->bounds,
                          &in->bounds_offsets, &in->frequencies, &in->member_frequency,
                          &in->candidates};
    for (int x = 0; x < parsed; x++) PyBuffer_Release(views[x]);
}

static PyObject *py_score(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *objs[8];
    long long t_sip, t_sym, t_pf;
    double threshold;
    Py_ssize_t keep;
    if (!PyArg_ParseTuple(args, "OOOOOOOLLLOdn:score", &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6], &t_sip, &t_sym, &t_pf, &objs[7],
                          &threshold, &keep))
        return NULL;
    Inputs in;
    Py_buffer *views[] = {&in.state, &in.flat, &in.flat_offsets, &in.bounds,
                          &in.bounds_offsets, &in.frequencies, &in.member_frequency,
                          &in.candidates};
    const int is32[] = {1, 1, 0, 1, 0, 0, 0, 0};
    const char *names[] = {"state", "flat", "flat_offsets", "bounds", "bounds_offsets",
                           "frequencies", "member_frequency", "candidates"};
    for (int x = 0; x < 8; x++) {
        int failed = is32[x] ? parse_int32(objs[x], views[x], names[x])
                             : parse_int64(objs[x], views[x], names[x]);
        if (failed) {
            inputs_release(&in, x);
            return NULL;
        }
    }
    const int32_t *state = in.state.buf, *flat = in.flat.buf, *bounds = in.bounds.buf;
    const int64_t *flat_offsets = in.flat_offsets.buf, *bounds_offsets = in.bounds_offsets.buf;
    const int64_t *frequencies = in.frequencies.buf, *member_frequency = in.member_frequency.buf;
    const int64_t *candidates = in.candidates.buf;
    Py_ssize_t ls = in.state.len / 4, n_candidates = in.candidates.len / 8;
    Py_ssize_t n_symbols = in.member_frequency.len / 8;

    PyObject *result = NULL;
    Survivor *survivors = PyMem_Malloc((n_candidates + 1) * sizeof(Survivor));
    unsigned char *in_table = PyMem_Calloc(n_symbols + 1, 1);
    double *prob_table = PyMem_Calloc(n_symbols + 1, sizeof(double));
    int32_t *symbols = PyMem_Malloc((ls + 1) * sizeof(int32_t));
    Py_ssize_t *counts = PyMem_Malloc((ls + 1) * sizeof(Py_ssize_t));
    double *state_weights = PyMem_Malloc((ls + 1) * sizeof(double));
    int32_t *present_symbols = NULL;
    Py_ssize_t *present_counts = NULL;
    Py_ssize_t max_length = 0;
    Work w = {0};
    if (!survivors || !in_table || !prob_table || !symbols || !counts || !state_weights) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t n_slots = in.flat_offsets.len / 8 - 1;
    if (in.bounds_offsets.len / 8 - 1 != n_slots || in.frequencies.len / 8 < n_slots) {
        PyErr_SetString(PyExc_ValueError, "per-slot arrays disagree in length");
        goto done;
    }
    for (Py_ssize_t c = 0; c < n_candidates; c++) {
        int64_t slot = candidates[c];
        if (slot < 0 || slot >= n_slots) {
            PyErr_Format(PyExc_IndexError, "candidate slot %lld out of range", (long long)slot);
            goto done;
        }
        Py_ssize_t length = flat_offsets[slot + 1] - flat_offsets[slot];
        if (length > max_length) max_length = length;
    }
    present_symbols = PyMem_Malloc((max_length + 1) * sizeof(int32_t));
    present_counts = PyMem_Malloc((max_length + 1) * sizeof(Py_ssize_t));
    if (!present_symbols || !present_counts) {
        PyErr_NoMemory();
        goto done;
    }
    if (work_init(&w, ls > max_length ? ls : max_length) < 0) goto done;

    /* Pass 1: match, apply the threshold, present range (§4.6, §4.8), probability table. */
    Py_ssize_t n_survivors = 0;
    long long ensemble_frequency = 0;
    for (Py_ssize_t c = 0; c < n_candidates; c++) {
        int64_t slot = candidates[c];
        const int32_t *pattern = flat + flat_offsets[slot];
        Py_ssize_t lp = flat_offsets[slot + 1] - flat_offsets[slot];
        const int32_t *pbounds = bounds + bounds_offsets[slot];
        Py_ssize_t n_events = bounds_offsets[slot + 1] - bounds_offsets[slot] - 1;
        Py_ssize_t nblocks = matching_blocks_core(pattern, lp, state, ls, &w);
        Py_ssize_t matched = 0;
        for (Py_ssize_t x = 0; x < nblocks; x++) matched += w.blocks[x].k;
        if (!(2.0 * matched / (double)(lp + ls) >= threshold)) continue;
        Survivor *s = &survivors[n_survivors++];
        s->slot = slot;
        s->matched = matched;
        s->nblocks = nblocks;
        if (nblocks == 0) {
            s->start = 0;
            s->end = n_events;
        } else {
            Py_ssize_t first_i = w.blocks[0].i, first_j = w.blocks[0].j;
            Py_ssize_t last = w.blocks[nblocks - 1].i + w.blocks[nblocks - 1].k;
            Py_ssize_t start = 0, end;
            while (start <= n_events && pbounds[start] < first_i) start++; /* bisect_left */
            end = start;
            while (end <= n_events && pbounds[end] < last) end++;
            if (start > 0) { /* boundary adjustment (§4.8 step 4), membership by value */
                for (Py_ssize_t p = pbounds[start - 1]; p < pbounds[start]; p++) {
                    if (pattern[p] == state[first_j]) {
                        start--;
                        break;
                    }
                }
            }
            s->start = start;
            s->end = end;
        }
        ensemble_frequency += frequencies[slot];
        for (Py_ssize_t p = pbounds[s->start]; p < pbounds[s->end]; p++) {
            int32_t symbol = pattern[p];
            if (symbol >= 0 && symbol < n_symbols && !in_table[symbol]) {
                in_table[symbol] = 1;
                prob_table[symbol] =
                    t_sip > 0 ? (double)member_frequency[symbol] / (double)t_sip : 0.0;
            }
        }
    }

/* prob(symbol) of §4.11: only symbols of the table have a probability. */
#define PROB(sym) (((sym) >= 0 && (sym) < n_symbols && in_table[(sym)]) ? prob_table[(sym)] : 0.0)

    Py_ssize_t n_state = distinct_counts(state, ls, symbols, counts);
    double state_sum = 0.0;
    for (Py_ssize_t x = 0; x < n_state; x++) {
        state_weights[x] = PROB(symbols[x]) * (double)counts[x];
        state_sum += state_weights[x] * state_weights[x];
    }
    double state_norm = sqrt(state_sum);

    /* Pass 2: itfdf_similarity (§4.11) and potential (§4.12). */
    for (Py_ssize_t n = 0; n < n_survivors; n++) {
        Survivor *s = &survivors[n];
        const int32_t *pattern = flat + flat_offsets[s->slot];
        Py_ssize_t lp = flat_offsets[s->slot + 1] - flat_offsets[s->slot];
        const int32_t *pbounds = bounds + bounds_offsets[s->slot];
        const int32_t *present = pattern + pbounds[s->start];
        Py_ssize_t present_length = pbounds[s->end] - pbounds[s->start];
        double itfdf = 0.0;
        if (ensemble_frequency > 0) {
            Py_ssize_t n_present = distinct_counts(present, present_length, present_symbols,
                                                   present_counts);
            double present_sum = 0.0;
            for (Py_ssize_t x = 0; x < n_present; x++) {
                double weight = PROB(present_symbols[x]) * (double)present_counts[x];
                present_sum += weight * weight;
            }
            double present_norm = sqrt(present_sum), distance;
            if (state_norm == 0 || present_norm == 0) {
                distance = 1.0;
            } else {
                double dot = 0.0;
                for (Py_ssize_t x = 0; x < n_state; x++) {
                    double other = 0.0;
                    for (Py_ssize_t y = 0; y < n_present; y++) {
                        if (present_symbols[y] == symbols[x]) {
                            other = PROB(present_symbols[y]) * (double)present_counts[y];
                            break;
                        }
                    }
                    dot += state_weights[x] * other;
                }
                distance = 1 - dot / (state_norm * present_norm);
                if (isnan(distance)) distance = 1.0;
            }
            itfdf = round12(1 - distance * (double)frequencies[s->slot] /
                                    (double)ensemble_frequency);
        }
        Py_ssize_t matched = s->matched, extras = ls - matched;
        double evidence = lp ? (double)matched / (double)lp : 0.0;
        double confidence = present_length ? (double)matched / (double)present_length : 0.0;
        Py_ssize_t denominator = 2 * matched + extras;
        double snr = denominator ? (double)(2 * matched - extras) / (double)denominator : 0.0;
        double phi = s->nblocks ? 1.0 / (double)s->nblocks : 0.0;
        s->itfdf = itfdf;
        s->potential = round12((evidence + confidence) * snr + itfdf + phi);
    }
#undef PROB

    /* Best `keep` by potential, extended over ties with the last one: the caller breaks
     * ties by name (D4), which needs the whole tied group. */
    qsort(survivors, n_survivors, sizeof(Survivor), by_potential_desc);
    Py_ssize_t returned = n_survivors < keep ? n_survivors : keep;
    while (returned > 0 && returned < n_survivors &&
           survivors[returned].potential == survivors[returned - 1].potential)
        returned++;
    PyObject *items = PyList_New(returned);
    for (Py_ssize_t n = 0; items && n < returned; n++) {
        Survivor *s = &survivors[n];
        const int32_t *pattern = flat + flat_offsets[s->slot];
        Py_ssize_t lp = flat_offsets[s->slot + 1] - flat_offsets[s->slot];
        const int32_t *pbounds = bounds + bounds_offsets[s->slot];
        Py_ssize_t nblocks = matching_blocks_core(pattern, lp, state, ls, &w);
        PyObject *blocks = PyTuple_New(nblocks);
        for (Py_ssize_t x = 0; blocks && x < nblocks; x++) {
            PyObject *block = Py_BuildValue("(nnn)", w.blocks[x].i, w.blocks[x].j, w.blocks[x].k);
            if (!block) {
                Py_CLEAR(blocks);
                break;
            }
            PyTuple_SET_ITEM(blocks, x, block);
        }
        double pattern_probability =
            t_pf ? (double)frequencies[s->slot] / (double)t_pf : 0.0;
        Information info = information(pattern + pbounds[s->start],
                                       pbounds[s->end] - pbounds[s->start], prob_table,
                                       present_symbols, present_counts, t_sym,
                                       pattern_probability);
        PyObject *item = blocks ? Py_BuildValue("(nddnnNdddd)", s->slot, s->potential, s->itfdf,
                                                s->start, s->end, blocks, info.entropy,
                                                info.hamiltonian, info.grand_hamiltonian,
                                                info.confluence)
                                : NULL;
        if (!item) {
            Py_CLEAR(items);
            break;
        }
        PyList_SET_ITEM(items, n, item);
    }
    if (items) result = Py_BuildValue("(Nn)", items, n_survivors);

done:
    work_free(&w);
    PyMem_Free(survivors);
    PyMem_Free(in_table);
    PyMem_Free(prob_table);
    PyMem_Free(symbols);
    PyMem_Free(counts);
    PyMem_Free(state_weights);
    PyMem_Free(present_symbols);
    PyMem_Free(present_counts);
    inputs_release(&in, 8);
    return result;
}

static PyMethodDef methods[] = {
    {"matching_blocks", py_matching_blocks, METH_VARARGS,
     "matching_blocks(a, b) -> difflib's matching blocks (no sentinel) of two int32 buffers."},
    {"score", py_score, METH_VARARGS,
     "score(state, flat, flat_offsets, bounds, bounds_offsets, frequencies, member_frequency,"
     " t_sip, t_sym, t_pf, candidates, threshold, keep) -> ([(slot, potential, itfdf, start,"
     " end, blocks, entropy, hamiltonian, grand_hamiltonian, confluence)], survivors)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_matchcore", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__matchcore(void) { return PyModule_Create(&module); }
