# Compares bpe.py's ids with the Hugging Face tokenizers library (Node binding) on chat transcripts,
# random text and edge cases for a tiny-r1 tokenizer.json; with --r1 BINARY also with `r1 tokenize`.
#   python3 check_hf.py models/tiny-r1/tokenizer.json [--r1 build/r1]
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import data  # noqa: E402


def texts():
    out = []
    stream = data.training_stream(4242)
    for _ in range(300):
        p = next(stream)
        out.append(data.prompt_text(p["question"]) + data.completion_text(p["reasoning"], p["answer"]))
    rng = random.Random(7)
    pool = "abcXYZ 0123456789  \n\n\t\r.,;:!?'\"-+*/=<>()[]{}|_#%&^~`@$\\éßøΩЖ日本語½²٣\u00a0\u2003\u200b😀👍🏽"
    for _ in range(500):
        out.append("".join(rng.choice(pool) for _ in range(rng.randint(0, 40))))
    out += ["", " ", "  ", "\n", " \n ", "a  b", "3rd 45th", "<think>x</think>", "<｜User｜>hi<｜Assistant｜>",
            "<think", "<|User|>", "x's it's", " 12  34 ", "\r\n\r\n", "tab\t\tz"]
    for s in bpe.TAIL_ADDED + bpe.HEAD_SPECIALS:
        out.append("a" + s + "1" + s)
    return out


def main():
    tj = sys.argv[1]
    tok = bpe.Tokenizer(tj)
    ts = texts()
    js = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hf_ids.js")
    res = subprocess.run(["node", js, tj], input="\n".join(json.dumps(t) for t in ts) + "\n",
                         capture_output=True, text=True, check=True)
    hf = [json.loads(l) for l in res.stdout.splitlines() if l.strip()]
    # empty strings were skipped by the reader: align on the non-empty texts
    ne = [t for t in ts if json.dumps(t) != ""]
    assert len(hf) == len(ne), (len(hf), len(ne))
    bad = 0
    for t, h in zip(ne, hf):
        mine = tok.encode(t)
        if mine != h:
            bad += 1
            if bad <= 5:
                print("MISMATCH", repr(t), mine, h)
    print("hf: %d/%d texts give identical ids" % (len(ne) - bad, len(ne)))
    if "--r1" in sys.argv:
        binary = sys.argv[sys.argv.index("--r1") + 1]
        d = os.path.dirname(os.path.abspath(tj))
        inp = "/tmp/tiny_r1_check_r1.jsonl"
        with open(inp, "w", encoding="utf-8") as f:
            for t in ne:
                f.write(json.dumps({"text": t, "add_special_tokens": False}, ensure_ascii=False) + "\n")
        res = subprocess.run([binary, "tokenize", "--model", d, "--jsonl", inp], capture_output=True, text=True,
                             check=True)
        r1 = [json.loads(l) for l in res.stdout.splitlines() if l.strip()]
        bad_r1 = sum(tok.encode(t) != r for t, r in zip(ne, r1)) + abs(len(r1) - len(ne))
        print("r1: %d/%d texts give identical ids" % (len(ne) - bad_r1, len(ne)))
        bad += bad_r1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
