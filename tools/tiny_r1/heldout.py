# Held-out problems of tiny-r1: writes them as JSONL {"kind","question","answer"} and judges
# completions against them (exact final answer after </think>, trimmed).
import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="tiny-r1 held-out problems")
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write N held-out problems (deterministic)")
    w.add_argument("--n", type=int, default=1000)
    w.add_argument("--out", required=True)
    j = sub.add_parser("judge", help="judge completions: JSONL lines {\"question\", \"completion\"}")
    j.add_argument("heldout")
    j.add_argument("completions")
    o = sub.add_parser("check", help="judge one completion text against one expected answer")
    o.add_argument("--answer", required=True)
    o.add_argument("--completion", required=True)
    args = ap.parse_args()

    if args.cmd == "write":
        with open(args.out, "w", encoding="utf-8") as f:
            for p in data.heldout_set(args.n):
                f.write(json.dumps({"kind": p["kind"], "question": p["question"], "answer": p["answer"]},
                                   ensure_ascii=False) + "\n")
    elif args.cmd == "judge":
        expected = {}
        for line in open(args.heldout, encoding="utf-8"):
            p = json.loads(line)
            expected[p["question"]] = p
        per = collections.OrderedDict()
        for line in open(args.completions, encoding="utf-8"):
            c = json.loads(line)
            p = expected[c["question"]]
            r = per.setdefault(p["kind"], [0, 0])
            r[0] += data.judge(p["answer"], c["completion"])
            r[1] += 1
        for k, (a, n) in per.items():
            print("%-8s %d/%d" % (k, a, n))
        print("all      %d/%d" % (sum(a for a, _ in per.values()), sum(n for _, n in per.values())))
    else:
        ok = data.judge(args.answer, args.completion)
        print("correct" if ok else "wrong")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
