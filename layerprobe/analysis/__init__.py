"""Analyses on stored features: row-aligned views (:mod:`.views`), word embeddings (:mod:`.embeddings`), CCA (:mod:`.cca`)."""
