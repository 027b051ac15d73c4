"""The only code that knows third-party model internals.

fairseq checkpoint key maps, pre-softmax attention capture and attention-mask injection for
transformers modules live here, each done from the outside (hooks, registered attention functions,
state-dict key maps).  No file of an installed package is ever patched or replaced.
"""
