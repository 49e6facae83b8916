#!/usr/bin/env bash
# The two entry points of the kit:
#
#   ./run.sh course   install what is missing, then run every demo and worked lab
#   ./run.sh test     install what is missing, then the test suite (nbval's output
#                     comparison included), labs check
#
# Installs: .venv (Python 3.11) with the package and its dev extras, Java 17 when
# it is missing (apt-get, as root), the Delta jars in ~/.m2, and for `test` the
# Debian chromium the browser test drives, Debian's PostgreSQL (initdb, pg_ctl)
# the MLflow-on-PostgreSQL test starts, Debian's bubblewrap for the grading
# sandbox, and JupyterHub with its proxy (npm) and Debian's acl for the classroom
# test. A second call skips every step that is already done. Extra arguments go to
# `mlops-kit course` or to pytest.
#
#   ./run.sh --dry-run test   print what would be installed and run, change nothing
set -euo pipefail

cd "$(dirname "$0")"
VENV=.venv
STAMP=$VENV/.mlops-kit-installed
PYTHON=${PYTHON:-python3.11}
DRY_RUN=0

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
run() {
    if [ "$DRY_RUN" = 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}
is_root() { [ "$(id -u)" = 0 ]; }

ensure_python() {
    command -v "$PYTHON" >/dev/null 2>&1 \
        || die "$PYTHON not found. Install Python 3.11 (e.g. apt-get install python3.11 python3.11-venv, or pyenv install 3.11), or set PYTHON=/path/to/python3.11."
    if [ -x "$VENV/bin/python" ] \
        && ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        die "$VENV was made with another Python; remove it (rm -rf $VENV) and run again."
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV with $PYTHON"
        run "$PYTHON" -m venv "$VENV"
    fi
}

ensure_packages() {
    if [ -f "$STAMP" ] && [ ! pyproject.toml -nt "$STAMP" ]; then
        return
    fi
    say "installing mlops-kit and its dependencies into $VENV"
    run "$VENV/bin/python" -m pip install --quiet --upgrade pip
    run "$VENV/bin/python" -m pip install --quiet -e ".[dev,trees]"
    run touch "$STAMP"
}

java_ok() {
    "$VENV/bin/python" -c 'from mlops_kit.java import find_java; find_java()' >/dev/null 2>&1
}

ensure_java() {
    if [ "$DRY_RUN" = 1 ] && ! "$VENV/bin/python" -c 'import mlops_kit' 2>/dev/null; then
        say "java check needs the package; skipped in a dry run"
        return
    fi
    java_ok && return
    if is_root && command -v apt-get >/dev/null 2>&1; then
        say "installing Java 17 (Spark 4 needs Java 17 or 21)"
        run apt-get update -qq
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless
        [ "$DRY_RUN" = 1 ] || java_ok || die "Java 17 was installed but is still not found; set JAVA_HOME."
    else
        die "Spark needs Java 17 or 21 and none was found. Install one (sudo apt-get install openjdk-17-jdk-headless, brew install openjdk@17, or conda install -c conda-forge openjdk=17) or set JAVA_HOME."
    fi
}

ensure_delta_jars() {
    # mlops-kit setup fetches io.delta:delta-spark with `mvn dependency:get` when mvn exists
    say "preparing the workspace and the Delta jars"
    run "$VENV/bin/mlops-kit" setup --no-data
}

test_package() {
    # Install Debian package $1 for the tests that need it ($2); without root those
    # tests are skipped and say why. Extra arguments go to apt-get install.
    local package=$1 needed_by=$2
    shift 2
    if is_root && command -v apt-get >/dev/null 2>&1; then
        say "installing Debian's $package for $needed_by"
        run apt-get update -qq
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" "$package"
    else
        say "$package is missing and we are not root: $needed_by will be skipped"
    fi
}

ensure_browser() {
    # Only the browser test (widgets in a real JupyterLab) needs it.
    grep -rqs "mark.browser" tests/ || return 0
    command -v chromium >/dev/null 2>&1 || test_package chromium "the browser tests"
}

ensure_bubblewrap() {
    # `mlops-kit labs grade` runs each submission in a bubblewrap sandbox (and as root).
    command -v bwrap >/dev/null 2>&1 || test_package bubblewrap "the grading sandbox tests"
}

pg_bin_dir() {
    # Debian puts initdb and pg_ctl in /usr/lib/postgresql/<major>/bin, not on PATH
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    return 1
}

ensure_postgres() {
    # The MLflow-on-PostgreSQL test starts its own server in a temporary folder; it
    # needs initdb and pg_ctl (not a running service).
    pg_bin_dir >/dev/null || test_package postgresql "the MLflow-on-PostgreSQL test" \
        --no-install-recommends
}

ensure_classroom() {
    # The classroom test (tests/test_classroom.py, as root) runs a real JupyterHub: the
    # `classroom` extra, its proxy from npm into .venv/node, and setfacl (Debian's acl),
    # with which the classroom lets its learners reach the kit's Python.
    "$VENV/bin/python" -c 'import jupyterhub' 2>/dev/null \
        || { say "installing the classroom extra (JupyterHub)"; \
             run "$VENV/bin/python" -m pip install --quiet -e ".[dev,trees,classroom]"; }
    if [ ! -x "$VENV/node/node_modules/.bin/configurable-http-proxy" ]; then
        if command -v npm >/dev/null 2>&1; then
            say "installing JupyterHub's proxy (configurable-http-proxy) into $VENV/node"
            run npm install --silent --no-fund --no-audit --prefix "$VENV/node" \
                configurable-http-proxy@4
        else
            say "npm is missing: the classroom test will be skipped (install Node.js 20)"
        fi
    fi
    command -v setfacl >/dev/null 2>&1 || test_package acl "the classroom test"
}

run_course() {
    run "$VENV/bin/mlops-kit" course "$@"
}

cpu_ticks() {  # the machine's busy and idle CPU ticks so far (Linux; "0 0" elsewhere)
    awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6; exit}' /proc/stat 2>/dev/null || echo "0 0"
}

phase() {
    # phase NAME COMMAND...: run COMMAND as `run` does, then say how long it took and how
    # busy the machine's CPUs were meanwhile (docs/PERFORMANCE.md reads these lines).
    local name=$1 started=$SECONDS status=0 busy0 idle0 busy1 idle1
    shift
    read -r busy0 idle0 < <(cpu_ticks)
    run "$@" || status=$?
    read -r busy1 idle1 < <(cpu_ticks)
    if [ "$DRY_RUN" = 0 ]; then
        awk -v n="$name" -v s=$((SECONDS - started)) -v b=$((busy1 - busy0)) \
            -v i=$((idle1 - idle0)) 'BEGIN { printf "==> phase %s: %d s, CPUs %.0f%% busy\n",
            n, s, (b + i) ? 100 * b / (b + i) : 0 }'
    fi
    return "$status"
}

run_tests() {
    if [ $# -gt 0 ]; then  # focused run: only what was asked
        run "$VENV/bin/pytest" "$@"
        return
    fi
    local started=$SECONDS
    if "$VENV/bin/mlops-kit" labs build --help >/dev/null 2>&1 && [ -d solutions ]; then
        say "labs/ is generated from solutions/ and up to date"
        phase "labs check" "$VENV/bin/mlops-kit" labs build --check
    fi
    say "unit, notebook and cluster tests"
    # --durations shows where the time goes. Spark tests go to one Spark Connect server
    # per test process, the course's engine (tests/conftest.py). The standalone-cluster
    # test (a master, two workers, a Spark Connect server on them) is one xdist group in
    # this pass: its processes mostly wait for each other, so it runs beside the rest
    # instead of alone after it.
    phase "main pass" "$VENV/bin/pytest" -n 2 --dist loadgroup -q --durations=30
    say "the tests marked both_engines again, on a local JVM"
    # those marked both_engines run again with a JVM per test process
    phase "both_engines on a local JVM" env MLOPS_KIT_TEST_SPARK=local \
        "$VENV/bin/pytest" -n 2 --dist loadgroup -q -m "both_engines and not cluster"
    # nbval's comparison of stored outputs (the cells tagged nbval-check-output, after
    # tests/sanitize.cfg) is made in the main pass, on the copies test_notebooks.py
    # executed (notebook_runner.checked_output_differences): no notebook runs twice.
    [ "$DRY_RUN" = 1 ] || say "the tests took $((SECONDS - started)) s"
}

main() {
    if [ "${1:-}" = "--dry-run" ]; then DRY_RUN=1; shift; fi
    local what=${1:-}
    [ $# -gt 0 ] && shift
    case "$what" in
        course|test) ;;
        *) die "usage: ./run.sh [--dry-run] course|test [args...]" ;;
    esac
    ensure_python
    ensure_packages
    ensure_java
    ensure_delta_jars
    if [ "$what" = course ]; then
        run_course "$@"
    else
        ensure_browser
        ensure_postgres
        ensure_bubblewrap
        ensure_classroom
        run_tests "$@"
    fi
}

main "$@"
