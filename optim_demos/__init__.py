"""Optimisation demos on advaudit's gradient engine: regression and spread unit vectors."""
