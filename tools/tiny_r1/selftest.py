# Self-checks of the tiny-r1 tools: cached batched greedy decoding equals full recomputation, the
# safetensors writer round-trips, routing follows the documented rule, and the tokenizer round-trips.
import os
import random
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import data  # noqa: E402
import model as M  # noqa: E402
import safetensors_io  # noqa: E402
import train  # noqa: E402


def small_model(vocab):
    cfg = train.model_config(vocab)
    m = M.DeepseekV3(M.Config(cfg))
    m.init_weights(5)
    with torch.no_grad():
        for moe in m.moe_layers():
            moe.gate.e_score_correction_bias.uniform_(-0.05, 0.05)
        for p in m.parameters():
            p.mul_(8.0)  # sharper logits so greedy choices are not near-ties
    return m.eval()


def check_generation():
    m = small_model(300)
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(3, 300, (n,), generator=g).tolist() for n in (5, 9, 2)]
    outs = M.greedy_generate(m, prompts, eos_id=1, max_new=8)
    for p, o in zip(prompts, outs):
        seq = list(p)
        for t in o:
            with torch.no_grad():
                ref = int(m(torch.tensor([seq]))[0, -1].argmax())
            assert ref == t, "cached decoding differs from full recomputation"
            seq.append(t)
    print("generation: cached batched greedy == full recomputation")


def check_safetensors(tmp):
    t = {"a": torch.randn(3, 4), "b": torch.randn(5)}
    safetensors_io.save(tmp, t, {"a": "BF16", "b": "F32"})
    back = safetensors_io.load(tmp)
    assert back["a"][1] == "BF16" and back["b"][1] == "F32"
    assert torch.equal(back["b"][0], t["b"])
    assert torch.equal(back["a"][0], safetensors_io.to_bf16_float(t["a"]))
    assert (back["a"][0] - t["a"]).abs().max() <= t["a"].abs().max() / 128
    print("safetensors: round trip ok")


def check_routing():
    m = small_model(300)
    moe = m.moe_layers()[0]
    cfg = m.cfg
    x = torch.randn(50, cfg.hidden_size)
    idx, w = moe.route(x)
    s = torch.sigmoid(x @ moe.gate.weight.T)
    b = s + moe.gate.e_score_correction_bias
    per = cfg.n_routed_experts // cfg.n_group
    for n in range(x.shape[0]):
        groups = sorted(range(cfg.n_group), key=lambda gi: -float(b[n, gi * per:(gi + 1) * per].topk(2).values.sum()))
        allowed = [e for gi in groups[:cfg.topk_group] for e in range(gi * per, (gi + 1) * per)]
        chosen = sorted(allowed, key=lambda e: -float(b[n, e]))[:cfg.num_experts_per_tok]
        assert sorted(chosen) == sorted(idx[n].tolist())
        ws = s[n, chosen] / s[n, chosen].sum() * cfg.routed_scaling_factor
        got = dict(zip(idx[n].tolist(), w[n].tolist()))
        for e, v in zip(chosen, ws.tolist()):
            assert abs(got[e] - v) < 1e-5
    print("routing: groups, top-k and weights as documented")


def check_tokenizer(path):
    tok = bpe.Tokenizer(path)
    rng = random.Random(3)
    stream = data.training_stream(99)
    for _ in range(200):
        p = next(stream)
        text = data.prompt_text(p["question"]) + data.completion_text(p["reasoning"], p["answer"])
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        assert all(sum(ch.isdigit() for ch in tok.id_to_token[i]) <= 1 for i in ids)
    for _ in range(200):
        s = "".join(chr(rng.choice([rng.randint(32, 126), rng.randint(0xA0, 0x2FFF), 10, 9]))
                    for _ in range(rng.randint(0, 30)))
        assert tok.decode(tok.encode(s)) == s
    print("tokenizer: round trip ok, at most one digit per token")


if __name__ == "__main__":
    torch.manual_seed(0)
    check_generation()
    check_safetensors("/tmp/tiny_r1_selftest.safetensors")
    check_routing()
    check_tokenizer(sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "models", "tiny-r1", "tokenizer.json"))
