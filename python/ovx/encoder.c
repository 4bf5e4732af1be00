/* encoder.c: ovx._ovx.Encoder, the OneVision Encoder from Python: the
 * weights are loaded once (ovx_model_load) and bound to a device
 * (ovx_engine_open_ex, "auto" falling back to the CPU), then every
 * forward(pixels, shape, indices, n_visible, hidden_state) runs with the GIL
 * released, one at a time per encoder (a lock), with signals blocked in the
 * calling thread (the CPU forward's JIT kernels move the stack into the
 * heap, where Python's C-level handlers must not run; model.h). Raw float32
 * buffers in and out: ovx/encoder.py turns them into numpy arrays. */
#include "_ovx.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <pythread.h>

#include <ovx/device.h>
#include <ovx/engine.h>
#include <ovx/model.h>
#include <ovx/tokens.h>

typedef struct {
    PyObject_HEAD
    ovx_model *model;
    ovx_engine *engine;
    PyObject *name;          /* the model argument, for error messages */
    PyThread_type_lock lock; /* one forward at a time */
} encoder_object;

static void encoder_dealloc(encoder_object *self)
{
    ovx_engine_free(self->engine);
    ovx_model_free(self->model);
    if (self->lock)
        PyThread_free_lock(self->lock);
    Py_XDECREF(self->name);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Encoder(model, device="auto", precision="auto", threads=0) */
static int encoder_init(encoder_object *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"model", "device", "precision", "threads", NULL};
    PyObject *model_obj;
    const char *dev_arg = "auto", *prec_arg = "auto";
    int threads = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|ssi", names, &model_obj, &dev_arg, &prec_arg, &threads))
        return -1;
    if (self->model) {
        PyErr_SetString(PyExc_RuntimeError, "Encoder is already initialised");
        return -1;
    }
    PyObject *path_bytes = NULL;
    if (!PyUnicode_FSConverter(model_obj, &path_bytes))
        return -1;
    Py_XSETREF(self->name, Py_NewRef(model_obj));
    ovx_error err;
    ovx_error_clear(&err);
    ovx_device want, dev;
    int precision = OVX_PRECISION_FP32;
    char note[1200] = "", why[512] = "";
    if (threads < 0 || threads > 4096) {
        Py_DECREF(path_bytes);
        ovx_py_raise(model_obj, "options", OVX_EUSAGE, "threads must be 0 (all cores) to 4096");
        return -1;
    }
    if (ovx_precision_parse(prec_arg, &precision) < 0) {
        Py_DECREF(path_bytes);
        ovx_py_raise(model_obj, "options", OVX_EUSAGE, "precision: expected fp32, bf16 or auto");
        return -1;
    }
    if (ovx_device_parse(dev_arg, &want, &err) < 0) {
        Py_DECREF(path_bytes);
        ovx_py_raise(model_obj, "options", err.code, err.msg);
        return -1;
    }
    const char *path = PyBytes_AS_STRING(path_bytes);
    int rc, fallback = !strcmp(dev_arg, "auto");
    ovx_model *m = NULL;
    ovx_engine *eng = NULL;
    const char *stage = "device";
    Py_BEGIN_ALLOW_THREADS
    rc = ovx_device_resolve(&want, &dev, note, sizeof note, &err);
    if (rc >= 0) {
        if (precision == OVX_PRECISION_AUTO) /* as `ovx forward --precision auto` */
            precision = dev.kind == OVX_DEVICE_CPU ? ovx_precision_auto(why, sizeof why) : OVX_PRECISION_FP32;
        ovx_model_params mp = ovx_model_default_params();
        mp.threads = threads;
        mp.precision = dev.kind == OVX_DEVICE_CPU ? precision : OVX_PRECISION_FP32;
        stage = "model";
        rc = ovx_model_load(path, &mp, &m, &err);
        if (rc >= 0 && precision != OVX_PRECISION_FP32)
            rc = ovx_model_set_precision(m, precision, &err);
        if (rc >= 0) {
            stage = "device";
            rc = ovx_engine_open_ex(m, &dev, fallback, &eng, &err);
        }
    }
    Py_END_ALLOW_THREADS
    Py_DECREF(path_bytes);
    if (rc < 0) {
        ovx_model_free(m);
        ovx_py_raise(model_obj, stage, err.code ? err.code : rc, err.msg);
        return -1;
    }
    self->lock = PyThread_allocate_lock();
    if (!self->lock) {
        ovx_engine_free(eng);
        ovx_model_free(m);
        PyErr_NoMemory();
        return -1;
    }
    self->model = m;
    self->engine = eng;
    return 0;
}

static encoder_object *ready(PyObject *o)
{
    encoder_object *self = (encoder_object *)o;
    if (!self->model || !self->engine) {
        PyErr_SetString(PyExc_RuntimeError, "Encoder is not initialised");
        return NULL;
    }
    return self;
}

/* dict[name] = bytearray of n floats (a copy); 0 or -1. */
static int put_floats(PyObject *d, const char *name, const float *x, int64_t n)
{
    PyObject *b = x ? PyByteArray_FromStringAndSize((const char *)x, (Py_ssize_t)(n * (int64_t)sizeof(float)))
                    : Py_NewRef(Py_None);
    if (!b)
        return -1;
    int rc = PyDict_SetItemString(d, name, b);
    Py_DECREF(b);
    return rc;
}

/* forward(pixels, shape, indices, n_visible, hidden_state): pixels a
 * float32 C-contiguous buffer of shape [B,3,H,W] or [B,3,T,H,W]; indices
 * None or an int64 buffer [B, n_visible]; hidden_state an HF layer index or
 * None. Returns {"last_hidden_state": bytearray, "pooler_output":
 * bytearray|None, "hidden_state": bytearray|None, "batch", "tokens", "dim"}. */
static PyObject *encoder_forward(PyObject *o, PyObject *args)
{
    encoder_object *self = ready(o);
    if (!self)
        return NULL;
    PyObject *px_obj, *shape_obj, *idx_obj, *hs_obj;
    int n_visible;
    if (!PyArg_ParseTuple(args, "OO!OiO", &px_obj, &PyTuple_Type, &shape_obj, &idx_obj, &n_visible, &hs_obj))
        return NULL;
    Py_ssize_t nd = PyTuple_GET_SIZE(shape_obj);
    if (nd != 4 && nd != 5)
        return ovx_py_raise(self->name, "forward", OVX_EUSAGE, "pixel values must be [B,3,H,W] or [B,3,T,H,W]");
    int64_t shape[5], count = 1;
    for (Py_ssize_t i = 0; i < nd; i++) {
        long long v = PyLong_AsLongLong(PyTuple_GET_ITEM(shape_obj, i));
        if (v == -1 && PyErr_Occurred())
            return NULL;
        if (v <= 0 || v > 1000000 || (i == 0 && v > 65536) || (i == 1 && v > 64))
            return ovx_py_raise(self->name, "forward", OVX_EUSAGE, "bad pixel-value dimension");
        shape[i] = v;
        if (count > INT64_MAX / v)
            return ovx_py_raise(self->name, "forward", OVX_EUSAGE, "pixel values too large");
        count *= v;
    }
    int hs = OVX_NO_HIDDEN_STATE;
    if (hs_obj != Py_None) {
        long v = PyLong_AsLong(hs_obj);
        if (v == -1 && PyErr_Occurred())
            return NULL;
        if (v < -1000 || v > 1000)
            return ovx_py_raise(self->name, "forward", OVX_EUSAGE, "hidden_state: not a layer index");
        hs = (int)v;
    }
    Py_buffer px = {0}, idx = {0};
    if (PyObject_GetBuffer(px_obj, &px, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    PyObject *ret = NULL;
    int have_idx = 0;
    if ((int64_t)px.len != count * (int64_t)sizeof(float)) {
        ovx_py_raise(self->name, "forward", OVX_EUSAGE, "pixel buffer size does not match its shape");
        goto done;
    }
    if (idx_obj != Py_None) {
        if (PyObject_GetBuffer(idx_obj, &idx, PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        have_idx = 1;
        if (n_visible < 1 || n_visible > (1 << 24) ||
            (int64_t)idx.len != shape[0] * (int64_t)n_visible * (int64_t)sizeof(int64_t)) {
            ovx_py_raise(self->name, "forward", OVX_EUSAGE, "visible indices must be int64 [B, N] with N >= 1");
            goto done;
        }
    }
    ovx_pixel_input in = {.pixels = px.buf, .batch = (int)shape[0], .channels = (int)shape[1],
                          .frames = nd == 5 ? (int)shape[2] : 1, .height = (int)shape[nd - 2],
                          .width = (int)shape[nd - 1], .visible_indices = have_idx ? idx.buf : NULL,
                          .n_visible = have_idx ? n_visible : 0};
    ovx_token_buffer tok = {0};
    ovx_outputs out = {.hidden_state_index = hs};
    ovx_error err;
    ovx_error_clear(&err);
    int64_t D = ovx_model_get_config(self->model)->hidden_size;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    sigset_t all, old;
    sigfillset(&all);
    int sync_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP};
    for (size_t i = 0; i < sizeof sync_sigs / sizeof *sync_sigs; i++)
        sigdelset(&all, sync_sigs[i]);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    rc = ovx_model_tokens_from_pixels(ovx_model_get_config(self->model), &in, &tok, &err);
    if (rc >= 0)
        rc = ovx_engine_forward(self->engine, &tok.tokens, &out, &err);
    if (rc >= 0)
        rc = ovx_outputs_check_finite(&out, in.batch, (int64_t)in.batch * tok.tokens.n, (int)D, "model forward", &err);
    PyThread_release_lock(self->lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        ovx_py_raise(self->name, "forward", err.code ? err.code : rc, err.msg);
    } else {
        int64_t rows = (int64_t)in.batch * tok.tokens.n;
        PyObject *d = PyDict_New();
        PyObject *b = PyLong_FromLong(in.batch), *n = PyLong_FromLong(tok.tokens.n), *dim = PyLong_FromLongLong(D);
        if (d && b && n && dim && put_floats(d, "last_hidden_state", out.last_hidden_state, rows * D) == 0 &&
            put_floats(d, "pooler_output", out.pooler_output, (int64_t)in.batch * D) == 0 &&
            put_floats(d, "hidden_state", out.hidden_state, rows * D) == 0 &&
            PyDict_SetItemString(d, "batch", b) == 0 &&
            PyDict_SetItemString(d, "tokens", n) == 0 && PyDict_SetItemString(d, "dim", dim) == 0)
            ret = Py_NewRef(d);
        Py_XDECREF(d);
        Py_XDECREF(b);
        Py_XDECREF(n);
        Py_XDECREF(dim);
    }
    ovx_outputs_free(&out);
    ovx_token_buffer_free(&tok);
done:
    if (have_idx)
        PyBuffer_Release(&idx);
    PyBuffer_Release(&px);
    return ret;
}

/* device -> "cpu" or "cuda:N" (after any fallback) */
static PyObject *encoder_device(PyObject *o, void *closure)
{
    (void)closure;
    encoder_object *self = ready(o);
    if (!self)
        return NULL;
    char buf[32];
    return PyUnicode_FromString(ovx_device_str(ovx_engine_device(self->engine), buf, sizeof buf));
}

/* config -> dict of the model's config */
static PyObject *encoder_config(PyObject *o, void *closure)
{
    (void)closure;
    encoder_object *self = ready(o);
    if (!self)
        return NULL;
    const ovx_model_config *c = ovx_model_get_config(self->model);
    return Py_BuildValue("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "hidden_size", c->hidden_size, "num_layers",
                         c->num_layers, "num_heads", c->num_heads, "patch_size", c->patch_size, "num_channels",
                         c->num_channels, "image_size", c->image_size, "rope_temporal_size", c->rope_temporal_size,
                         "use_head", c->use_head);
}

static PyMethodDef encoder_methods[] = {
    {"forward", encoder_forward, METH_VARARGS,
     "forward(pixels, shape, indices, n_visible, hidden_state) -> dict of raw float32 outputs"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef encoder_getset[] = {
    {"device", encoder_device, NULL, "the device forwards run on: cpu or cuda:N", NULL},
    {"config", encoder_config, NULL, "the model's config", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject encoder_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ovx._ovx.Encoder",
    .tp_basicsize = sizeof(encoder_object),
    .tp_dealloc = (destructor)encoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Encoder(model, device='auto', precision='auto', threads=0): the loaded OneVision Encoder",
    .tp_methods = encoder_methods,
    .tp_getset = encoder_getset,
    .tp_init = (initproc)encoder_init,
    .tp_new = PyType_GenericNew,
};

int ovx_py_add_encoder(PyObject *m)
{
    if (PyType_Ready(&encoder_type) < 0)
        return -1;
    return PyModule_AddObjectRef(m, "Encoder", (PyObject *)&encoder_type);
}
