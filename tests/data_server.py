"""A dataset server for the download tests: generated IDX files under the real names, served from 127.0.0.1 by a
thread of the test process, a registry file describing them (GPUBP_DATA_REGISTRY), the environment of a gpubp
run against them with a cache of the test's own (``helpers.run(..., env=env)`` in this process, or
``helpers.gpubp`` and ``start`` here in a process of its own), and what to check of the cache afterwards."""

import gzip
import hashlib
import http.server
import json
import socket
import subprocess
import threading

import numpy as np
import pytest

from gpubp.data import download, registry

from helpers import environment, idx_bytes, start_gpubp


def generated_files(n_train=60, n_test=20, seed=0):
    """The four gzipped IDX files of a tiny dataset, by their real names."""
    rng = np.random.default_rng(seed)
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        files[f"{prefix}-images-idx3-ubyte.gz"] = idx_bytes(rng.integers(0, 256, (n, 28, 28)), 0x803)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = idx_bytes(np.arange(n) % 10, 0x801)
    return {name: gzip.compress(data, mtime=0) for name, data in files.items()}


GOOD = generated_files()
OTHER = generated_files(seed=1)  # same sizes, other bytes: what a tampered mirror serves


class Server(http.server.ThreadingHTTPServer):
    """Routes ``/FOLDER/NAME`` to bytes, or to ``("drop", bytes, n)`` (the first n bytes, then the connection
    closes) or ``("stall", bytes, n, event)`` (n bytes, the rest once the event is set). Anything else is a
    404."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes, self.requests = {}, []
        self.base = f"http://127.0.0.1:{self.server_address[1]}"

    def serve(self, folder, files):
        self.routes.update({f"/{folder}/{name}": data for name, data in files.items()})


class Handler(http.server.BaseHTTPRequestHandler):
    timeout = 30

    def do_GET(self):
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        kind, data, cut, event = (
            ("whole", route, len(route), None) if isinstance(route, bytes) else (route + (None,))[:4]
        )
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(data[:cut])
            self.wfile.flush()
            if kind == "stall" and event.wait(60):
                self.wfile.write(data[cut:])
        except OSError:  # the client gave up (a timeout) or was killed
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A server for one test, stopped at its end, or after two minutes whatever happens."""
    httpd = Server()
    # shutdown() waits for serve_forever to look at its flag, which it does every poll_interval (0.5 s by default)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    watchdog = threading.Timer(120, httpd.shutdown)
    watchdog.daemon = True
    watchdog.start()
    yield httpd
    watchdog.cancel()
    httpd.shutdown()
    httpd.server_close()


def dead_url():
    """A base URL where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def write_registry(path, urls, files=GOOD, algorithm="sha256", name="testset"):
    entry = {
        "urls": urls,
        "files": {
            n: {"checksum": f"{algorithm}:{hashlib.new(algorithm, d).hexdigest()}", "size": len(d)}
            for n, d in files.items()
        },
    }
    path.write_text(json.dumps({name: entry}))
    return path


@pytest.fixture
def env(tmp_path):
    """The environment of a gpubp run: an empty cache in tmp_path, no mirror, the test registry (once written)."""
    values = environment()
    values.pop(download.MIRROR_ENV_VAR, None)
    values.update(
        {download.CACHE_ENV_VAR: str(tmp_path / "cache"), registry.REGISTRY_ENV_VAR: str(tmp_path / "registry.json")}
    )
    return values


def cache_contents(tmp_path, name="testset"):
    """Every file in the dataset's cache folder but the lock file."""
    folder = tmp_path / "cache" / name
    return sorted(p.name for p in folder.iterdir() if p.name != ".lock") if folder.is_dir() else []


def assert_cached(tmp_path, files=GOOD):
    folder = tmp_path / "cache" / "testset"
    assert cache_contents(tmp_path) == sorted(files)
    assert all((folder / name).read_bytes() == data for name, data in files.items())


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def start(*args, env, cwd, log) -> subprocess.Popen:
    """``gpubp ARGS`` in a process of its own, in the background, its stderr written to the file ``log``."""
    with open(log, "w") as stderr:
        return start_gpubp(*args, env=env, cwd=cwd, stderr=stderr)


def wait_for(condition, what, seconds=60):
    for _ in range(seconds * 20):
        if condition():
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"timed out waiting for {what}")
