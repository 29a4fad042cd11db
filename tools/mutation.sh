#!/usr/bin/env bash
# Mutation testing: plant small bugs in the code, one at a time, and see whether the tests notice.
#
#   tools/mutation.sh [MODULE[:FIRST-LAST] ...]
#   e.g. tools/mutation.sh src/tapegrad/tape.py src/tapegrad/keras/models.py:220-330
#
# With no argument it runs every target below.  FIRST-LAST mutates only those lines (a sample of
# a big module, through mutmut's --use-patch-file).  Each MODULE is mutated by mutmut 2.x
# (`pip install -e ".[dev,mutation]"`), and for each
# mutant only the fast test files that cover that module run (table below), with -x, so a run
# takes seconds per mutant.  A mutant is "killed" when a test fails, "survived" when all pass:
# a surviving mutant is a bug the suite would let through.
#
# It never touches your working tree: it clones the committed HEAD (or MUTATION_COMMIT, e.g. an
# older commit to compare scores before and after new tests) into a scratch folder
# (MUTATION_DIR, default /tmp/tapegrad-mutation), copies the compiled Cython kernels there, and
# mutates the clone; the Keras tests run on the cython backend.  Commit before you run it.
# Results: per module, a summary line and the surviving mutants' diffs in
# $MUTATION_DIR/report-<module>.txt.  Not run in CI (a full run takes a long time on 2 cores).
set -euo pipefail

repo=$(git rev-parse --show-toplevel)
work=${MUTATION_DIR:-/tmp/tapegrad-mutation}
python=${PYTHON:-$(command -v python)}

# module -> the fast tests that pin it
tests_for() {
    case "$1" in
        src/tapegrad/tape.py)       echo "tests/core/test_tape.py tests/core/test_engine_grads.py tests/core/test_tape_forward_values.py" ;;
        src/tapegrad/keras/node.py|src/tapegrad/keras/models.py)   # the graph: functional models, saving
                                    echo "tests/keras/test_keras_functional.py tests/keras/test_saving.py tests/keras/test_keras.py
                                          tests/keras/test_keras_custom_layers.py tests/keras/test_keras_graph_training.py
                                          tests/keras/test_keras_deep_graph.py" ;;
        src/tapegrad/keras/metrics.py)       echo "tests/keras/test_keras.py tests/keras/test_keras_fit.py tests/keras/test_metrics_state.py" ;;
        src/tapegrad/keras/serialization.py) echo "tests/keras/test_saving.py tests/keras/test_keras.py tests/keras/test_config_errors.py tests/keras/test_custom_objects.py" ;;
        src/tapegrad/data.py)       echo "tests/data/test_data.py tests/data/test_dataset_counts.py" ;;
        src/tapegrad/keras/*)       echo "tests/keras/test_keras.py tests/keras/test_keras_fit.py tests/keras/test_keras_progress.py" ;;
        src/tapegrad/datasets/*)    echo "tests/data/test_datasets.py -k idx" ;;   # the IDX reader tests
        *) echo "tools/mutation.sh: no tests listed for $1" >&2; exit 1 ;;
    esac
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(src/tapegrad/tape.py src/tapegrad/keras/callbacks.py src/tapegrad/keras/metrics.py
             src/tapegrad/keras/models.py src/tapegrad/keras/optimizers.py src/tapegrad/keras/losses.py
             src/tapegrad/keras/layers.py src/tapegrad/datasets/idx.py)
fi

"$python" -c "import mutmut" 2>/dev/null || { echo "install mutmut 2.x first: pip install 'mutmut<3'" >&2; exit 1; }
rm -rf "$work"
git clone -q "$repo" "$work"
git -C "$work" checkout -q "${MUTATION_COMMIT:-HEAD}"
cp "$repo"/kernels/*.so "$work/kernels/"
ln -s ../../kernels "$work/src/tapegrad/kernels"   # import tapegrad.kernels from the clone
cd "$work"
export PYTHONPATH="$work/src" TAPEGRAD_BACKEND=cython
"$python" -c "import tapegrad, tapegrad.kernels as K; assert tapegrad.__file__.startswith('$work'), tapegrad.__file__"

# mutmut 2.5.1 sometimes cannot find a mutant's cache row when it records a result (pony raises
# "Mutant.line is required" and the run hangs); skip that one record, it stays "untested".
mutmut_tolerating_lost_records='
import sys, mutmut.cache
record = mutmut.cache.update_mutant_status
def record_or_skip(**kwargs):
    try:
        record(**kwargs)
    except ValueError as error:
        print("mutation.sh: a result not recorded:", kwargs.get("mutation_id"), error, file=sys.stderr)
mutmut.cache.update_mutant_status = record_or_skip
sys.argv[0] = "mutmut"
from mutmut.__main__ import climain
climain()
'

for target in "${targets[@]}"; do
    module=${target%%:*}
    tests=""
    for word in $(tests_for "$module"); do   # an older MUTATION_COMMIT may lack some test files
        case "$word" in tests/*) [ -e "$word" ] || continue ;; esac
        tests="$tests $word"
    done
    only_lines=()
    if [ "$target" != "$module" ]; then   # a patch that "adds" lines FIRST-LAST: mutmut mutates only those
        range=${target#*:}
        sed "${range%-*},${range#*-}d" "$module" >lines.orig
        diff -u --label "a/$module" --label "b/$module" lines.orig "$module" >lines.patch || true
        only_lines=(--use-patch-file lines.patch)
    fi
    rm -f .mutmut-cache
    "$python" -c "$mutmut_tolerating_lost_records" run --paths-to-mutate "$module" "${only_lines[@]}" --tests-dir tests --no-progress --simple-output \
        --runner "$python -m pytest -x -q -m 'not slow' -p no:cacheprovider $tests" \
        >"run-$(basename "$module").log" 2>&1 || true
    report="report-$(basename "$module" .py).txt"
    "$python" -m mutmut results >"$report" 2>&1 || true
    "$python" - "$target" <<'PY'
import sqlite3, sys
db = sqlite3.connect(".mutmut-cache")
rows = dict(db.execute("select status, count(*) from Mutant group by status").fetchall())
killed, survived = rows.get("ok_killed", 0), rows.get("bad_survived", 0)
other = sum(rows.values()) - killed - survived
total = killed + survived
print(f"{sys.argv[1]}: killed {killed}, survived {survived}, other {other} (timeouts/suspicious/untested)"
      f" -> score {killed / total:.0%}" if total else f"{sys.argv[1]}: no mutants run")
PY
    for id in $("$python" -m mutmut result-ids survived 2>/dev/null); do
        "$python" -m mutmut show "$id" >>"$report" 2>&1
    done
done
