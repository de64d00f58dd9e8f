"""Shared test set-up."""

import os

# Graded "bad submission" notebooks are inputs to the grader's tests, not notebooks to run.
collect_ignore = ["grading_cases"]

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
