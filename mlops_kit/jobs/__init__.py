"""Notebooks as jobs: the papermill runner, the course runner, parameters."""
from mlops_kit.jobs.course import CourseNotebook, discover_course, run_course
from mlops_kit.jobs.runner import CheckedJob, JobResult, check_job, resolve_notebook, run_notebook

__all__ = ["CheckedJob", "JobResult", "check_job", "run_notebook", "resolve_notebook",
           "CourseNotebook", "discover_course", "run_course"]
