# Prints the logits of an exported tiny-r1 model for given token ids as JSON
# {"logits": [[...] per position]} (float32 compute on the stored weights), for checking the C++ engine.
import argparse
import json
import os
import sys

# Idle OpenMP workers sleep instead of spinning (the machine may be shared).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="reference logits of an exported tiny-r1 model")
    ap.add_argument("--model", default=load.DEFAULT_MODEL)
    ap.add_argument("--ids", required=True, help='token ids, e.g. "0 5 17"')
    ap.add_argument("--last", action="store_true", help="only the last position")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = load.load_exported(args.model)
    ids = [int(x) for x in args.ids.replace(",", " ").split()]
    with torch.no_grad():
        logits = model(torch.tensor([ids]))[0]
    rows = logits[-1:] if args.last else logits
    print(json.dumps({"logits": [[float(v) for v in r] for r in rows.tolist()]}))


if __name__ == "__main__":
    main()
