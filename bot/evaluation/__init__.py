"""Measuring understanding: one scorer for the own test set, the public benchmarks
(``make eval``) and the retraining comparison, with the report and plots beside it."""
