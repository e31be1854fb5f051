# Prints the logits of an exported tiny-r1 model for given token ids as JSON
# {"logits": [[...] per position]} (float32 compute on the stored weights), for checking the C++ engine;
# with --fixture, writes the reference file of the C++ test (tests/data/tiny_r1/reference_logits.json).
import argparse
import json
import os
import sys

# Idle OpenMP workers sleep instead of spinning (the machine may be shared).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import data  # noqa: E402
import load  # noqa: E402

# Chat prompts of the fixture, each followed by the start of a correct reasoning so that the checked
# positions lie inside a trace (the model's real working range), not only at the prompt.
FIXTURE_CASES = [
    ("What is 7115 + 543?", 2),
    ("Subtract 6577 from 4496.", 3),
    ("Sort these numbers from largest to smallest: 33, 68, 48, 47.", 1),
]
FIXTURE_LAST = 3  # positions per case (the last ones), to keep the file small


def fixture(model, model_dir):
    tok = bpe.Tokenizer(os.path.join(model_dir, "tokenizer.json"))
    cases = []
    for question, n_lines in FIXTURE_CASES:
        kind = "add" if "+" in question else "sub" if "Subtract" in question else "sort"
        params = _params(kind, question)
        lines, _ = data.solve(kind, params)
        text = data.prompt_text(question) + "\n".join(lines[:n_lines]) + "\n"
        ids = tok.encode(text)
        with torch.no_grad():
            logits = model(torch.tensor([ids]))[0]
        positions = list(range(len(ids) - FIXTURE_LAST, len(ids)))
        cases.append({"text": text, "ids": ids, "positions": positions,
                      "logits": [[float("%.7g" % v) for v in logits[t].tolist()] for t in positions]})
    return {"source": "tools/tiny_r1/reference_logits.py --fixture (float32 compute on models/tiny-r1)",
            "vocab_size": model.cfg.vocab_size, "cases": cases}


def _params(kind, question):
    nums = [int(x) for x in "".join(c if c.isdigit() else " " for c in question).split()]
    if kind == "add":
        return {"a": nums[0], "b": nums[1]}
    if kind == "sub":  # "Subtract B from A."
        return {"a": nums[1], "b": nums[0]}
    return {"nums": nums, "desc": "largest to smallest" in question}


def main():
    ap = argparse.ArgumentParser(description="reference logits of an exported tiny-r1 model")
    ap.add_argument("--model", default=load.DEFAULT_MODEL)
    ap.add_argument("--ids", help='token ids, e.g. "0 5 17"')
    ap.add_argument("--last", action="store_true", help="only the last position")
    ap.add_argument("--fixture", help="write the C++ test's reference file here")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = load.load_exported(args.model)
    if args.fixture:
        with open(args.fixture, "w") as f:
            json.dump(fixture(model, args.model), f, separators=(",", ":"))
            f.write("\n")
        return
    if not args.ids:
        ap.error("--ids or --fixture is required")
    ids = [int(x) for x in args.ids.replace(",", " ").split()]
    with torch.no_grad():
        logits = model(torch.tensor([ids]))[0]
    rows = logits[-1:] if args.last else logits
    print(json.dumps({"logits": [[float(v) for v in r] for r in rows.tolist()]}))


if __name__ == "__main__":
    main()
