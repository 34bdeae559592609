/* native_demo._native: a thin CPython wrapper over libnative_math. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "native_math.h"

static PyObject *
native_add(PyObject *self, PyObject *args)
{
    int a, b;
    if (!PyArg_ParseTuple(args, "ii:add", &a, &b)) {
        return NULL;
    }
    return PyLong_FromLong(nm_add(a, b));
}

static PyMethodDef native_methods[] = {
    {"add", native_add, METH_VARARGS, "add(a, b) -> a + b, computed by libnative_math."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "_native", "Bindings to libnative_math.", -1, native_methods,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    return PyModule_Create(&native_module);
}
