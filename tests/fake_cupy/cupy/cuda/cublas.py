"""The stand-in's ``cupy.cuda.cublas`` (CuPy's ``cupy_backends.cuda.libs.cublas``): the math mode of each handle,
kept here so that tests can read what gpubp set (``modes``; CUBLAS_DEFAULT_MATH, 0, until set)."""

CUBLAS_DEFAULT_MATH = 0
CUBLAS_TENSOR_OP_MATH = 1
modes = {}  # handle -> math mode
history = []  # every mode set, in order


def setMathMode(handle, mode):
    modes[handle] = mode
    history.append(mode)


def getMathMode(handle):
    return modes.get(handle, CUBLAS_DEFAULT_MATH)
