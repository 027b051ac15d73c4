"""Reading and writing: audio (:mod:`.audio`), time alignments (:mod:`.alignments`)."""
