"""What pre-training buys on sentence classification: MiniLM vs the same BERT from random init.

The figure notebook 08 quotes: the full 6-layer all-MiniLM-L6-v2 (offline, from the
`all-minilm-l6-v2` data set) fine-tuned on 2,400 rotten-tomatoes reviews, 150 steps of 16,
lr 1e-4, max length 64, then validation accuracy on 300 held-out reviews; and the same run
from random weights with the same configuration.

    OMP_NUM_THREADS=1 python benchmarks/bert_finetune_sentiment.py            # both starts (a few minutes each)
    OMP_NUM_THREADS=1 python benchmarks/bert_finetune_sentiment.py --start pre-trained
    OMP_NUM_THREADS=1 python benchmarks/bert_finetune_sentiment.py --out benchmarks/results/bert_finetune_sentiment_cpu.json
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import time

import torch

from ptm_course.data import load
from ptm_course.data.bert_inputs import encode_texts, tensor_loader
from ptm_course.io import atomic_write_json
from ptm_course.metrics import predict
from ptm_course.models.bert import BertForSequenceClassification, sequence_classification_loss
from ptm_course.models.hf_loading import load_pretrained_bert
from ptm_course.train import fit
from ptm_course.utils import get_device, set_seed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--start", choices=["pre-trained", "random init"], action="append",
                    help="which start(s) to run (default: both)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=None, help="also write the rows as JSON here (atomically)")
    args = ap.parse_args()
    device = get_device(args.device)
    rt = load("rotten-tomatoes")
    train = rt["train"].shuffle(seed=0).select(range(2400))
    valid = rt["validation"].shuffle(seed=0).select(range(300))
    print("| start | validation accuracy | majority class | seconds |\n|---|---|---|---|")
    rows = []
    for start in args.start or ["pre-trained", "random init"]:
        set_seed(0)
        pre, tok = load_pretrained_bert("all-MiniLM-L6-v2", BertForSequenceClassification, n_classes=2, verbose=False)
        torch.manual_seed(0)
        model = pre if start == "pre-trained" else BertForSequenceClassification(copy.deepcopy(pre.config), n_classes=2)
        enc = encode_texts(tok, train["text"], labels=train["label"], max_len=64)
        venc = encode_texts(tok, valid["text"], labels=valid["label"], max_len=64)
        majority = max(sum(valid["label"]), len(valid) - sum(valid["label"])) / len(valid)
        t = time.time()
        fit(model, tensor_loader(enc, 16, shuffle=True), sequence_classification_loss, max_steps=150,
            lr=1e-4, weight_decay=0.01, warmup_steps=15, progress=False, log_every=30, seed=0, device=device)
        acc = float((predict(model, venc).argmax(-1).cpu() == venc["labels"]).float().mean())
        rows.append({"start": start, "valid_acc": acc, "majority": majority, "seconds": time.time() - t})
        print(f"| {start} | {acc:.3f} | {majority:.3f} | {rows[-1]['seconds']:.0f} |", flush=True)
    if args.out:
        atomic_write_json(args.out, {
            "command": "OMP_NUM_THREADS=1 python benchmarks/bert_finetune_sentiment.py", "device": str(device),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "torch": torch.__version__,
            "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d"), "rows": rows})


if __name__ == "__main__":
    main()
