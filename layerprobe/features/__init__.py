"""Frame rules (:mod:`.frames`), segment pooling (:mod:`.pooling`) and the log-mel baseline (:mod:`.mel`)."""
