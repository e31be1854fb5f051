// Encode throughput, r1 vs the Hugging Face tokenizers Node binding (0.23.2), in one run on the
// same 1 MB of mixed English / code / CJK text, single-threaded, for each tokenizer directory.
// Also checks that both produce the same ids.
//
//   node bench/tokenizer/bench.js [--build build] [--runs 5] [--mb 1] [--model DIR ...]
//
// The text is synthesized from the golden corpus with a fixed seed: English sentences from the
// prose vocabulary, code lines with renamed identifiers and fresh numbers, CJK sentences from
// the characters of the CJK lines — so words repeat as in real text, without repeating whole
// documents.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { Tokenizer } = require('tokenizers');

const root = path.resolve(__dirname, '..', '..');
const args = process.argv.slice(2);
function opt(name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
}
const build = path.resolve(root, opt('--build', 'build'));
const runs = Number(opt('--runs', '5'));
const megabytes = Number(opt('--mb', '1'));
const dataDir = path.join(root, 'tests', 'data', 'tokenizers');
const models = [];
for (let i = 0; i < args.length; ++i) if (args[i] === '--model') models.push(path.resolve(args[i + 1]));
if (models.length === 0)
  for (const m of ['deepseek-r1', 'deepseek-r1-distill-qwen', 'deepseek-r1-distill-llama'])
    models.push(path.join(dataDir, m));

// mulberry32: small deterministic PRNG.
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeText(bytes) {
  const lines = fs.readFileSync(path.join(dataDir, 'deepseek-r1', 'golden_public.jsonl'), 'utf8')
    .split('\n').filter(Boolean).map(JSON.parse).filter((l) => !l.add_special_tokens);
  const prose = lines.filter((l) => l.category === 'prose_en' || l.category === 'long')
    .map((l) => l.text).join(' ');
  const words = prose.split(/\s+/).map((w) => w.replace(/[^A-Za-z'-]/g, '')).filter(Boolean);
  const codeLines = lines.filter((l) => l.category === 'code')
    .flatMap((l) => l.text.split('\n')).filter((s) => s.trim().length > 0);
  const cjkChars = Array.from(lines.filter((l) => l.category === 'multilingual').map((l) => l.text)
    .join('')).filter((c) => /[\u3040-\u30ff\u4e00-\u9fff]/.test(c));
  const rand = rng(12345);
  const pick = (a) => a[Math.floor(rand() * a.length)];
  const parts = [];
  let size = 0;
  const push = (s) => { parts.push(s); size += Buffer.byteLength(s); };
  while (size < bytes) {
    const r = rand();
    if (r < 0.5) {  // an English paragraph
      const sentences = 2 + Math.floor(rand() * 5);
      const out = [];
      for (let s = 0; s < sentences; ++s) {
        const n = 6 + Math.floor(rand() * 18);
        const ws = [];
        for (let i = 0; i < n; ++i) ws.push(pick(words));
        ws[0] = ws[0][0].toUpperCase() + ws[0].slice(1);
        out.push(ws.join(' ') + pick(['.', '.', '.', '?', '!', ';']));
      }
      push(out.join(' ') + '\n\n');
    } else if (r < 0.8) {  // a block of code
      const n = 4 + Math.floor(rand() * 16);
      const out = [];
      for (let i = 0; i < n; ++i) {
        out.push(pick(codeLines)
          .replace(/\b(\d+)\b/g, () => String(Math.floor(rand() * 100000)))
          .replace(/\b([a-z_][a-z0-9_]{3,})\b/g, (m) => (rand() < 0.2 ? m + '_' + Math.floor(rand() * 100) : m)));
      }
      push(out.join('\n') + '\n\n');
    } else {  // CJK sentences
      const sentences = 1 + Math.floor(rand() * 4);
      let out = '';
      for (let s = 0; s < sentences; ++s) {
        const n = 8 + Math.floor(rand() * 30);
        for (let i = 0; i < n; ++i) out += pick(cjkChars);
        out += pick(['。', '，', '！', '？']);
      }
      push(out + '\n\n');
    }
  }
  return parts.join('');
}

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

async function main() {
  const text = makeText(Math.round(megabytes * 1e6));
  const bytes = Buffer.byteLength(text);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'r1-tokbench-'));
  const textFile = path.join(tmp, 'text.txt');
  fs.writeFileSync(textFile, text);
  const bench = path.join(build, 'bench', 'tokenizer', 'bench_tokenizer');
  if (!fs.existsSync(bench)) throw new Error(`${bench} not found; build the bench_tokenizer target`);
  console.log(`text: ${bytes} bytes (English/code/CJK), ${runs} timed runs after a cold one, single-threaded`);
  const results = [];
  for (const dir of models) {
    const name = path.basename(dir);
    // Hugging Face tokenizers: a fresh tokenizer for the cold run, then the timed runs.
    const tok = Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
    let t = process.hrtime.bigint();
    const hfIds = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
    const hfCold = Number(process.hrtime.bigint() - t) / 1e9;
    const hfTimes = [];
    for (let i = 0; i < runs; ++i) {
      t = process.hrtime.bigint();
      await tok.encode(text, null, { addSpecialTokens: false });
      hfTimes.push(Number(process.hrtime.bigint() - t) / 1e9);
    }
    // r1, same text, same machine, same run.
    const idsFile = path.join(tmp, `${name}.ids.json`);
    const r1 = JSON.parse(execFileSync(bench, ['--model', dir, '--file', textFile, '--runs', String(runs),
      '--ids-out', idsFile], { encoding: 'utf8' }));
    const r1Ids = JSON.parse(fs.readFileSync(idsFile, 'utf8'));
    let same = r1Ids.length === hfIds.length;
    for (let i = 0; same && i < r1Ids.length; ++i) same = r1Ids[i] === hfIds[i];
    const mb = bytes / 1e6;
    results.push({
      tokenizer: name, tokens: hfIds.length, same_ids: same,
      r1_cold_mb_s: +(mb / r1.cold_s).toFixed(2), r1_warm_mb_s: +(mb / r1.warm_median_s).toFixed(2),
      hf_cold_mb_s: +(mb / hfCold).toFixed(2), hf_warm_mb_s: +(mb / median(hfTimes)).toFixed(2),
    });
  }
  console.table(results);
  console.log(JSON.stringify({ bytes, runs, results }));
  fs.rmSync(tmp, { recursive: true, force: true });
  if (results.some((r) => !r.same_ids)) {
    console.error('ids differ between r1 and tokenizers');
    process.exitCode = 1;
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
