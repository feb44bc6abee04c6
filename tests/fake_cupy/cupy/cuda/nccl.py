"""The stand-in's ``cupy.cuda.nccl``: like CuPy's, it always imports and says in ``available`` whether NCCL loaded."""

import os
import warnings

available = os.environ.get("FAKE_CUPY_FAILURE") != "nccl"
if not available:
    warnings.warn(
        "\nnccl library could not be loaded.\n\nReason: ImportError (libnccl.so.2: cannot open shared object file)\n",
        stacklevel=2,
    )
