/* _ovx.c: the CPython extension behind the `ovx` package, in C against the
 * library's public API (ovx/select.h). _ovx.select(path, options: dict)
 * runs ovx_select_run with the GIL released and returns a dict of raw
 * buffers (bytearray) and the report JSON; ovx/__init__.py wraps them in
 * numpy arrays. Options are the fields of ovx_select_params by name (one
 * table below); enum fields take their names ("uniform", "estimate", ...).
 * Failures raise _ovx.Error (ovx.Error) with .path, .stage, .code, .status.
 * The Encoder type is in encoder.c. */
#include "_ovx.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <ovx/select.h> /* the installed public header (src/lib/ovx) */

PyObject *ovx_py_error;

/* Raises ovx.Error("PATH: msg", like the CLI's message) with its
 * attributes; returns NULL. */
PyObject *ovx_py_raise(PyObject *path, const char *stage, int code, const char *msg)
{
    PyObject *text = PyUnicode_FromFormat("%S: %s", path, msg);
    PyObject *e = text ? PyObject_CallOneArg(ovx_py_error, text) : NULL;
    Py_XDECREF(text);
    if (!e)
        return NULL;
    PyObject *code_name = PyUnicode_FromString(ovx_status_name(code));
    PyObject *status = PyLong_FromLong(code);
    PyObject *st = PyUnicode_FromString(stage);
    if (code_name && status && st && PyObject_SetAttrString(e, "path", path ? path : Py_None) == 0 &&
        PyObject_SetAttrString(e, "stage", st) == 0 && PyObject_SetAttrString(e, "code", code_name) == 0 &&
        PyObject_SetAttrString(e, "status", status) == 0)
        PyErr_SetObject(ovx_py_error, e);
    Py_XDECREF(code_name);
    Py_XDECREF(status);
    Py_XDECREF(st);
    Py_DECREF(e);
    return NULL;
}

typedef enum { OPT_INT, OPT_BOOL, OPT_DOUBLE, OPT_INT64, OPT_ENUM } opt_type;
typedef const char *(*enum_name_fn)(int);

typedef struct {
    const char *name;
    opt_type type;
    size_t offset;
    enum_name_fn names; /* OPT_ENUM: value -> name, tried for 0..n_values-1 */
    int n_values;
} opt_def;

_Static_assert(sizeof(ovx_sampling) == sizeof(int) && sizeof(ovx_mv_source) == sizeof(int) &&
               sizeof(ovx_iframe_policy) == sizeof(int) && sizeof(ovx_normalise) == sizeof(int) &&
                   sizeof(ovx_motion_sides) == sizeof(int),
               "enum options are stored through int");

static const char *sampling_name(int v) { return ovx_sampling_name((ovx_sampling)v); }
static const char *mv_source_name(int v) { return ovx_mv_source_name((ovx_mv_source)v); }
static const char *iframe_name(int v) { return ovx_iframe_policy_name((ovx_iframe_policy)v); }
static const char *normalise_name(int v) { return ovx_normalise_name((ovx_normalise)v); }
static const char *motion_sides_name(int v) { return ovx_motion_sides_name((ovx_motion_sides)v); }

#define OPT(n, t) {#n, t, offsetof(ovx_select_params, n), NULL, 0}
#define OPT_E(n, fn, count) {#n, OPT_ENUM, offsetof(ovx_select_params, n), fn, count}
static const opt_def select_opts[] = {
    OPT(frames, OPT_INT), OPT(tokens, OPT_INT),
    OPT_E(sampling, sampling_name, 2), OPT_E(mv_source, mv_source_name, 3),
    OPT_E(iframe_policy, iframe_name, 4), OPT_E(normalise, normalise_name, 2),
    OPT(inconsistency, OPT_BOOL), OPT(motion_percentile, OPT_DOUBLE), OPT(motion_floor, OPT_DOUBLE),
    OPT(ref_candidates, OPT_INT), OPT(ref_better, OPT_DOUBLE), OPT(residual_percentile, OPT_DOUBLE),
    OPT(light, OPT_BOOL), OPT(row_step, OPT_INT), OPT(fit_frame, OPT_BOOL), OPT_E(motion_sides, motion_sides_name, 2), OPT(noise_percentile, OPT_DOUBLE), OPT(noise_k, OPT_DOUBLE),
    OPT(texture_k, OPT_DOUBLE), OPT(residual_scale, OPT_DOUBLE), OPT(motion_scale, OPT_DOUBLE), OPT(residual_weight, OPT_DOUBLE),
    OPT(prior_weight, OPT_DOUBLE), OPT(prior_sigma, OPT_DOUBLE), OPT(fit_keep, OPT_DOUBLE),
    OPT(fit_passes, OPT_INT), OPT(fit_min_vectors, OPT_INT), OPT(cell, OPT_INT), OPT(search, OPT_INT),
    OPT(static_p95, OPT_DOUBLE), OPT(static_spread, OPT_DOUBLE), OPT(fps, OPT_DOUBLE),
    OPT(start, OPT_DOUBLE), OPT(duration, OPT_DOUBLE), OPT(threads, OPT_INT), OPT(max_pixels, OPT_INT64),
    OPT(max_corrupt, OPT_DOUBLE), OPT(keep_frames, OPT_BOOL), OPT(decode_all, OPT_BOOL),
    OPT(temporal_jitter, OPT_BOOL), OPT(jitter_seed, OPT_INT64),
};

/* Sets one field from a Python value; 0 or -1 with msg filled. */
static int set_opt(ovx_select_params *p, const opt_def *d, PyObject *v, char *msg, size_t len)
{
    char *field = (char *)p + d->offset;
    if (d->type == OPT_ENUM) {
        const char *s = PyUnicode_Check(v) ? PyUnicode_AsUTF8(v) : NULL;
        if (!s) {
            PyErr_Clear();
            snprintf(msg, len, "option %s: expected a name", d->name);
            return -1;
        }
        for (int i = 0; i < d->n_values; i++)
            if (!strcmp(s, d->names(i))) {
                *(int *)field = i; /* the enums are int-sized (C17 6.7.2.2) */
                return 0;
            }
        int n = snprintf(msg, len, "option %s: unknown value \"%s\" (one of:", d->name, s);
        for (int i = 0; i < d->n_values && n > 0 && (size_t)n < len; i++)
            n += snprintf(msg + n, len - (size_t)n, " %s", d->names(i));
        if (n > 0 && (size_t)n < len)
            snprintf(msg + n, len - (size_t)n, ")");
        return -1;
    }
    if (d->type == OPT_DOUBLE) {
        double x = PyFloat_AsDouble(v);
        if (x == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            snprintf(msg, len, "option %s: expected a number", d->name);
            return -1;
        }
        *(double *)field = x;
        return 0;
    }
    if (PyFloat_Check(v) || (d->type != OPT_BOOL && PyBool_Check(v))) {
        snprintf(msg, len, "option %s: expected an integer", d->name);
        return -1;
    }
    long long x = PyLong_AsLongLong(v);
    if (x == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        snprintf(msg, len, "option %s: expected an integer", d->name);
        return -1;
    }
    if (d->type == OPT_INT64) {
        *(int64_t *)field = x;
    } else if (d->type == OPT_BOOL) {
        *(int *)field = x != 0;
    } else {
        if (x < -2147483647LL || x > 2147483647LL) {
            snprintf(msg, len, "option %s: %lld out of range", d->name, x);
            return -1;
        }
        *(int *)field = (int)x;
    }
    return 0;
}

static int parse_options(ovx_select_params *p, PyObject *opts, char *msg, size_t len)
{
    PyObject *key, *val;
    Py_ssize_t pos = 0;
    while (PyDict_Next(opts, &pos, &key, &val)) {
        const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        if (!k) {
            PyErr_Clear();
            snprintf(msg, len, "option names are strings");
            return -1;
        }
        const opt_def *d = NULL;
        for (size_t i = 0; i < sizeof select_opts / sizeof *select_opts; i++)
            if (!strcmp(k, select_opts[i].name))
                d = &select_opts[i];
        if (!d) {
            snprintf(msg, len, "unknown option \"%s\"", k);
            return -1;
        }
        if (set_opt(p, d, val, msg, len) < 0)
            return -1;
    }
    return 0;
}

/* dict[name] = bytearray(copy of n bytes); 0 or -1 with an exception set. */
static int put_bytes(PyObject *dict, const char *name, const void *data, size_t n)
{
    PyObject *b = PyByteArray_FromStringAndSize(data, (Py_ssize_t)n);
    if (!b)
        return -1;
    int rc = PyDict_SetItemString(dict, name, b);
    Py_DECREF(b);
    return rc;
}

static PyObject *result_dict(const ovx_select_result *r, int timings)
{
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    char *json = ovx_select_result_json_string(r, timings);
    PyObject *js = json ? PyUnicode_FromString(json) : PyErr_NoMemory();
    free(json);
    int ok = js && PyDict_SetItemString(d, "json", js) == 0 &&
             put_bytes(d, "visible_indices", r->visible_indices, (size_t)r->n_visible * sizeof(int64_t)) == 0 &&
             put_bytes(d, "scores", r->scores, r->scores ? sizeof(float) * OVX_SELECT_SLOTS * OVX_SELECT_PER_SLOT : 0) == 0;
    Py_XDECREF(js);
    if (ok && r->frames)
        ok = put_bytes(d, "frames", r->frames, (size_t)r->n_slots * OVX_SELECT_SIZE * OVX_SELECT_SIZE * 3) == 0;
    PyObject *ns = ok ? PyLong_FromLong(r->n_slots) : NULL;
    ok = ns && PyDict_SetItemString(d, "n_slots", ns) == 0;
    Py_XDECREF(ns);
    if (!ok) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* _ovx.select(source, options, timings, name): source is a path (str or
 * os.PathLike) or the video's bytes (any contiguous buffer: bytes,
 * bytearray, memoryview, a uint8 numpy array), read in place while the GIL
 * is released (the buffer export keeps a bytearray from being resized);
 * name stands for the path of bytes (None: "<bytes>"). */
static PyObject *py_select(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *src, *opts, *name_obj = Py_None;
    int timings = 0;
    if (!PyArg_ParseTuple(args, "OO!p|O", &src, &PyDict_Type, &opts, &timings, &name_obj))
        return NULL;
    int in_memory = PyObject_CheckBuffer(src) && !PyUnicode_Check(src);
    PyObject *path_obj = in_memory ? (name_obj == Py_None ? PyUnicode_FromString("<bytes>") : Py_NewRef(name_obj))
                                   : Py_NewRef(src);
    if (!path_obj)
        return NULL;
    PyObject *path_bytes = NULL, *ret = NULL;
    Py_buffer view = {0};
    int have_view = 0;
    if (!PyUnicode_FSConverter(path_obj, &path_bytes))
        goto done;
    const char *path = PyBytes_AS_STRING(path_bytes);
    if (strlen(path) != (size_t)PyBytes_GET_SIZE(path_bytes)) {
        ret = ovx_py_raise(path_obj, "options", OVX_EUSAGE,
                           in_memory ? "name contains a NUL byte" : "path contains a NUL byte");
        goto done;
    }
    if (in_memory) {
        if (PyObject_GetBuffer(src, &view, PyBUF_C_CONTIGUOUS) < 0) {
            PyErr_Clear();
            ret = ovx_py_raise(path_obj, "options", OVX_EUSAGE, "the video's bytes must be a contiguous buffer");
            goto done;
        }
        have_view = 1;
    }
    ovx_select_params p = ovx_select_default_params();
    char msg[512];
    if (parse_options(&p, opts, msg, sizeof msg) < 0) {
        ret = ovx_py_raise(path_obj, "options", OVX_EUSAGE, msg);
        goto done;
    }
    ovx_select_result *r = NULL;
    ovx_error err;
    ovx_error_clear(&err);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = in_memory ? ovx_select_run_memory(view.buf, (size_t)view.len, path, &p, &r, &err)
                   : ovx_select_run(path, &p, &r, &err);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        ret = ovx_py_raise(path_obj, "select", err.code ? err.code : rc, err.msg);
        goto done;
    }
    ret = result_dict(r, timings);
    ovx_select_result_free(r);
done:
    if (have_view)
        PyBuffer_Release(&view);
    Py_XDECREF(path_bytes);
    Py_DECREF(path_obj);
    return ret;
}

static PyMethodDef ovx_methods[] = {
    {"select", py_select, METH_VARARGS,
     "select(path_or_bytes, options: dict, timings: bool, name=None) -> dict of raw buffers and the report JSON"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef ovx_module = {PyModuleDef_HEAD_INIT, "_ovx",
                                        "ovx's C extension (use the ovx package)", -1, ovx_methods,
                                        NULL, NULL, NULL, NULL};

/* OPTIONS: the option names of select_opts, a tuple. */
static int add_option_names(PyObject *m)
{
    size_t n = sizeof select_opts / sizeof *select_opts;
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; t && i < n; i++) {
        PyObject *s = PyUnicode_FromString(select_opts[i].name);
        if (!s) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, s);
    }
    if (!t)
        return -1;
    int rc = PyModule_AddObjectRef(m, "OPTIONS", t);
    Py_DECREF(t);
    return rc;
}

PyMODINIT_FUNC PyInit__ovx(void)
{
    PyObject *m = PyModule_Create(&ovx_module);
    if (!m)
        return NULL;
    ovx_py_error = PyErr_NewExceptionWithDoc("ovx.Error",
        "an ovx failure: .path (the input), .stage (options, select), .code (input, io, memory, "
        "usage, unsupported, ...), .status (the negative C status)", NULL, NULL);
    if (!ovx_py_error || PyModule_AddObjectRef(m, "Error", ovx_py_error) < 0 ||
        PyModule_AddIntConstant(m, "SLOTS", OVX_SELECT_SLOTS) < 0 ||
        PyModule_AddIntConstant(m, "GRID", OVX_SELECT_GRID) < 0 ||
        PyModule_AddIntConstant(m, "PATCH", OVX_SELECT_PATCH) < 0 ||
        PyModule_AddIntConstant(m, "SIZE", OVX_SELECT_SIZE) < 0 ||
        PyModule_AddStringConstant(m, "version", OVX_VERSION) < 0 || add_option_names(m) < 0 ||
        ovx_py_add_encoder(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
