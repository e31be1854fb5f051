# Trains tiny-r1 on the synthetic reasoning tasks: builds the tokenizer, streams deterministic batches,
# runs AdamW with bf16 autocast on the CPU, nudges the MoE selection bias for load balance, evaluates
# a held-out sample now and then, and keeps a resumable checkpoint in the run directory.
import argparse
import json
import os
import random
import sys
import time

# Idle OpenMP workers sleep instead of spinning: the machine is shared, and spinning threads that lose
# their core stall every parallel region.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import data  # noqa: E402
import model as M  # noqa: E402

TOKENIZER_SEED = 1
TOKENIZER_PROBLEMS = 20000
TOKENIZER_MIN_COUNT = 5
TOKENIZER_MAX_VOCAB = 4096


def model_config(vocab_size):
    """The HF config.json of tiny-r1 (every key of the deepseek_v3 configs)."""
    return {
        "architectures": ["DeepseekV3ForCausalLM"],
        "model_type": "deepseek_v3",
        "vocab_size": vocab_size,
        "hidden_size": 160,
        "intermediate_size": 448,
        "moe_intermediate_size": 112,
        "num_hidden_layers": 5,
        "num_nextn_predict_layers": 0,
        "first_k_dense_replace": 1,
        "moe_layer_freq": 1,
        "num_attention_heads": 5,
        "num_key_value_heads": 5,
        "n_routed_experts": 8,
        "n_shared_experts": 1,
        "num_experts_per_tok": 2,
        "n_group": 4,
        "topk_group": 2,
        "routed_scaling_factor": 2.5,
        "scoring_func": "sigmoid",
        "topk_method": "noaux_tc",
        "norm_topk_prob": True,
        "aux_loss_alpha": 0.0,
        "seq_aux": True,
        "ep_size": 1,
        "q_lora_rank": 80,
        "kv_lora_rank": 48,
        "qk_nope_head_dim": 24,
        "qk_rope_head_dim": 16,
        "v_head_dim": 32,
        "hidden_act": "silu",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "rms_norm_eps": 1e-06,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
        "initializer_range": 0.02,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "use_cache": True,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.46.3",
    }


def build_tokenizer(path):
    rng_stream = data.training_stream(TOKENIZER_SEED)
    texts = []
    for _ in range(TOKENIZER_PROBLEMS):
        p = next(rng_stream)
        texts += [p["question"], p["reasoning"], p["answer"]]
    merges = bpe.train(texts, TOKENIZER_MAX_VOCAB, TOKENIZER_MIN_COUNT)
    tj = bpe.build_tokenizer_json(merges)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def encode_problem(tok, p, check=False):
    prompt = tok.encode(data.prompt_text(p["question"]))
    comp = tok.encode(data.completion_text(p["reasoning"], p["answer"]))
    if check:
        full = tok.encode(data.prompt_text(p["question"]) + data.completion_text(p["reasoning"], p["answer"]))
        assert full == prompt + comp, "prompt/completion tokenization is not a prefix split"
    return prompt + comp, len(prompt)


def chunk_batches(tok, seed, chunk, batch, per_chunk, mix=None):
    """The batches of one data chunk: fresh problems, grouped by length, in a seeded order."""
    stream = data.training_stream(seed * 1000003 + chunk, mix)
    items = [encode_problem(tok, next(stream), check=(chunk == 0)) for _ in range(batch * per_chunk)]
    items.sort(key=lambda x: len(x[0]))
    batches = [items[i:i + batch] for i in range(0, len(items), batch)]
    random.Random(seed * 7919 + chunk).shuffle(batches)
    return batches


def collate(items, pad_id):
    T = max(len(x[0]) for x in items)
    B = len(items)
    ids = torch.full((B, T), pad_id, dtype=torch.long)
    lengths = torch.zeros(B, dtype=torch.long)
    rows, cols = [], []
    for i, (seq, n_prompt) in enumerate(items):
        ids[i, :len(seq)] = torch.tensor(seq)
        lengths[i] = len(seq)
        # position t predicts token t+1; learn every completion token (reasoning, answer, EOS)
        for t in range(n_prompt - 1, len(seq) - 1):
            rows.append(i)
            cols.append(t)
    rows, cols = torch.tensor(rows), torch.tensor(cols)
    targets = ids[rows, cols + 1]
    return ids, lengths, rows, cols, targets


def lr_at(step, args):
    """Warm-up, a constant stage, then a linear decay over the last decay_frac of the steps (so a run
    can be lengthened before its decay starts without changing what came before)."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    decay_start = int(args.steps * (1 - args.decay_frac))
    if step < decay_start:
        return args.lr
    prog = (step - decay_start) / max(1, args.steps - decay_start)
    return args.lr * (1 - (1 - args.min_lr_frac) * prog)


def quick_eval(model, tok, problems, max_new=600):
    eos = tok.added[data.EOS]
    prompts = [tok.encode(data.prompt_text(p["question"])) for p in problems]
    outs = M.greedy_generate(model, prompts, eos, max_new)
    per = {}
    for p, o in zip(problems, outs):
        ok = data.judge(p["answer"], tok.decode(o))
        c = per.setdefault(p["kind"], [0, 0])
        c[0] += ok
        c[1] += 1
    model.train()
    return per


def _all_reduce(t, procs):
    if procs > 1:
        dist.all_reduce(t)
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, help="run directory (tokenizer, checkpoint, log)")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=32, help="problems per step (all processes together)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.02)
    ap.add_argument("--decay-frac", type=float, default=0.25)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--bias-gamma", type=float, default=1e-2)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--procs", type=int, default=2,
                    help="data-parallel processes (each takes a fixed share of every batch)")
    ap.add_argument("--threads", type=int, default=1, help="threads per process")
    ap.add_argument("--port", type=int, default=29517, help="local port of the process group")
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--eval-n", type=int, default=35)
    ap.add_argument("--ckpt-every", type=int, default=50)
    ap.add_argument("--mix", default="",
                    help="task weights replacing data.TRAIN_MIX's, e.g. sort=0.22,count=0.14 (for a resumed stage)")
    args = ap.parse_args()
    args.mix = data.parse_mix(args.mix) if args.mix else None
    os.makedirs(args.out, exist_ok=True)
    tok_path = os.path.join(args.out, "tokenizer.json")
    if not os.path.exists(tok_path):
        build_tokenizer(tok_path)
    if args.procs > 1:
        mp.spawn(worker, args=(args,), nprocs=args.procs)
    else:
        worker(0, args)


def worker(rank, args):
    procs = args.procs
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if procs > 1:
        os.environ["MASTER_ADDR"] = "127.0.0.1"
        os.environ["MASTER_PORT"] = str(args.port)
        dist.init_process_group("gloo", rank=rank, world_size=procs)
    log = open(os.path.join(args.out, "train.log"), "a") if rank == 0 else None

    def say(msg):
        if rank != 0:
            return
        line = time.strftime("%H:%M:%S ") + msg
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    tok = bpe.Tokenizer(os.path.join(args.out, "tokenizer.json"))
    cfg_d = model_config(tok.size)
    if rank == 0:
        with open(os.path.join(args.out, "config.json"), "w") as f:
            json.dump(cfg_d, f, indent=2)
    cfg = M.Config(cfg_d)
    model = M.DeepseekV3(cfg)
    model.init_weights(args.seed)
    total, active = M.count_params(model)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    params = decay + no_decay
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    step = 0
    ckpt_path = os.path.join(args.out, "ckpt.pt")
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        say("resumed at step %d, args %s" % (step, vars(args)))
    else:
        say("start: params %d (active %d), vocab %d, args %s" % (total, active, tok.size, vars(args)))

    eval_set = data.heldout_set(args.eval_n, seed=777)
    pad_id = tok.vocab[bpe.HEAD_SPECIALS[2]]
    per_chunk = 16
    cached_chunk, batches = None, None
    model.train()
    t0, tok_count, loss_acc, n_acc = time.time(), 0, 0.0, 0
    decay_start = int(args.steps * (1 - args.decay_frac))
    while step < args.steps:
        chunk = step // per_chunk
        if chunk != cached_chunk:
            batches = chunk_batches(tok, args.seed, chunk, args.batch, per_chunk, args.mix)
            cached_chunk = chunk
        batch = batches[step % per_chunk]
        n_targets = sum(len(seq) - n_prompt for seq, n_prompt in batch)
        # the batch is sorted by length: dealing it out in turn gives every process similar lengths
        ids, lengths, rows, cols, targets = collate(batch[rank::procs], pad_id)
        lr = lr_at(step, args)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16):
            h = model.hidden(ids, lengths)
        hs = model.model.norm(h[rows, cols])
        logits = F.linear(hs, model.lm_head.weight)
        # sum over this share / targets of the whole batch: the summed gradients are the batch mean
        loss = F.cross_entropy(logits, targets, reduction="sum") / n_targets
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if procs > 1:
            for p in params:
                if p.grad is None:  # an expert that got no token of this share
                    p.grad = torch.zeros_like(p)
            flat = torch.cat([p.grad.reshape(-1) for p in params])
            dist.all_reduce(flat)
            o = 0
            for p in params:
                p.grad.copy_(flat[o:o + p.numel()].view_as(p))
                o += p.numel()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for moe in model.moe_layers():
                _all_reduce(moe.last_load, procs)
            model.update_bias(args.bias_gamma)
        step += 1
        tok_count += int(lengths.sum()) * procs
        loss_acc += float(_all_reduce(loss.detach().clone(), procs))
        n_acc += 1
        if step % 10 == 0:
            dt = time.time() - t0
            loads = [m.last_load.float() for m in model.moe_layers()]
            imb = max(float(l.max() / l.mean()) for l in loads)
            say("step %d loss %.4f lr %.2e gnorm %.2f tok/s %.0f max-load/mean %.2f"
                % (step, loss_acc / n_acc, lr, float(gn), tok_count / dt, imb))
            t0, tok_count, loss_acc, n_acc = time.time(), 0, 0.0, 0
        if rank == 0 and (step % args.ckpt_every == 0 or step == args.steps or step == decay_start):
            tmp = ckpt_path + ".tmp"
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, tmp)
            os.replace(tmp, ckpt_path)
            if step == decay_start:
                # a longer run with the same seed is identical up to here: keep this point to extend from
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step},
                           os.path.join(args.out, "ckpt_decay_start.pt"))
        if step % args.eval_every == 0 or step == args.steps:
            if rank == 0:
                te = time.time()
                per = quick_eval(model, tok, eval_set)
                tot = sum(c[0] for c in per.values()), sum(c[1] for c in per.values())
                say("eval step %d: %d/%d %s (%.0fs)" % (step, tot[0], tot[1],
                                                         " ".join("%s %d/%d" % (k, c[0], c[1]) for k, c in sorted(per.items())),
                                                         time.time() - te))
            if procs > 1:
                dist.barrier()
            t0 = time.time()
    say("done")
    if procs > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
