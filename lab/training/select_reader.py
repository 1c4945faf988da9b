"""Compare reader artifacts as `newsqa bench xquad` calibrates them, on held-out training questions only.

    python -m lab.training.select_reader retriever/modeling/artifacts/reader.safetensors runs/*.safetensors

Every second XQuAD-train paragraph is indexed; the questions of the articles `train_reader.py --dev 6`
held out of training are asked through the whole pipeline (ranker, reader, answer builder), those of
indexed paragraphs answerable, the others not. For each artifact the calibration picks its settings,
and the line says how many answerable questions it then cites right while declining >= 80 % of the
unanswerable ones: the number to choose a reader by. The checkpoint criterion of `train_reader.py`
sees only a question's own paragraph and news near-misses; here the near misses are the ranker's
best sentences of other paragraphs, which is what the benchmark's unanswerable questions meet.
The news development questions (10kGNAD rows 512-1027, `lab.calibration`) are asked too, over
their rows and distractor rows: answerable ones and near misses; the line pools both kinds.
XQuAD-test and the benchmark news rows 0-511 are for reporting only (`newsqa bench xquad --reader PATH`,
`newsqa bench news`).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("artifacts", nargs="+", type=Path, help="reader .safetensors files")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="xquad.*.json")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--xquad-only", action="store_true", help="without the news development questions (minutes faster)"
    )
    args = parser.parse_args(argv)

    from lab.calibration import calibrated_reader_config, news_dev
    from lab.data import embed_corpus, load_xquad, train_half_store
    from retriever.pipeline import PipelineConfig
    from retriever.settings import Settings

    train = load_xquad(args.data, split="train")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="newsqa-select-") as tmp:
        settings = Settings(data_dir=Path(tmp), index_default=False)
        print(f"embedding {len(train.articles)} XQuAD-train paragraphs ...", file=sys.stderr)
        half = train_half_store(Path(tmp) / "train-half", train, embed_corpus(train))
        news = None
        if not args.xquad_only:
            print("indexing the news development rows ...", file=sys.stderr)
            news = news_dev(Path(tmp) / "news-dev", args.data / "10kGNAD" / "test.csv")
        for path in args.artifacts:
            config = PipelineConfig(question_cache=0, reader_artifact=str(path))
            _, chosen, stats = calibrated_reader_config(settings, half, train, config, news)
            pooled = stats.get("all", {})
            row = {"artifact": str(path)}
            row |= {
                "cited_right": pooled.get("answerable_cited_right", 0.0),
                "declined": pooled.get("unanswerable_declined", 0.0),
            }
            row |= {"settings": chosen, "by_kind_and_language": stats}
            results.append(row)
            print(json.dumps(row), flush=True)
            gc.collect()
    best = max(results, key=lambda r: (r["cited_right"], r["declined"]))
    rates = f"cites {best['cited_right']} % right, declines {best['declined']} %"
    print(f"best: {best['artifact']} ({rates})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
