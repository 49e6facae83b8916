"""What runs inside the grading sandbox: the check service, then the submission as ``nobody``.

``python -m mlops_kit.labs.grade_box`` is started by :func:`mlops_kit.labs.grade.grade_notebook`
inside bubblewrap (:mod:`mlops_kit.labs.sandbox`), as the sandbox's root:

1. import every checker (the kit's, and the instructor's ``--checks`` files),
   then start the check service on a socket in the scratch folder;
2. run the submission with the kit's job runner (papermill, a time limit) as
   the unprivileged learner user, in a throwaway workspace named after the
   learner, so per-learner data is theirs;
3. write how the run ended (``run.json``) and stop.

The record of checks goes to ``/grader``, which only this process can write.
With ``--no-drop`` (an unsandboxed run) everything runs as the caller.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import pkgutil
import subprocess
import sys
import threading
from pathlib import Path

from mlops_kit.labs.check_service import SOCKET_ENV, CheckRecord, serve

__all__ = ["main", "preload_checkers"]


def preload_checkers(extra: list[str], *, kit: bool = True) -> None:
    """Import every checks module of the kit and each instructor's checks file.

    A kit module that fails to import is reported and skipped: its labs are
    then graded as unknown, and the other labs still get their grades.
    """
    if kit:
        package = importlib.import_module("mlops_kit.labs.checks")
        for info in pkgutil.iter_modules(package.__path__):
            try:
                importlib.import_module(f"mlops_kit.labs.checks.{info.name}")
            except Exception as err:  # one broken module must not stop the others
                print(f"checks module {info.name} did not import: {err}", file=sys.stderr)
    for number, path in enumerate(extra):
        spec = importlib.util.spec_from_file_location(f"_instructor_checks_{Path(path).stem}_{number}", path)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot import the checks file {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)


def _run_submission(args: argparse.Namespace) -> None:
    """The learner's side (as ``nobody``): run the notebook, say how it ended."""
    from mlops_kit.exceptions import JobFailedError, MlopsKitError
    from mlops_kit.jobs.runner import run_notebook
    from mlops_kit.workspace import Workspace

    status: dict[str, object] = {"error": "", "cell_index": None}
    workspace = Workspace(root=Path(args.home), user=args.user)
    try:
        run_notebook(args.notebook, workspace=workspace, output_path=args.out,
                     timeout=args.timeout, cell_timeout=args.timeout, cwd=args.cwd,
                     extra_env={"MLOPS_KIT_LABS_STRICT": "0"})
    except JobFailedError as err:
        status["cell_index"] = err.cell_index
        if "Timeout" in err.ename:
            status["error"] = f"stopped after {args.timeout:g} s (time limit)"
        else:
            first = next((line for line in str(err.evalue).splitlines() if line.strip()), "")
            status["error"] = f"crashed: {err.ename}: {first[:300]}"
    except (MlopsKitError, OSError, ValueError) as err:
        status["error"] = f"could not run: {err}"
    Path(args.status).write_text(json.dumps(status))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_kit.labs.grade_box")
    parser.add_argument("--notebook", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--status", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--cwd", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--record", help="the grader's record (service side)")
    parser.add_argument("--socket", help="where the check service listens")
    parser.add_argument("--checks", action="append", default=[])
    parser.add_argument("--no-drop", action="store_true", help="run the submission as the caller")
    parser.add_argument("--submission-side", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.submission_side:
        _run_submission(args)
        return 0

    from mlops_kit.labs.sandbox import LEARNER_GID, LEARNER_UID

    drop = not args.no_drop and os.geteuid() == 0
    stop = threading.Event()
    serve(Path(args.socket), CheckRecord(Path(args.record)),
          uid=LEARNER_UID if drop else None, gid=LEARNER_GID if drop else None,
          preload=lambda: preload_checkers(args.checks), stop=stop)
    env = dict(os.environ, **{SOCKET_ENV: args.socket,
                              "MLOPS_KIT_LABS_FRAMES_DIR": str(Path(args.cwd) / ".answers")})
    command = [sys.executable, "-m", "mlops_kit.labs.grade_box", "--submission-side",
               *[f"--{k}={getattr(args, k)}" for k in ("notebook", "out", "status", "home", "cwd",
                                                       "user", "timeout")]]
    try:
        subprocess.run(command, env=env, check=False,
                       user=LEARNER_UID if drop else None, group=LEARNER_GID if drop else None,
                       extra_groups=[] if drop else None)
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
