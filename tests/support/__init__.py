"""Helpers shared by the test suite: locating ../shared, small synthetic corpora, test signals, fuzzing.

They are test-only (``fuzz`` needs hypothesis, the ``test`` extra) and live beside the tests, not in
the package.  ``tests/conftest.py`` puts ``tests/`` on ``sys.path`` so that test modules (and the
scripts the tests start) import them as ``support.corpora``, ``support.fuzz`` and so on.
"""
