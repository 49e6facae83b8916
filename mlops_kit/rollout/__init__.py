"""Rollout: getting a new model in front of users safely, and judging it.

- :mod:`.abtest`: A/B statistics (two-proportion z, Welch t, lift and
  intervals), sample sizes, a group-sequential stopping rule, simulated traffic.
"""
from mlops_kit.rollout.abtest import (
    ABResult, GroupSequentialDesign, analyze_ab, sample_size, simulate_ab, two_proportion_ztest,
    welch_ttest,
)

__all__ = ["ABResult", "GroupSequentialDesign", "analyze_ab", "sample_size", "simulate_ab",
           "two_proportion_ztest", "welch_ttest"]
