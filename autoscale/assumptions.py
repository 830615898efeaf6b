"""Behaviours Azure does not document, each chosen once and named here.

The reasoning and the evidence for each choice are in docs/autoscale.md ("Behaviours Azure does not
document"). Code that depends on one of these reads the constant, so a choice proven wrong by a real
account is changed in one place.
"""

from __future__ import annotations

from datetime import timedelta

# --- sampling ---------------------------------------------------------------------------------------
# A sample is stamped when its 30 s period ends and becomes visible this long after its stamp, so the data
# it carries is about a minute old (the documented delay). Real output (96.6667 % for a 15-minute window,
# 29 of 30 samples) reproduces at any evaluation phase with 30 s; with 60 s it never can (28 of 30).
SAMPLE_LAG = timedelta(seconds=30)
# `GetSample(window)` without a percentage still fails below this share of samples: a fresh pool's
# `avg($PendingTasks.GetSample(sli))` failed with "wanted 70%, received 0%", and every official sample
# that reads a window without a percentage first checks `GetSamplePercent(...) < 70`.
DEFAULT_REQUIRED_SAMPLE_PERCENT = 70.0
# How long a metric history keeps samples (HistoryBeginTime, Count). Undocumented; official examples look
# back an hour at most. Bounds memory for a long-running emulator.
SAMPLE_RETENTION = timedelta(hours=24)

# --- values -----------------------------------------------------------------------------------------
YEAR = timedelta(days=365)  # TimeInterval_Year
SUNDAY_WEEKDAY = 7  # Monday is 1 (documented); Sunday follows ISO 8601
STD_DELTA_DEGREES_OF_FREEDOM = 1  # std() is the sample deviation (n - 1); one value gives 0
PERCENTILE_SCALE = 100.0  # percentile(v, p) takes p from 0 to PERCENTILE_SCALE, interpolating linearly
# val(v, i) outside v: a fresh pool evaluates `val($PendingTasks.GetSample(1), 0)` without error in a
# long-lived real formula, although GetSample(1) has nothing to return there.
VAL_OUTSIDE_VECTOR = 0.0
# A metric read as a plain value (`$ActiveTasks * 2`) is its latest visible sample, this when it has none.
# (Node counts and slots read that way are the pool's current state.)
METRIC_VALUE_WITHOUT_SAMPLES = 0.0
ROUND_HALF_AWAY_FROM_ZERO = True  # round(2.5) = 3 and round(-2.5) = -3; False: to even, as .NET's default

# --- statements and evaluation ----------------------------------------------------------------------
BLOCK_COMMENTS = True  # `/* ... */` besides the documented `//`
# A statement may be a bare expression (evaluated for its errors, printed nowhere): an SDK test shows the
# service reporting a sampling error at the right column of `$RunningTasks.GetSample(...);`.
EXPRESSION_STATEMENTS = True
SHORT_CIRCUIT_LOGIC = True  # `&&` and `||` skip their right operand when the left decides (the ternary always does)
# Results print the target as assigned (2.9); the applied target is truncated (2) either way.
PRINT_ASSIGNED_TARGETS = True
# Code of run-time failures other than missing samples (type mismatch, division by zero, undefined name).
EVALUATION_ERROR_CODE = "AutoScalingFormulaEvaluationError"
