"""The cuda backend: every kernel as a numba.cuda kernel on an NVIDIA GPU.

Arrays of this backend are Numba device arrays (``cuda.device_array``,
``cuda.to_device``); they stay on the GPU between calls, so a training loop
that keeps its parameters, optimizer state and activations here copies
only each batch in and the loss out.  :func:`tapegrad.kernels.to_numpy` (or
``backend.to_numpy``) copies an array back.

The kernels:

* ``matmul`` / ``dense_forward``: the tiled, register-blocked SGEMM of
  :mod:`.cuda_gemm`, with bias and relu fused into its store;
* ``relu``, ``relu_backward``, ``dropout_forward`` / ``dropout_backward``,
  ``sigmoid_cross_entropy`` and the optimizer updates: one fused
  grid-stride pass each (every thread handles elements ``i, i + stride,
  ...``, so one launch of a fixed size covers any length);
* ``softmax`` and ``softmax_cross_entropy``: one warp-sized row of threads
  per matrix row, several rows per block; the row max and the row sum are
  tree reductions in shared memory.  (Warp shuffles, ``cuda.shfl_xor_sync``,
  would do the same without shared memory, but Numba's CUDA simulator does
  not implement them, and the simulator is where these kernels are tested.)
  ``softmax_cross_entropy`` writes the loss and the gradient in one kernel;
* ``bias_grad``: column sums, a 32 x 8 block per 32 columns.

Only float32 is supported (``dtypes``): that is what GPUs are fast at.

Importing this module never touches a GPU and never fails: numba.cuda is
imported inside a ``try`` and every kernel compiles on its first launch.
:func:`check_available` (called by the dispatcher when the backend is first
asked for) raises a clear error on a machine without a GPU.  Under Numba's
CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` set before numba is imported)
everything runs, slowly, in Python: that is how the tests run it.
"""

from __future__ import annotations

import math

import numpy as np

from ._backend import ArrayOps, Backend

if not hasattr(np, "row_stack"):
    # NumPy 2.5 removed np.row_stack (an alias of vstack since 2.0); numba-cuda
    # 0.30 still registers an overload for it while compiling its first kernel
    # and fails with AttributeError (seen on an H200, 2026-11-30).  Restoring the
    # alias is all it needs; nothing in tapegrad calls it.
    np.row_stack = np.vstack

try:
    from numba import cuda, float32
    from numba.core import config as _numba_config

    from . import cuda_gemm, cuda_xp
    _IMPORT_ERROR = None
except ImportError as exc:  # numba without a CUDA target
    cuda = None
    cuda_gemm = cuda_xp = None
    _IMPORT_ERROR = exc

F32 = np.dtype(np.float32)

_NO_GPU = (
    "no CUDA GPU found (and NUMBA_ENABLE_CUDASIM is not set); install the cuda extra "
    "(pip install 'tapegrad[cuda]') and run on a machine with an NVIDIA GPU"
)


def check_available() -> None:
    """Raise ImportError or RuntimeError, with the reason, if no GPU can run us."""
    if cuda is None:
        raise ImportError(f"numba.cuda cannot be imported ({_IMPORT_ERROR}); {_NO_GPU}")
    if not cuda.is_available():
        raise RuntimeError(_NO_GPU)


def simulated() -> bool:
    """True when numba.cuda is Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1)."""
    return cuda is not None and bool(_numba_config.ENABLE_CUDASIM)


# ====================================================================== kernels
# Defined only when numba.cuda imported; ``cuda.jit`` without a signature
# compiles lazily, on the first launch, for the argument types it sees.
if cuda is not None:

    @cuda.jit
    def _relu(x, out):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        zero = float32(0)
        for i in range(start, x.shape[0], stride):
            v = x[i]
            out[i] = v if not v < zero else zero   # keeps NaN, like np.maximum

    @cuda.jit
    def _relu_backward(grad_out, x, out):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, x.shape[0], stride):
            out[i] = grad_out[i] if x[i] > float32(0) else float32(0)

    @cuda.jit
    def _dropout(x, u, threshold, scale, out, mask):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        zero = float32(0)
        for i in range(start, x.shape[0], stride):
            if u[i] >= threshold:
                mask[i] = scale
                out[i] = x[i] * scale
            else:
                mask[i] = zero
                out[i] = zero

    @cuda.jit
    def _dropout_backward(grad_out, mask, out):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        zero = float32(0)
        for i in range(start, mask.shape[0], stride):
            m = mask[i]
            out[i] = grad_out[i] * m if m != zero else zero

    @cuda.jit
    def _sigmoid_cross_entropy(x, z, scale, loss_out, grad_out):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        zero = float32(0)
        one = float32(1)
        for i in range(start, x.shape[0], stride):
            xi = x[i]
            zi = z[i]
            e = math.exp(-abs(xi))          # in (0, 1]: never overflows
            loss_out[i] = (xi if xi > zero else zero) - xi * zi + math.log1p(e)
            s = one / (one + e) if xi >= zero else e / (one + e)
            grad_out[i] = (s - zi) * scale

    # ---- row-wise kernels: block = (WARP lanes, ROWS rows); lane j of row i
    # visits columns j, j + WARP, ...; the per-row reductions go through
    # shared memory, a tree over the WARP lanes.
    WARP = 32
    ROWS = 4

    @cuda.jit(device=True)
    def _row_max(sh, row, lane, value):
        sh[row, lane] = value
        cuda.syncthreads()
        step = WARP // 2
        while step > 0:
            if lane < step:
                sh[row, lane] = max(sh[row, lane], sh[row, lane + step])
            cuda.syncthreads()
            step //= 2
        result = sh[row, 0]
        cuda.syncthreads()   # everyone has read it before sh is reused
        return result

    @cuda.jit(device=True)
    def _row_sum(sh, row, lane, value):
        sh[row, lane] = value
        cuda.syncthreads()
        step = WARP // 2
        while step > 0:
            if lane < step:
                sh[row, lane] += sh[row, lane + step]
            cuda.syncthreads()
            step //= 2
        result = sh[row, 0]
        cuda.syncthreads()
        return result

    @cuda.jit(device=True)
    def _row_max_and_logsum(logits, sh, i, local, lane, valid):
        """The max of row i and log(sum(exp(row - max))); all threads call it."""
        c = logits.shape[1]
        mx = logits[i, 0] if valid else float32(0)
        if valid:
            for j in range(lane, c, WARP):
                mx = max(mx, logits[i, j])
        mx = _row_max(sh, local, lane, mx)
        total = float32(0)
        if valid:
            for j in range(lane, c, WARP):
                total += math.exp(logits[i, j] - mx)
        total = _row_sum(sh, local, lane, total)
        return mx, math.log(total) if valid else float32(0)

    @cuda.jit
    def _softmax(logits, out):
        sh = cuda.shared.array((ROWS, WARP), float32)
        lane = cuda.threadIdx.x
        local = cuda.threadIdx.y
        i = cuda.blockIdx.x * ROWS + local
        valid = i < logits.shape[0]   # no early return: every thread must sync
        mx, log_sum = _row_max_and_logsum(logits, sh, i, local, lane, valid)
        if valid:
            for j in range(lane, logits.shape[1], WARP):
                out[i, j] = math.exp(logits[i, j] - mx - log_sum)

    @cuda.jit
    def _softmax_cross_entropy(logits, labels, scale, loss_out, grad_out):
        sh = cuda.shared.array((ROWS, WARP), float32)
        lane = cuda.threadIdx.x
        local = cuda.threadIdx.y
        i = cuda.blockIdx.x * ROWS + local
        valid = i < logits.shape[0]
        mx, log_sum = _row_max_and_logsum(logits, sh, i, local, lane, valid)
        if valid:
            label = labels[i]
            if lane == 0:   # -log p[label] = log_sum - (logit[label] - max)
                loss_out[i] = log_sum - (logits[i, label] - mx)
            for j in range(lane, logits.shape[1], WARP):
                p = math.exp(logits[i, j] - mx - log_sum)
                if j == label:
                    p -= float32(1)
                grad_out[i, j] = p * scale

    # ---- column sums: block = (32 columns, 8 row groups)
    COL_TILE = 32
    ROW_GROUPS = 8

    @cuda.jit
    def _bias_grad(grad_out, out):
        sh = cuda.shared.array((ROW_GROUPS, COL_TILE), float32)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        j = cuda.blockIdx.x * COL_TILE + tx
        n, m = grad_out.shape
        total = float32(0)
        if j < m:
            for i in range(ty, n, ROW_GROUPS):   # coalesced: a warp reads one row
                total += grad_out[i, j]
        sh[ty, tx] = total
        cuda.syncthreads()
        if ty == 0 and j < m:
            for g in range(1, ROW_GROUPS):
                total += sh[g, tx]
            out[j] = total

    # ---- optimizer updates: one fused pass over param, grad and the state
    @cuda.jit
    def _sgd(param, grad, velocity, lr, momentum, has_velocity, nesterov):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, param.shape[0], stride):
            g = grad[i]
            if has_velocity:
                v = momentum * velocity[i] - lr * g
                velocity[i] = v
                if nesterov:
                    param[i] += momentum * v - lr * g
                else:
                    param[i] += v
            else:
                param[i] -= lr * g

    @cuda.jit
    def _rmsprop(param, grad, v, lr, rho, one_minus_rho, eps):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, param.shape[0], stride):
            g = grad[i]
            vi = rho * v[i] + one_minus_rho * g * g
            v[i] = vi
            param[i] -= lr * g / math.sqrt(vi + eps)

    @cuda.jit
    def _adam(param, grad, m, v, alpha, one_minus_b1, one_minus_b2, eps):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, param.shape[0], stride):
            g = grad[i]
            mi = m[i] + (g - m[i]) * one_minus_b1
            vi = v[i] + (g * g - v[i]) * one_minus_b2
            m[i] = mi
            v[i] = vi
            param[i] -= alpha * mi / (math.sqrt(vi) + eps)

    # ---- metric totals: a float64 running sum that stays on the device
    @cuda.jit
    def _accumulate_sum(values, weight, total):
        """One block: each thread sums a strided share, then adds it atomically."""
        partial = 0.0                       # float64
        for i in range(cuda.threadIdx.x, values.shape[0], cuda.blockDim.x):
            partial += values[i]
        cuda.atomic.add(total, 0, partial * weight)

    @cuda.jit
    def _accumulate_correct(scores, labels, total):
        """One thread per row: its argmax (first on ties, as np.argmax); a row
        holding a NaN has no argmax and never counts."""
        i = cuda.grid(1)
        if i < scores.shape[0]:
            best = 0
            top = scores[i, 0]
            has_nan = top != top
            for j in range(1, scores.shape[1]):
                v = scores[i, j]
                if v != v:
                    has_nan = True
                elif v > top:
                    best = j
                    top = v
            if best == labels[i] and not has_nan:
                cuda.atomic.add(total, 0, 1.0)

    @cuda.jit
    def _fill(out, value):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, out.shape[0], stride):
            out[i] = value

    @cuda.jit
    def _copy1d(src, out):
        """out[i] = src[i] for a src of any stride."""
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, out.shape[0], stride):
            out[i] = src[i]

    @cuda.jit
    def _copy2d(src, out):
        """out[i, j] = src[i, j] for a src of any strides (a C-contiguous copy)."""
        j, i = cuda.grid(2)
        if i < out.shape[0] and j < out.shape[1]:
            out[i, j] = src[i, j]


def _f32(x) -> np.float32:
    return np.float32(x)


# ====================================================================== backend
class CudaBackend(Backend):
    """Kernels on an NVIDIA GPU through numba.cuda; arrays are device arrays."""

    name = "cuda"
    host = False
    dtypes = (F32,)

    #: threads per block of the 1-D (grid-stride) kernels
    threads = 256
    #: force one SGEMM tile configuration (a ``cuda_gemm.Tiles``); None picks
    #: one by problem size from ``cuda_gemm.PRODUCTION_TILES``
    gemm_tiles = None
    #: upper bound on the blocks of a grid-stride launch (None: 32 per SM)
    max_blocks = None

    def __init__(self):
        self._sm_count = None
        self._dummy = None
        self._xp = None

    @property
    def xp(self):
        """The array contract (ARRAY_OPS) on device arrays, implemented in :mod:`.cuda_xp`."""
        if self._xp is None:
            self._xp = ArrayOps("cuda_xp", cuda_xp)
        return self._xp

    # ------------------------------------------------------------ helpers
    def sm_count(self) -> int:
        if self._sm_count is None:
            count = 1
            get_device = getattr(cuda, "get_current_device", None)
            if get_device is not None and not simulated():
                count = int(getattr(get_device(), "MULTIPROCESSOR_COUNT", 1))
            self._sm_count = count
        return self._sm_count

    def _grid1d(self, n: int):
        """(blocks, threads) for a grid-stride loop over n elements."""
        cap = self.max_blocks or 32 * self.sm_count()
        return max(1, min(math.ceil(n / self.threads), cap)), self.threads

    def _placeholder(self):
        """A 1-element float32 array passed where an optional array is absent."""
        if self._dummy is None:
            self._dummy = cuda.device_array(1, F32)
        return self._dummy

    # ------------------------------------------------------------ arrays
    def is_array(self, x) -> bool:
        return getattr(type(x), "__cuda_ndarray__", False) is True

    def asarray(self, x, dtype=None):
        """A device array: device arrays pass through (cast if ``dtype``
        differs), anything else is copied host -> device once."""
        if self.is_array(x):
            if dtype is not None and np.dtype(dtype) != x.dtype:
                return cuda_xp.astype(x, dtype)
            return x
        is_foreign = getattr(cuda, "is_cuda_array", None)   # (absent in the simulator)
        if is_foreign is not None and is_foreign(x):
            # another library's GPU array (CuPy, PyTorch): a view, no copy
            return self.asarray(cuda.as_cuda_array(x), dtype)
        # np.array(order="C"), not np.ascontiguousarray: that turns 0-d into (1,)
        host = np.array(x, dtype=dtype, order="C", copy=None)
        return cuda.to_device(host)

    def astype(self, x, dtype):
        if x.dtype == np.dtype(dtype):
            return x
        return cuda_xp.astype(x, dtype)

    def ascontiguous(self, x):
        if not self.is_array(x):
            return self.asarray(x)
        if x.is_c_contiguous():
            return x
        if x.ndim == 2:
            out = self.empty(x.shape, x.dtype)
            block = (16, 16)
            grid = (math.ceil(x.shape[1] / 16), math.ceil(x.shape[0] / 16))
            _copy2d[grid, block](x, out)
            return out
        if x.ndim == 1:
            out = self.empty(x.shape, x.dtype)
            blocks, threads = self._grid1d(x.shape[0])
            _copy1d[blocks, threads](x, out)
            return out
        return cuda.to_device(np.array(x.copy_to_host(), order="C"))

    def to_numpy(self, x) -> np.ndarray:
        if self.is_array(x):
            return x.copy_to_host()
        return np.asarray(x)

    def empty(self, shape, dtype):
        return cuda.device_array(shape, dtype=np.dtype(dtype))

    def zeros(self, shape, dtype):
        return self.full(shape, 0, dtype)

    def full(self, shape, value, dtype):
        out = self.empty(shape, dtype)
        if out.size:
            self.fill(out, value)
        return out

    def fill(self, out, value):
        """Set every element of a C-contiguous device array to ``value``."""
        flat = out.reshape(-1)
        blocks, threads = self._grid1d(flat.shape[0])
        _fill[blocks, threads](flat, out.dtype.type(value))
        return out

    def is_c_contiguous(self, x) -> bool:
        return x.is_c_contiguous() if self.is_array(x) else x.flags.c_contiguous

    def is_f_contiguous(self, x) -> bool:
        return x.is_f_contiguous() if self.is_array(x) else x.flags.f_contiguous

    def is_writeable(self, x) -> bool:
        return True

    def write(self, out, host_array) -> None:
        host = np.asarray(host_array, dtype=out.dtype)
        host = np.array(np.broadcast_to(host, out.shape), order="C")
        out.copy_to_device(host)

    def copy_into(self, out, x) -> None:
        out.copy_to_device(x)

    @staticmethod
    def _address(x) -> int:
        """The device address of an array's first element (under the CUDA
        simulator, the host address of the NumPy array it wraps)."""
        interface = getattr(x, "__cuda_array_interface__", None)
        if interface is None:
            interface = x._ary.__array_interface__
        return interface["data"][0] or 0

    @classmethod
    def _byte_span(cls, x):
        """(first byte, one past the last byte) of a device array's memory."""
        start = cls._address(x)
        lo = hi = start
        for length, stride in zip(x.shape, x.strides):
            if length == 0:
                return start, start
            if stride > 0:
                hi += (length - 1) * stride
            else:
                lo += (length - 1) * stride
        return lo, hi + x.dtype.itemsize

    def may_overlap(self, a, b) -> bool:
        a_lo, a_hi = self._byte_span(a)
        b_lo, b_hi = self._byte_span(b)
        return a_lo < b_hi and b_lo < a_hi

    def same_start(self, a, b) -> bool:
        return self._address(a) == self._address(b)

    # ------------------------------------------------------------ kernels
    def matmul(self, a, b, transpose_a, transpose_b, out):
        return self._gemm(a, b, None, False, transpose_a, transpose_b, out)

    def dense_forward(self, x, w, b, relu, out):
        return self._gemm(x, w, b, relu, False, False, out)

    def _gemm(self, a, b, bias, relu, transpose_a, transpose_b, out):
        m, n = out.shape
        tiles = self.gemm_tiles or cuda_gemm.choose_tiles(m, n, self.sm_count())
        has_bias = bias is not None
        return cuda_gemm.launch(a, b, out, bias if has_bias else self._placeholder(),
                                has_bias, relu, transpose_a, transpose_b, tiles)

    def relu(self, x, out):
        blocks, threads = self._grid1d(x.shape[0])
        _relu[blocks, threads](x, out)
        return out

    def relu_backward(self, grad_out, x, out):
        blocks, threads = self._grid1d(x.shape[0])
        _relu_backward[blocks, threads](grad_out, x, out)
        return out

    def dropout_forward(self, x, uniform, rate, scale, out, mask):
        blocks, threads = self._grid1d(x.shape[0])
        _dropout[blocks, threads](x, uniform, _f32(rate), _f32(scale), out, mask)

    def dropout_backward(self, grad_out, mask, out):
        blocks, threads = self._grid1d(mask.shape[0])
        _dropout_backward[blocks, threads](grad_out, mask, out)
        return out

    def sigmoid_cross_entropy(self, logits, labels, scale, loss_out, grad_out):
        blocks, threads = self._grid1d(logits.shape[0])
        _sigmoid_cross_entropy[blocks, threads](logits, labels, _f32(scale), loss_out, grad_out)

    def softmax(self, logits, out):
        _softmax[math.ceil(logits.shape[0] / ROWS), (WARP, ROWS)](logits, out)
        return out

    def softmax_cross_entropy(self, logits, labels, scale, loss_out, grad_out):
        grid = math.ceil(logits.shape[0] / ROWS)
        _softmax_cross_entropy[grid, (WARP, ROWS)](logits, labels, _f32(scale), loss_out, grad_out)

    def bias_grad(self, grad_out, out):
        grid = math.ceil(grad_out.shape[1] / COL_TILE)
        _bias_grad[grid, (COL_TILE, ROW_GROUPS)](grad_out, out)
        return out

    def sgd_update(self, param, grad, velocity, lr, momentum, nesterov):
        blocks, threads = self._grid1d(param.shape[0])
        has_velocity = velocity is not None
        _sgd[blocks, threads](param, grad, velocity if has_velocity else self._placeholder(),
                              _f32(lr), _f32(momentum), int(has_velocity), int(bool(nesterov)))

    def rmsprop_update(self, param, grad, v, lr, rho, eps):
        blocks, threads = self._grid1d(param.shape[0])
        _rmsprop[blocks, threads](param, grad, v, _f32(lr), _f32(rho), _f32(1.0 - rho), _f32(eps))

    def accumulate_sum(self, values, weight, total):
        _accumulate_sum[1, self.threads](values, np.float64(weight), total)

    def accumulate_correct(self, scores, labels, total):
        rows = scores.shape[0]
        _accumulate_correct[math.ceil(rows / self.threads), self.threads](scores, labels, total)

    def adam_update(self, param, grad, m, v, lr, beta1, beta2, eps, step):
        # the bias corrections are one scalar per step: computed here in float64
        alpha = lr * math.sqrt(1.0 - beta2**step) / (1.0 - beta1**step)
        blocks, threads = self._grid1d(param.shape[0])
        _adam[blocks, threads](param, grad, m, v, _f32(alpha), _f32(1.0 - beta1),
                               _f32(1.0 - beta2), _f32(eps))


backend = CudaBackend()
