"""The GPU side of every kernel: ``CupyOps`` compiles each entry of ``kernels.KERNELS`` for CuPy arrays.

Each elementwise entry becomes one ``cupy.ElementwiseKernel`` named ``gpubp_<step>``, kept as an attribute of the
same name, so that ``ops.bias_relu(z, b, out)`` is the kernel's own call, with no Python frame in between: CuPy
casts each scalar argument to its parameter's type (``T`` as the arrays decide it, ``int64``, ``uint64``), as read
in ``cupy/_core/_kernel.pyx`` (``CScalar.apply_dtype`` after ``_decide_params_type``), and a (rows, 1) array
broadcasts against a (rows, cols) one. Each row-wise entry becomes one ``cupy.RawKernel`` per dtype. CuPy compiles
a kernel on its first call for a given dtype and caches the binary on disk.
"""

from __future__ import annotations

import numpy as np

from .kernels import KERNELS, ROW_THREADS, KernelSpec, RowKernelSpec, row_kernel_source


class CupyOps:
    """The kernels for CuPy arrays: every elementwise entry of ``KERNELS`` as a ``cupy.ElementwiseKernel``
    attribute, and one ``cupy.RawKernel`` per dtype for each row-wise entry, built once.

    The softmax is a ``RawKernel`` with one thread per row, not a ``ReductionKernel`` or CuPy functions. The output
    layer is narrow (10 classes is typical), so a thread reads its row from L1 three times and writes it once, in
    one launch. A ``ReductionKernel`` needs two reductions (max, sum) and two elementwise passes, and CuPy
    functions (max, subtract, exp, sum, divide) five launches and temporaries; at batch 10, where a whole step
    takes tens of microseconds, every launch (about 5 µs) counts. One thread per row underuses the GPU only
    where the batch is small and the output layer wide, and then the layer is cheap next to its GEMM.
    """

    def __init__(self, cupy) -> None:
        self.xp = cupy
        for name, spec in KERNELS.items():
            if isinstance(spec, KernelSpec):
                kernel = cupy.ElementwiseKernel(spec.in_params, spec.out_params, spec.body, name=f"gpubp_{name}")
                setattr(self, name, kernel)
        self._row_kernels = {
            (name, np.dtype(dtype)): cupy.RawKernel(row_kernel_source(name, c_type), f"gpubp_{name}_{c_type}")
            for name, spec in KERNELS.items()
            if isinstance(spec, RowKernelSpec)
            for dtype, c_type in (("float32", "float"), ("float64", "double"))
        }

    def _run_rows(self, name, *arrays):
        """Launch row-wise kernel ``name`` over C-contiguous (rows, cols) arrays (the last one is the output); a
        network array's (members, rows, cols) runs as members·rows rows, each member's ``rows`` sharing one bias."""
        *lead, rows, cols = arrays[-1].shape
        total = rows * (lead[0] if lead else 1)
        blocks = min(-(-total // ROW_THREADS), 65535)  # the loop inside strides over any rows beyond the grid
        self._row_kernels[name, arrays[-1].dtype](
            (blocks,), (ROW_THREADS,), (np.int64(total), np.int64(cols), np.int64(rows), *arrays)
        )
        return arrays[-1]

    def bias_softmax(self, z, b, out):
        # The kernel reads the biases as one C-contiguous (members, cols) block: a network array's are its members'
        # rows of the flat buffer, P elements apart, so they are gathered first (members × cols numbers).
        return self._run_rows("bias_softmax", z, b if b.flags.c_contiguous else self.xp.ascontiguousarray(b), out)

    def sum_rows(self, a, out):
        return self.xp.sum(a, axis=-2, out=out, keepdims=out.ndim == a.ndim)
