"""Attention maps, block patterns, local-attention masks and the attention viewer."""
