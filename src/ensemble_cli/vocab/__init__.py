"""Cross-tokenizer vocabularies: what bytes each token stands for, and the union of several vocabularies."""
