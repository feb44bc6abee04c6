"""Wrap each kernel body of ``gpubp.backend.KERNELS`` as a host C++ function (for g++) or a CUDA kernel (for nvcc).

CuPy's ElementwiseKernel binds each input parameter to ``const T &name = element`` and each output parameter to
``T &name = element`` around the body, with ``i`` the element's index; these wrappers do the same, one element
per loop step, so the body is compiled exactly as written. Every parameter is passed as an array (a scalar
becomes a filled array); ``T`` is the element type, ``int64`` a ``long long``. A row-wise kernel runs its body
once per row with pointers to whole arrays, on the host as in ``row_kernel_source``'s CUDA, which is the very
source gpubp hands to NVRTC.
"""

from gpubp.backend import KERNELS
from gpubp.backend.kernels import KernelSpec, RowKernelSpec, row_kernel_parameters, row_kernel_source

ELEMENTWISE = {name: spec for name, spec in KERNELS.items() if isinstance(spec, KernelSpec)}
ROW_WISE = {name: spec for name, spec in KERNELS.items() if isinstance(spec, RowKernelSpec)}

C_TYPES = {"float32": "float", "float64": "double"}
OTHER_TYPES = {"int64": "long long", "uint64": "unsigned long long"}


def params(text: str) -> list[tuple[str, str]]:
    """``(type, name)`` of each parameter in a CuPy parameter list such as ``"T g, int64 n_weights"``."""
    return [tuple(p.split()) for p in text.split(",")]


def param_names(text: str) -> list[str]:
    return [name for _, name in params(text)]


def _bindings(spec, index: str) -> str:
    inputs = [
        f"const {'T' if kind == 'T' else OTHER_TYPES[kind]} &{name} = _in_{name}[{index}];"
        for kind, name in params(spec.in_params)
    ]
    outputs = [f"T &{name} = _out_{name}[{index}];" for name in param_names(spec.out_params)]
    return " ".join([f"const long long i = {index}; (void)i;"] + inputs + outputs)


def _arguments(spec, c_type: str) -> str:
    inputs = [
        f"const {c_type if kind == 'T' else OTHER_TYPES[kind]} *_in_{name}" for kind, name in params(spec.in_params)
    ]
    outputs = [f"{c_type} *_out_{name}" for name in param_names(spec.out_params)]
    return ", ".join(inputs + outputs)


def host_source() -> str:
    """C++ for g++: ``gpubp_<name>_<float|double>(long n, inputs…, outputs…)`` for every kernel."""
    parts = ["#include <cmath>", "using std::tanh; using std::exp; using std::log; using std::sqrt; using std::fmax;"]
    for name, spec in ELEMENTWISE.items():
        for c_type in C_TYPES.values():
            parts.append(
                f'extern "C" void gpubp_{name}_{c_type}(long _n, {_arguments(spec, c_type)}) {{\n'
                f"  typedef {c_type} T;\n"
                f"  for (long _k = 0; _k < _n; ++_k) {{ {_bindings(spec, '_k')} {spec.body}; }}\n}}"
            )
    for name, spec in ROW_WISE.items():
        for c_type in C_TYPES.values():
            parts.append(
                f'extern "C" void gpubp_{name}_{c_type}({row_kernel_parameters(spec, c_type)}) {{\n'
                f"  typedef {c_type} T;\n"
                f"  for (long long row = 0; row < rows; ++row) {{ {spec.body}\n  }}\n}}"
            )
    return "\n".join(parts) + "\n"


def cuda_source(c_type: str) -> str:
    """CUDA C++ for nvcc: one ``__global__`` grid-stride kernel per entry of KERNELS, for one element type."""
    parts = [row_kernel_source(name, c_type) for name in ROW_WISE]
    for name, spec in ELEMENTWISE.items():
        parts.append(
            f'extern "C" __global__ void gpubp_{name}_{c_type}(long long _n, {_arguments(spec, c_type)}) {{\n'
            f"  typedef {c_type} T;\n"
            f"  for (long long _k = blockIdx.x * (long long)blockDim.x + threadIdx.x; _k < _n;"
            f" _k += (long long)blockDim.x * gridDim.x) {{ {_bindings(spec, '_k')} {spec.body}; }}\n}}"
        )
    return "\n".join(parts) + "\n"
