"""Training throughput of gpubp against a plain NumPy matrix-form trainer, in one run, on synthetic MNIST-shaped data.

    python benchmarks/train_throughput.py [--device cpu|gpu|auto] [--dtype float32|float64] [--repeats 5]

For each network and batch size it trains whole epochs (after one warm-up epoch), takes the median samples/s over
``--repeats`` epochs, and prints it beside the same figure for the peer: the textbook vectorised trainer (one
GEMM per layer per mini-batch, NumPy temporaries, σ = 1/(1+e^−z)) from the same initial weights on the CPU. The
ratio gpubp/peer is what to compare across machines; the seconds are this machine's. A fuller ``gpubp bench``
(PyTorch, per-sample loop, GEMM roofline) is its own issue.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import gpubp

GRID = [((784, 30, 10), 10, 10_000), ((784, 100, 10), 100, 10_000), ((784, 1024, 1024, 10), 256, 4_096)]


def synthetic_data(n, n_in, n_out, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, n_in), dtype=np.float64).astype(dtype), rng.integers(0, n_out, n)


def gpubp_rate(sizes, batch, data, dtype, device, repeats):
    net = gpubp.Network(sizes, dtype=dtype, device=device, seed=0)
    history = net.SGD(data, repeats + 1, batch, 0.1, monitor_training_cost=False)
    return statistics.median(h.samples_per_s for h in history[1:])


def numpy_peer_rate(sizes, batch, data, dtype, repeats):
    """The vectorised trainer a careful student writes first: clear NumPy, a fresh array per operation."""
    net = gpubp.Network(sizes, dtype=dtype, device="cpu", seed=0)
    weights, biases = net.parameters()
    x, labels = data
    y = np.eye(sizes[-1], dtype=dtype)[labels]
    rng, eta, rates = np.random.default_rng(0), dtype(0.1), []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        order = rng.permutation(len(x))
        xs, ys = x[order], y[order]
        for k in range(0, len(x), batch):
            acts = [xs[k:k + batch]]
            for w, b in zip(weights, biases):
                acts.append(1 / (1 + np.exp(-(acts[-1] @ w.T + b))))
            delta = (acts[-1] - ys[k:k + batch]) * acts[-1] * (1 - acts[-1])
            for l in reversed(range(len(weights))):
                grad_w, grad_b = delta.T @ acts[l], delta.sum(axis=0)
                if l > 0:
                    delta = (delta @ weights[l]) * acts[l] * (1 - acts[l])
                weights[l] -= eta / len(delta) * grad_w
                biases[l] -= eta / len(delta) * grad_b
        rates.append(len(x) / (time.perf_counter() - start))
    return statistics.median(rates[1:])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-peer", action="store_true", help="skip the NumPy peer")
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype).type
    backend = gpubp.get_backend(args.device)
    print(f"device: {backend.name} — {backend.device_name} ({backend.reason}); dtype {args.dtype}")
    print(f"{'network':>22} {'batch':>6} {'gpubp samples/s':>16} {'NumPy peer':>12} {'ratio':>7}")
    with np.errstate(over="ignore"):  # the peer's exp overflows harmlessly for very negative z
        for sizes, batch, n in GRID:
            data = synthetic_data(n, sizes[0], sizes[-1], dtype)
            ours = gpubp_rate(sizes, batch, data, dtype, args.device, args.repeats)
            peer = None if args.no_peer else numpy_peer_rate(sizes, batch, data, dtype, args.repeats)
            peer_text = "—" if peer is None else f"{peer:12,.0f} {ours / peer:6.2f}×"
            print(f"{str(list(sizes)):>22} {batch:>6} {ours:16,.0f} {peer_text:>20}")


if __name__ == "__main__":
    main()
