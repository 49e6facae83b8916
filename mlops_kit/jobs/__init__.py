"""Notebooks as jobs: the papermill runner, the course runner, parameters."""
from mlops_kit.jobs.course import CourseNotebook, discover_course, run_course
from mlops_kit.jobs.runner import (CheckedJob, JobResult, PreparedJob, check_job, prepare_notebook,
                                   resolve_notebook, run_notebook)

__all__ = ["CheckedJob", "JobResult", "PreparedJob", "check_job", "run_notebook", "prepare_notebook",
           "resolve_notebook", "CourseNotebook", "discover_course", "run_course"]
