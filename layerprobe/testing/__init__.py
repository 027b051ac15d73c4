"""Helpers shared by the test suite: locating ../shared, small synthetic corpora."""
