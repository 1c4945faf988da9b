"""newsqa's lab: what trains, calibrates and measures the product, kept out of its answer path.

- `training/`: the reader's training (`python -m lab.training.train_reader`), LoRA training, the GPU pack.
- `calibration.py`: chooses the answer thresholds; the product gets them as constants, not as imports.
- `benchmarks/`: `newsqa bench xquad|default|news` and the scale and load scripts (docs/benchmarks.md).
- `data.py`, `metrics.py`, `machine.py`, `report.py`: the benchmark data, scoring, machine line and the
  docs section writer they share.

Nothing in `retriever/` or `bot/` imports this package except `newsqa bench`, when run (a test checks it).
"""
