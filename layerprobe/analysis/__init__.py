"""Analyses on stored features.

CCA (:mod:`.cca`, on :mod:`.covariance` statistics and :mod:`.splits`; the named experiments in
:mod:`.experiments` over row-aligned :mod:`.views`, word vectors from :mod:`.embeddings`), mutual
information of k-means clusters (:mod:`.mi`, :mod:`.kmeans`, :mod:`.mi_experiments`), static word
vectors (:mod:`.wordvec`) and word similarity (:mod:`.wordsim`).
"""
