# Greedy-decodes held-out problems with the exported tiny-r1 weights (BF16 upcast to float32, float32
# compute) from the R1 chat-template prompt and reports exact-answer accuracy per task kind.
import argparse
import collections
import json
import os
import sys
import time

# Idle OpenMP workers sleep instead of spinning (the machine may be shared).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import data  # noqa: E402
import load  # noqa: E402
import model as M  # noqa: E402

DEFAULT_HELDOUT = os.path.join(load.REPO, "tests", "data", "tiny_r1", "heldout.jsonl")


def main():
    ap = argparse.ArgumentParser(description="accuracy of tiny-r1 on held-out problems (greedy)")
    ap.add_argument("--model", default=load.DEFAULT_MODEL)
    ap.add_argument("--heldout", default=DEFAULT_HELDOUT)
    ap.add_argument("--limit", type=int, default=0, help="only the first N problems")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--max-new", type=int, default=700)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="write every completion here (JSONL)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    model = load.load_exported(args.model)
    tok = bpe.Tokenizer(os.path.join(args.model, "tokenizer.json"))
    eos = tok.added[data.EOS]
    problems = [json.loads(l) for l in open(args.heldout, encoding="utf-8") if l.strip()]
    if args.limit:
        problems = problems[:args.limit]
    # batches of one kind and similar prompt length finish together and waste little on padding
    order = sorted(range(len(problems)), key=lambda i: (problems[i]["kind"], len(problems[i]["question"])))
    outs = [None] * len(problems)
    t0 = time.time()
    for s in range(0, len(order), args.batch):
        idx = order[s:s + args.batch]
        prompts = [tok.encode(data.prompt_text(problems[i]["question"])) for i in idx]
        gen = M.greedy_generate(model, prompts, eos, args.max_new)
        for i, g in zip(idx, gen):
            outs[i] = tok.decode(g)
        print("  %d/%d problems, %.0fs" % (min(s + args.batch, len(order)), len(order), time.time() - t0),
              file=sys.stderr, flush=True)
    per = collections.OrderedDict((k, [0, 0]) for k in data.KINDS)
    shape_ok = 0
    out_f = open(args.out, "w", encoding="utf-8") if args.out else None
    for p, o in zip(problems, outs):
        ok = data.judge(p["answer"], o)
        c = per.setdefault(p["kind"], [0, 0])
        c[0] += ok
        c[1] += 1
        fa = data.final_answer(o)
        shape_ok += bool(fa) and bool(data.reasoning_of(o)) and o.endswith(data.EOS)
        if out_f:
            out_f.write(json.dumps({"kind": p["kind"], "question": p["question"], "answer": p["answer"],
                                    "correct": ok, "completion": o}, ensure_ascii=False) + "\n")
    total = [sum(c[0] for c in per.values()), sum(c[1] for c in per.values())]
    summary = {"model": args.model, "problems": total[1], "correct": total[0],
               "accuracy": total[0] / max(1, total[1]),
               "well_formed": shape_ok,
               "per_kind": {k: {"correct": c[0], "total": c[1], "accuracy": c[0] / max(1, c[1])}
                            for k, c in per.items() if c[1]},
               "seconds": round(time.time() - t0, 1)}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for k, v in summary["per_kind"].items():
            print("%-8s %4d/%4d  %.1f%%" % (k, v["correct"], v["total"], 100 * v["accuracy"]))
        print("%-8s %4d/%4d  %.1f%%   (well-formed: %d, %.0fs)" % ("all", total[0], total[1],
                                                                  100 * summary["accuracy"], shape_ok,
                                                                  summary["seconds"]))


if __name__ == "__main__":
    main()
