# Exports a tiny-r1 training checkpoint as a Hugging Face model directory: config.json,
# model.safetensors (BF16; the MoE selection bias F32), tokenizer.json, tokenizer_config.json with
# DeepSeek-R1's chat template, and generation_config.json.
import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import safetensors_io  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# DeepSeek-R1 chat template (Feb 2025 revision, generation prompt ends in "<think>\n"), unchanged.
DEFAULT_TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chat_template.jinja")


def tokenizer_config(chat_template, model_max_length):
    """Like DeepSeek-R1's tokenizer_config.json (same keys and token settings)."""
    def tok(content):
        return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": True,
                "rstrip": False, "single_word": False}
    return {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": tok(bpe.HEAD_SPECIALS[0]),
        "clean_up_tokenization_spaces": False,
        "eos_token": tok(bpe.HEAD_SPECIALS[1]),
        "legacy": True,
        "model_max_length": model_max_length,
        "pad_token": tok(bpe.HEAD_SPECIALS[1]),
        "sp_model_kwargs": {},
        "unk_token": None,
        "tokenizer_class": "LlamaTokenizerFast",
        "chat_template": chat_template,
    }


def main():
    ap = argparse.ArgumentParser(description="export a tiny-r1 checkpoint")
    ap.add_argument("--run", required=True, help="training run directory (ckpt.pt, config.json, tokenizer.json)")
    ap.add_argument("--out", default=os.path.join(REPO, "models", "tiny-r1"))
    ap.add_argument("--template", default=DEFAULT_TEMPLATE, help="DeepSeek-R1 chat template (Jinja text)")
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    cfg = json.load(open(os.path.join(args.run, "config.json")))
    ck = torch.load(os.path.join(args.run, "ckpt.pt"))
    sd = ck["model"]
    tensors, dtypes = {}, {}
    for name, t in sd.items():
        tensors[name] = t.float()
        dtypes[name] = "F32" if name.endswith("e_score_correction_bias") else "BF16"
    safetensors_io.save(os.path.join(args.out, "model.safetensors"), tensors, dtypes, {"format": "pt"})
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    shutil.copyfile(os.path.join(args.run, "tokenizer.json"), os.path.join(args.out, "tokenizer.json"))
    template = open(args.template, encoding="utf-8").read()
    with open(os.path.join(args.out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_config(template, cfg["max_position_embeddings"]), f, indent=2, ensure_ascii=False)
        f.write("\n")
    gen = {"_from_model_config": True, "bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"],
           "do_sample": True, "temperature": 0.6, "top_p": 0.95, "transformers_version": cfg["transformers_version"]}
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)
        f.write("\n")
    print("exported step %d to %s (%d tensors)" % (ck["step"], args.out, len(tensors)))


if __name__ == "__main__":
    main()
