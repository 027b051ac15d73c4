"""Corpora, label sets, the synthesized offline corpus, forced alignment and data-sample sets."""
