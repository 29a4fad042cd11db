"""The tapegrad command: train the book's network, or benchmark the kernels.

    tapegrad train                      # Dense(512, relu) -> Dense(10, softmax) on MNIST
    tapegrad train --epochs 1 --backend cython --threads 1
    tapegrad train --model convnet      # chapter 8's convnet: 3 Conv2D, 2 MaxPooling2D, Dense(10)
    tapegrad bench kernels              # GEMM and friends against OpenBLAS / NumPy
    tapegrad bench train                # one training epoch against a NumPy loop
    tapegrad bench train --peers        # ... and PyTorch, Keras on JAX, TensorFlow, the matmul floor
    tapegrad bench train --model convnet --peers   # chapter 8's convnet: tapegrad, PyTorch, Keras on JAX
    tapegrad bench ladder               # from a naive triple loop to the packed GEMM

Errors end the command with one line on stderr (TAPEGRAD_DEBUG=1 shows the
traceback); when the reader of its output goes away (tapegrad train | head -1)
it stops quietly, as Unix tools do.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from . import __version__

OPTIMIZERS = ("rmsprop", "sgd", "adam")
MODELS = ("mlp", "convnet")
BOOK_BATCH_SIZE = {"mlp": 128, "convnet": 64}


def _positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1 (argparse turns the error into a usage message)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    """An argparse type: a number > 0 (NaN and infinity refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return value


def _integer(text: str) -> int:
    """An argparse type: any whole number, named in words in the error."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The command line: every option says its default, and its type or choices in words."""
    from tapegrad.kernels import BACKEND_NAMES, CPU_PREFERENCE

    summary, examples = __doc__.split("\n\n", 1)
    parser = argparse.ArgumentParser(prog="tapegrad", description=summary, epilog="examples:\n" + examples,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tapegrad {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,bench}")

    train = commands.add_parser("train", help="train the book's MNIST network and report test accuracy",
                                description="Train Dense(hidden, relu) -> Dense(10, softmax) (chapter 2), or "
                                            "chapter 8's convnet, on the MNIST files shipped with tapegrad, "
                                            "then print the test accuracy.")
    train.add_argument("--model", choices=MODELS, default="mlp",
                       help="mlp: Dense(hidden, relu) -> Dense(10); convnet: Conv2D(32/64/128, 3x3, relu) "
                            "with two MaxPooling2D, Flatten, Dense(10) (default: %(default)s)")
    train.add_argument("--epochs", type=_positive_int, default=5, metavar="N",
                       help="passes over the training images (default: %(default)s)")
    train.add_argument("--batch-size", type=_positive_int, default=None, metavar="N",
                       help="images per gradient step (default: 128; 64 with --model convnet, as the book)")
    train.add_argument("--optimizer", choices=OPTIMIZERS, default="rmsprop",
                       help="default: %(default)s")
    train.add_argument("--learning-rate", type=_positive_float, default=None, metavar="RATE",
                       help="a positive number (default: the optimizer's own, as in Keras)")
    train.add_argument("--hidden", type=_positive_int, default=512, metavar="N",
                       help="units of the hidden layer (default: %(default)s)")
    train.add_argument("--backend", choices=BACKEND_NAMES, default=None,
                       help="the kernels to run on (default: $TAPEGRAD_BACKEND if set, else the first "
                            f"available of {', '.join(CPU_PREFERENCE)})")
    train.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                       help="threads for the compiled kernels (default: auto: one per core, dropping to one while other processes want the cores)")
    train.add_argument("--seed", type=_integer, default=0,
                       help="seeds the weights and the shuffling (default: %(default)s)")
    train.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                       help="train on the first N images only, a quick smoke run (default: all 60000)")
    train.add_argument("--save-weights", metavar="PATH", default=None,
                       help="write the weights to PATH, a .npz file (default: not saved)")
    train.add_argument("--verbose", type=_integer, choices=(0, 1, 2), default=None,
                       help="0 silent, 1 progress bar, 2 one line per epoch (default: Keras's auto)")

    bench = commands.add_parser("bench", help="benchmark kernels or a training epoch",
                                description="Time our kernels, or a training epoch, against NumPy/OpenBLAS.")
    bench.add_argument("what", choices=("kernels", "train", "ladder"),
                       help="kernels: each kernel against OpenBLAS/NumPy; train: epochs against a NumPy loop; "
                            "ladder: a naive triple loop step by step to the packed micro-kernel")
    bench.add_argument("--threads", type=_positive_int, default=1, metavar="N",
                       help="threads for both sides: ours and OpenBLAS (default: %(default)s)")
    bench.add_argument("--backends", default=None, metavar="NAMES",
                       help=f"comma-separated, from {', '.join(BACKEND_NAMES)} "
                            "(default: numba,cython, those available)")
    bench.add_argument("--quick", action="store_true", help="fewer shapes and repetitions")
    bench.add_argument("--repeats", type=_positive_int, default=None, metavar="N",
                       help="alternating timing blocks per row; the median is reported (default: 11, 5 with --quick)")
    bench.add_argument("--peak-gflops", type=_positive_float, default=None, metavar="GFLOPS",
                       help="the machine's peak per thread (default: estimated)")
    bench.add_argument("--epochs", type=_positive_int, default=2, metavar="N",
                       help="epochs to time, bench train only (default: %(default)s)")
    bench.add_argument("--model", choices=MODELS, default="mlp",
                       help="bench train: the book's mlp (chapter 2) or chapter 8's convnet (default: %(default)s)")
    bench.add_argument("--kernel", metavar="MODULE:FUNCTION", default=None,
                       help="bench kernels: check your matmul(a, b) on awkward shapes, then time it with the others")
    bench.add_argument("--size", type=_positive_int, default=256, metavar="N",
                       help="bench ladder: n of the n x n x n matmul (default: %(default)s)")
    bench.add_argument("--profile", action="store_true",
                       help="bench train: where one step's time goes (GEMMs, element-wise kernels, optimizer, "
                            "batch gather, Python/tape), per backend")
    bench.add_argument("--peers", action="store_true",
                       help="bench train: also time the same epoch in PyTorch, Keras 3 on JAX and TensorFlow "
                            "(those installed), and the floor: OpenBLAS doing only the 5 matmuls per step")
    bench.add_argument("--json", metavar="PATH", default=None, help="also write the results as JSON")
    bench.add_argument("--plot", metavar="PATH", default=None, help="also draw GFLOP/s vs size (PNG; needs matplotlib)")
    return parser


def _check_save_path(path: str) -> None:
    """Fail before training, not after it, on a weights path that cannot be written."""
    import os

    if not path.endswith(".npz"):
        raise ValueError(f"--save-weights: {path!r} must end in '.npz' (weights are written as a NumPy .npz archive)")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"--save-weights: cannot write {path!r}: directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise ValueError(f"--save-weights: cannot write {path!r}: directory {directory!r} is not writable")


def train(args) -> int:
    import numpy as np

    import tapegrad
    from tapegrad import keras
    from tapegrad.keras import layers

    if args.save_weights:
        _check_save_path(args.save_weights)
    chief = True
    if tapegrad.distribute.launched_by_mpi():   # mpiexec -n 4 tapegrad train: data-parallel over the ranks
        keras.distribution.initialize()
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        chief = tapegrad.distribute.rank() == 0
    if args.backend:
        tapegrad.kernels.use(args.backend)
    if args.threads:
        tapegrad.kernels.set_num_threads(args.threads)
    tapegrad.random.set_seed(args.seed)

    (train_images, train_labels), (test_images, test_labels) = keras.datasets.mnist.load_data()
    if args.limit:
        train_images, train_labels = train_images[: args.limit], train_labels[: args.limit]
    shape = (28 * 28,) if args.model == "mlp" else (28, 28, 1)
    train_images = train_images.reshape((len(train_images), *shape)).astype("float32") / 255
    test_images = test_images.reshape((len(test_images), *shape)).astype("float32") / 255
    batch_size = args.batch_size or BOOK_BATCH_SIZE[args.model]

    if args.model == "convnet":   # chapter 8's first model, as the book writes it
        inputs = keras.Input(shape=(28, 28, 1))
        x = layers.Conv2D(filters=32, kernel_size=3, activation="relu")(inputs)
        x = layers.MaxPooling2D(pool_size=2)(x)
        x = layers.Conv2D(filters=64, kernel_size=3, activation="relu")(x)
        x = layers.MaxPooling2D(pool_size=2)(x)
        x = layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
        x = layers.Flatten()(x)
        outputs = layers.Dense(10, activation="softmax")(x)
        model = keras.Model(inputs=inputs, outputs=outputs)
    else:
        model = keras.Sequential([
            layers.Dense(args.hidden, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ])
    optimizer_class = {"rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD,
                       "adam": keras.optimizers.Adam}[args.optimizer]
    optimizer = optimizer_class() if args.learning_rate is None else optimizer_class(learning_rate=args.learning_rate)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    backend = tapegrad.kernels.get_backend()
    if chief:
        print(f"tapegrad {tapegrad.__version__}: backend {backend.name}, {len(train_images)} training images"
              + (f", {tapegrad.distribute.size()} processes" if tapegrad.distribute.size() > 1 else ""))
    if chief and args.model == "convnet":
        print(f"model: chapter 8's convnet, {model.count_params():,} parameters, batch size {batch_size}")
    verbose = "auto" if args.verbose is None else args.verbose
    start = time.perf_counter()
    model.fit(train_images, train_labels, epochs=args.epochs, batch_size=batch_size, verbose=verbose)
    seconds = time.perf_counter() - start
    test_loss, test_acc = model.evaluate(test_images, test_labels, batch_size=1024, verbose=0)
    if chief:
        print(f"trained {args.epochs} epoch(s) in {seconds:.1f}s; test_loss: {test_loss:.4f} - test_acc: {test_acc:.4f}")
    if args.save_weights and chief:
        model.save_weights(args.save_weights)
        print(f"weights saved to {args.save_weights}")
    return 0 if np.isfinite(test_loss) else 1


def bench(args) -> int:
    from tapegrad import benchmark

    return benchmark.main(args)


def main(argv=None) -> int:
    status = _run(build_parser().parse_args(argv))
    from tapegrad import distribute
    if status != 0 and distribute.is_initialized() and distribute.size() > 1:
        distribute.abort(status)   # one rank failed: end them all, or the others wait forever
    return status


def _run(args) -> int:
    try:
        status = train(args) if args.command == "train" else bench(args)
        sys.stdout.flush()   # a closed pipe shows here, not in the interpreter's exit
        return status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader closed the pipe: stop quietly, and point stdout at
        # /dev/null so the interpreter's last flush cannot complain either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13   # what a shell reports for a tool stopped by SIGPIPE
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        print(f"tapegrad {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if os.environ.get("TAPEGRAD_DEBUG"):
            raise
        print(f"tapegrad {args.command}: error: {type(exc).__name__}: {exc} "
              f"(unexpected; run with TAPEGRAD_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
