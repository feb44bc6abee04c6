"""The stand-in's ``cupy.cuda.memory``: CuPy's ``OutOfMemoryError`` (a ``MemoryError``), with CuPy 14's message."""


class OutOfMemoryError(MemoryError):
    def __init__(self, size, total, limit=0):
        message = f"Out of memory allocating {size:,} bytes"
        if total != -1:
            message += f" (allocated so far: {total:,} bytes)."
        super().__init__(message)
