/* _ovx.h: what the extension's C files share: ovx.Error and how it is raised. */
#ifndef OVX_PY_OVX_H
#define OVX_PY_OVX_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

extern PyObject *ovx_py_error; /* ovx.Error */

/* Raises ovx.Error("PATH: msg") with .path, .stage, .code (the status's
 * name) and .status; returns NULL. */
PyObject *ovx_py_raise(PyObject *path, const char *stage, int code, const char *msg);

/* Adds the Encoder type to the module; 0 or -1 with an exception set. */
int ovx_py_add_encoder(PyObject *m);

#endif
