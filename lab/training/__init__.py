"""Training newsqa's models on the CPU (checkpointed, resumable) or a lent GPU (from a pack): run by
hand, never in CI; what they write ships in `retriever/modeling/artifacts/` with a model card.
"""
