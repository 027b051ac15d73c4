"""Array-level analyses on stored features.

CCA (:mod:`.cca`, on :mod:`.covariance` statistics and :mod:`.splits`, over row-aligned
:mod:`.views`, word vectors from :mod:`.embeddings`), mutual information of k-means clusters
(:mod:`.mi`, :mod:`.kmeans`), static word vectors (:mod:`.wordvec`) and word similarity
(:mod:`.wordsim`).  Running them over a model's layers and writing result tables is
:mod:`layerprobe.experiments`; nothing here imports it (or :mod:`layerprobe.results`, or the CLI).
"""
