"""Rollout: getting a new model in front of users safely, and judging it.

- :mod:`.abtest`: A/B statistics (two-proportion z, Welch t, lift and
  intervals), sample sizes, a group-sequential stopping rule, simulated traffic.
- :mod:`.routing`: writing and editing the routing config (deployments,
  weights, shadows, sticky assignment) that the routed endpoint
  (:mod:`mlops_kit.serving.routed`, its router :mod:`mlops_kit.serving.router`)
  reloads while it serves. Rollout drives serving; serving never imports it.
- :mod:`.policies`: canary with automatic promotion/rollback, blue-green switch,
  the rollout audit trail.
- :mod:`.fleet`: several endpoint processes and rolling updates.
- :mod:`.traffic`: simulated users and a faulty model for lessons and tests.
"""
from mlops_kit.rollout.abtest import (
    ABResult, GroupSequentialDesign, analyze_ab, sample_size, simulate_ab, two_proportion_ztest,
    welch_ttest,
)
from mlops_kit.rollout.policies import CanaryPolicy, run_canary, switch
from mlops_kit.rollout.routing import assign, set_weights, write_config

__all__ = ["ABResult", "GroupSequentialDesign", "analyze_ab", "sample_size", "simulate_ab",
           "two_proportion_ztest", "welch_ttest", "CanaryPolicy", "run_canary", "switch",
           "assign", "set_weights", "write_config"]
