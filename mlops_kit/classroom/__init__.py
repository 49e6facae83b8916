"""A classroom on one machine: JupyterHub for a cohort, on a shared MLflow.

:mod:`~mlops_kit.classroom.roster` reads the class list,
:mod:`~mlops_kit.classroom.hub` starts and stops the classroom
(``mlops-kit classroom up|down|status``), :mod:`~mlops_kit.classroom.services`
runs the accounts, PostgreSQL and the class MLflow, and
:mod:`~mlops_kit.classroom.release` copies the course into each learner's home.
docs/SCALING.md describes the layout and the way to Kubernetes.
"""
