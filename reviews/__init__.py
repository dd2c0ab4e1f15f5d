"""QA reviews: scorecards, evaluations of recordings, comments pinned in the call, calibration."""
