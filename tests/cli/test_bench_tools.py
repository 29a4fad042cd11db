"""Bring your own kernel (`tapegrad bench kernels --kernel`) and the GEMM ladder: correctness only.

Nothing here times anything for a claim; the CLI runs use the NumPy backend,
one repeat and a given peak, so they finish in seconds.
"""

import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from tapegrad import ladder
from tapegrad.benchmark import baselines, peers, train, your_kernel
from tapegrad.benchmark import profile as step_profile
from tapegrad.benchmark.kernels import MLP_SHAPES

LADDER_SHAPES = [(1, 1, 1), (1, 7, 1), (3, 1, 5), (17, 31, 33), (70, 130, 45)]
SMALL_BLOCKS = {"mc": 8, "kc": 16, "nc": 12}  # smaller than the shapes, so every block edge is hit

USER_KERNELS = '''
import numpy as np

def good(a, b):
    return a @ b

def off_by_one_when_deep(a, b):
    c = a @ b
    if a.shape[1] > 300:      # a bug only a deep k exposes
        c[-1, -1] += 1.0
    return c

def wrong_shape(a, b):
    return (a @ b)[:, :1]
'''


@pytest.mark.parametrize("m,k,n", LADDER_SHAPES)
@pytest.mark.parametrize("step", [name for name, _, _ in ladder.STEPS])
def test_ladder_steps_match_numpy(step, m, k, n):
    fn = dict((name, f) for name, f, _ in ladder.STEPS)[step]
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    ref = a.astype(np.float64) @ b
    tol = 1e-5 * np.sqrt(k) * (np.abs(a).astype(np.float64) @ np.abs(b)) + 1e-30
    results = [fn(a, b)]
    if step in ("blocked", "packed"):
        results.append(fn(a, b, **SMALL_BLOCKS))
    for c in results:
        assert c.shape == (m, n) and c.dtype == np.float32
        assert np.all(np.abs(c - ref) <= tol), f"{step} wrong at {(m, k, n)}"


def test_ladder_has_every_rung_in_order():
    names = [name for name, _, _ in ladder.ladder("numpy")]
    assert names == ["naive", "reordered", "blocked", "packed", "micro-kernel", "OpenBLAS"]


def test_check_matmul_names_the_first_failing_shape():
    assert your_kernel.check_matmul(np.matmul) is None
    msg = your_kernel.check_matmul(lambda a, b: (a @ b) * (1 + 1e-3))
    assert "(m, k, n) = (1, 1, 1)" in msg
    msg = your_kernel.check_matmul(lambda a, b: a @ b if a.shape[0] < 100 else np.zeros((a.shape[0], b.shape[1])))
    assert "(129, 257, 65)" in msg
    msg = your_kernel.check_matmul(lambda a, b: np.full((a.shape[0], b.shape[1]), np.nan, np.float32))
    assert "(1, 1, 1)" in msg
    msg = your_kernel.check_matmul(lambda a, b: 1 / 0)
    assert "raised ZeroDivisionError" in msg


def bench(*args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "tapegrad", "bench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def user_dir(tmp_path):
    (tmp_path / "mykernels.py").write_text(USER_KERNELS)
    return tmp_path


def test_a_wrong_kernel_is_refused_naming_the_shape(user_dir):
    proc = bench("kernels", "--kernel", "mykernels:off_by_one_when_deep", "--backends", "numpy",
                 "--peak-gflops", "100", cwd=user_dir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "(m, k, n) = (13, 384, 17)" in proc.stderr and "C[12, 16]" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = bench("kernels", "--kernel", "mykernels:wrong_shape", "--backends", "numpy",
                 "--peak-gflops", "100", cwd=user_dir)
    assert proc.returncode == 1 and "returned shape (3, 1), expected (3, 5)" in proc.stderr


def test_a_bad_kernel_spec_is_a_clear_error(user_dir):
    for spec, words in [("mykernels", "must be MODULE:FUNCTION"), ("nosuchmodule:f", "cannot import"),
                        ("mykernels:nothing", "has no function 'nothing'")]:
        proc = bench("kernels", "--kernel", spec, "--backends", "numpy", "--peak-gflops", "100", cwd=user_dir)
        assert proc.returncode == 2 and words in proc.stderr, (spec, proc.stderr)


def test_a_correct_kernel_is_timed_with_the_others(user_dir):
    proc = bench("kernels", "--kernel", "mykernels:good", "--backends", "numpy", "--quick", "--repeats", "1",
                 "--peak-gflops", "100", "--json", "out.json", cwd=user_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "matches the reference on 12 shapes" in proc.stdout
    rows = json.loads((user_dir / "out.json").read_text())["rows"]
    matmul_shapes = {r["shape"] for r in rows if r["kernel"] == "matmul"}
    yours = {r["shape"] for r in rows if r["backend"] == "yours"}
    assert yours == matmul_shapes and len(yours) == len(MLP_SHAPES) + 3   # + squares 256-1024
    assert all(r["gflops"] > 0 for r in rows if r["backend"] == "yours")
    assert re.search(r"^matmul +square 256 +yours ", proc.stdout, re.M), proc.stdout


def test_ladder_command_prints_every_rung(user_dir):
    proc = bench("ladder", "--size", "48", "--backends", "numpy", "--repeats", "1", "--peak-gflops", "100",
                 "--json", "ladder.json", cwd=user_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads((user_dir / "ladder.json").read_text())["rows"]
    assert [r["step"] for r in rows] == ["naive", "reordered", "blocked", "packed", "micro-kernel", "OpenBLAS"]
    for r in rows:
        assert r["gflops"] > 0 and r["percent_of_peak"] == pytest.approx(r["gflops"])  # peak given as 100
        assert r["step"] in proc.stdout


# ------------------------------------------------------------------ bench train --profile
SLEEP_S = 0.002


def test_profile_names_every_part_and_adds_up(monkeypatch):
    """Each matmul call is made to sleep 2 ms more: that time must land in the
    GEMMs part (a lower bound, so load cannot break it), the parts must sum to
    the timed step.  (How much the timers slow the step is reported, not asserted:
    a timing bound fails on a loaded machine.)"""
    import tapegrad.kernels as K

    real_matmul = K.matmul
    calls = [0]

    def slow_matmul(*args, **kwargs):
        calls[0] += 1
        time.sleep(SLEEP_S)
        return real_matmul(*args, **kwargs)

    monkeypatch.setattr(K, "matmul", slow_matmul)
    profile = step_profile.profile_train_step("numpy", limit=640, rounds=3)
    rows = {r["part"]: r for r in profile["rows"]}
    assert list(rows) == list(step_profile.PROFILE_PARTS)
    assert all(r["ms_per_step"] >= 0 for r in rows.values())
    assert sum(r["ms_per_step"] for r in rows.values()) == pytest.approx(profile["step_ms"], rel=1e-9)
    assert sum(r["percent"] for r in rows.values()) == pytest.approx(100.0)
    matmuls_per_step = calls[0] / (profile["steps"] * (1 + 2 * profile["rounds"]))
    assert matmuls_per_step >= 2                       # the backward pass's GEMMs
    assert rows["GEMMs"]["ms_per_step"] >= 1e3 * SLEEP_S * matmuls_per_step
    assert rows["optimizer"]["ms_per_step"] < rows["GEMMs"]["ms_per_step"]
    assert profile["untimed_ms"] > 0
    # the timers are gone afterwards
    assert K.matmul is slow_matmul


def test_profile_command_prints_the_table(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tapegrad", "bench", "train", "--profile", "--quick",
                          "--repeats", "1", "--backends", "numpy", "--json", str(tmp_path / "p.json")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for part in step_profile.PROFILE_PARTS:
        assert re.search(rf"^{re.escape(part)}\s+\d+\.\d+\s+\d+\.\d%$", out.stdout, re.M), out.stdout
    saved = json.loads((tmp_path / "p.json").read_text())
    assert [r["part"] for r in saved["profiles"]["numpy"]["rows"]] == list(step_profile.PROFILE_PARTS)


def test_profile_is_refused_outside_bench_train():
    out = subprocess.run([sys.executable, "-m", "tapegrad", "bench", "kernels", "--profile"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "--profile is an option of `tapegrad bench train`" in out.stderr


# ------------------------------------------------------------------ bench train --peers
def _small_mnist(limit=None):
    rng = np.random.default_rng(0)
    return rng.random((300, 784), dtype=np.float32), rng.integers(0, 10, 300).astype(np.uint8)


def test_peers_fake_peer_is_timed_and_missing_peer_is_listed(monkeypatch, capsys):
    """A peer registered in PEERS gets the bench's data, batch size and threads,
    is warmed up and timed once per epoch, and shows in the table and the JSON
    rows; a peer whose module is missing is a "not installed" row with its pip
    command; one that fails to start says so.  No time is asserted."""
    seen = {}

    def make_fake(x, y, batch_size, threads):
        seen.update(x=x, y=y, batch_size=batch_size, threads=threads, epochs=0)

        def epoch():
            seen["epochs"] += 1
        return epoch

    def make_broken(x, y, batch_size, threads):
        raise RuntimeError("no device")

    monkeypatch.setattr(train, "_mnist", _small_mnist)
    monkeypatch.setattr(peers, "PEERS", [
        peers.Peer("fake peer", (), "pip install fake", make_fake),
        peers.Peer("missing peer", ("tapegrad_no_such_module",), "pip install missing-peer", make_fake),
        peers.Peer("broken peer", (), "pip install broken", make_broken),
    ])
    rows = train.train_rows(["numpy"], threads=1, epochs=2, quick=True, peers=True)
    by_name = {r["loop"]: r for r in rows}
    assert seen["x"].shape == (300, 784) and seen["batch_size"] == 128 and seen["threads"] == 1
    assert seen["epochs"] == 3                                   # one warm-up, two timed
    assert by_name["fake peer"]["status"] == "ok" and by_name["fake peer"]["seconds_per_epoch"] > 0
    assert by_name["missing peer"] == {"loop": "missing peer", "status": "not installed",
                                       "install": "pip install missing-peer"}
    assert by_name["broken peer"]["status"] == "failed: RuntimeError: no device"
    floor = by_name[baselines.FLOOR]
    assert floor["floor_over_this"] == 1.0 and "floor_over_this" in by_name["tapegrad numpy"]
    assert json.loads(json.dumps(rows)) == rows
    train.print_train_table(rows)
    out = capsys.readouterr().out
    assert re.search(r"^fake peer\s+\d+\.\d+\s+\d+\.\d+x\s+\d+\.\d+$", out, re.M), out
    assert "missing peer                     not installed (pip install missing-peer)" in out


def test_without_peers_there_is_no_floor_and_no_peer(monkeypatch):
    monkeypatch.setattr(train, "_mnist", _small_mnist)
    monkeypatch.setattr(peers, "PEERS", [peers.Peer("fake peer", (), "pip install fake",
                                                            lambda *a, **k: pytest.fail("called"))])
    rows = train.train_rows(["numpy"], threads=1, epochs=1, quick=True)
    assert [r["loop"] for r in rows] == ["numpy+openblas", "tapegrad numpy", "tapegrad numpy run_eagerly"]


def test_floor_is_the_five_matmuls_of_each_step(monkeypatch):
    """The floor runs exactly the step's five GEMMs, on each batch's shapes
    (300 images: batches of 128, 128 and 44), and nothing else through matmul."""
    x, y = _small_mnist()
    epoch = baselines.floor_epoch_loop(x, y)
    shapes = []
    real = np.matmul

    def counting(a, b, **kwargs):
        shapes.append((a.shape, b.shape))
        return real(a, b, **kwargs)

    monkeypatch.setattr(np, "matmul", counting)
    epoch()
    expected = []
    for rows in (128, 128, 44):
        expected += [((rows, 784), (784, 512)), ((rows, 512), (512, 10)), ((rows, 10), (10, 512)),
                     ((784, rows), (rows, 512)), ((512, rows), (rows, 10))]
    assert shapes == expected


def test_peers_is_refused_outside_bench_train():
    out = subprocess.run([sys.executable, "-m", "tapegrad", "bench", "kernels", "--peers"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "--peers is an option of `tapegrad bench train`" in out.stderr



@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="holding the bench to one core needs Linux's sched_setaffinity and two cores")
def test_bench_train_holds_its_process_to_the_thread_count_in_cores():
    """`bench train --threads 1` runs on one core, so that a peer's helper
    threads (JAX's asynchronous dispatch) cannot use a second one."""
    env = {k: v for k, v in os.environ.items() if k != "TAPEGRAD_BENCH_CHILD"}
    out = subprocess.run([sys.executable, "-m", "tapegrad", "bench", "train", "--quick", "--epochs", "1",
                          "--backends", "numpy"], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    first = sorted(os.sched_getaffinity(0))[0]
    assert f"process held to core(s) {first}\n" in out.stdout, out.stdout
