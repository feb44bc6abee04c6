"""How much memory this process can still take, on the host and on the GPU, asked before anything is allocated.

On the host the figure is Linux's ``MemAvailable`` (what can be allocated without swapping, page cache that can be
dropped included), within the memory limit of the process's control group where one is set (a container started
with ``--memory``, a Slurm job); elsewhere the physical memory. Not the physical memory alone: the kernel grants a
large allocation on credit (overcommit) and, once the pages are touched and cannot be backed, its out-of-memory
killer ends the process with SIGKILL, silently. On a GPU the figure is CUDA's free memory on the current device
(``cupy.cuda.Device().mem_info``) plus what CuPy's memory pool holds but does not use, within the pool's limit
(``CUPY_GPU_MEMORY_LIMIT``). ``gpubp/model/memory.py`` sizes what a network and a run need and compares.
"""

from __future__ import annotations

import os

MEMINFO = "/proc/meminfo"
NO_LIMIT = 1 << 60  # control groups write "max" (v2) or about 2^63 (v1) for no limit
CGROUP_FILES = (  # (limit, usage, statistics) of the process's control group, as a container sees its own
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.stat", "inactive_file"),
    (
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        "/sys/fs/cgroup/memory/memory.stat",
        "total_inactive_file",
    ),
)


def meminfo_available() -> int | None:
    """``MemAvailable`` of /proc/meminfo in bytes, or None where there is none."""
    try:
        with open(MEMINFO, "rb") as meminfo:
            for line in meminfo:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def cgroup_room() -> int | None:
    """Bytes the process's control group may still take before its own out-of-memory killer strikes (its limit
    less what it uses, page cache it can drop aside), or None where it has no limit."""
    for limit_file, usage_file, stat_file, reclaimable_key in CGROUP_FILES:
        try:
            with open(limit_file) as f:
                text = f.read().strip()
            if text == "max" or int(text) >= NO_LIMIT:
                return None
            with open(usage_file) as f:
                usage = int(f.read())
            reclaimable = 0
            with open(stat_file) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == reclaimable_key:
                        reclaimable = int(value)
            return max(0, int(text) - max(0, usage - reclaimable))
        except (OSError, ValueError):
            continue
    return None


def host_available() -> int:
    """Bytes of host memory this process can still allocate without swapping or being killed for it."""
    figures = [figure for figure in (meminfo_available(), cgroup_room()) if figure is not None]
    if figures:
        return min(figures)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # a platform without sysconf: no limit we can state
        return NO_LIMIT


def gpu_available(cupy) -> int:
    """Bytes CuPy can still allocate on its current device: CUDA's free memory plus its pool's unused blocks,
    within the pool's limit."""
    free, _total = cupy.cuda.Device().mem_info
    pool = cupy.get_default_memory_pool()
    free += pool.free_bytes()
    limit = pool.get_limit()
    return min(free, max(0, limit - pool.used_bytes())) if limit else free
