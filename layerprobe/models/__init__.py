"""Model adapters: load a speech model from a spec and read every layer (see :mod:`.base`)."""
