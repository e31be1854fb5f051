// Differential check of `r1 tokenize --jsonl` against the Hugging Face tokenizers Node binding on
// random texts (fixed seed): random assigned code points of planes 0-2, script mixes, added-token
// strings and near misses, whitespace runs, combining sequences, digit runs. Prints mismatches.
//
//   node bench/tokenizer/compare.js --r1 build/r1 [--n 3000] [--seed 7] [--model DIR ...]
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { Tokenizer } = require('tokenizers');

const root = path.resolve(__dirname, '..', '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : fallback; };
const r1 = path.resolve(root, opt('--r1', 'build/r1'));
const n = Number(opt('--n', '3000'));
const seed = Number(opt('--seed', '7'));
const models = [];
for (let i = 0; i < args.length; ++i) if (args[i] === '--model') models.push(path.resolve(args[i + 1]));
if (models.length === 0)
  for (const m of ['deepseek-v3', 'deepseek-r1', 'deepseek-r1-distill-qwen', 'deepseek-r1-distill-llama'])
    models.push(path.join(root, 'tests', 'data', 'tokenizers', m));

function rng(s) {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(seed);
const int = (k) => Math.floor(rand() * k);
const pick = (a) => a[int(a.length)];
const assigned = /^[^\p{Cn}\p{Cs}]$/u;

function randomCodepoint() {
  for (;;) {
    const cp = int(3 * 0x10000);
    const c = String.fromCodePoint(cp);
    if (cp !== 0 && assigned.test(c)) return c;
  }
}
const pieces = {
  ws: [' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u3000', '\u2009', '\u180e', '\u200b', '\u0085', '\u2028', '\u000b', '\u000c'],
  latin: ['hello', 'World', "don't", "I'M", "it'S", 'naïve', 'café', 'Ærøskøbing', 'straße', 'ǅemal'],
  digits: ['0', '7', '42', '1234', '9876543210', '٣٤٥', '१२३', '①②', '½', 'Ⅻ', '１２３'],
  punct: ['.', ',', '!?', '...', '—', '«', '»', '“', '”', '(', ')', '{', '}', '<', '>', '/', '\\', '|', '#', '@', '$', '%', '^', '&', '*', '`', '~', '¿', '·'],
  cjk: ['你好', '世界', 'こんにちは', 'カタカナ', '한국어', '漢字かな交じり文', '龥龦', '㐀', '𠀀𠀁', '〜', '・', 'ー'],
  marks: ['\u0301', '\u0308', '\u0323', '\u0302\u0323', '\u093f', '\u0e31', '\u05b7', '\u200d', '\ufe0f', '\u20e3'],
  emoji: ['😀', '👍🏽', '👨‍👩‍👧', '🇫🇷', '#️⃣', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '✔', '❤️'],
  scripts: ['Привет', 'مرحبا', 'שלום', 'नमस्ते', 'สวัสดี', 'Γειά', 'ሰላም', 'ᚠᚢᚦ', 'ꦧꦱ'],
};

function specialStrings(tok) {
  const vocab = tok.getVocab(true);
  const base = Object.keys(vocab).filter((t) => vocab[t] >= 128000 - 1 || /^<[|｜]/.test(t)).slice(0, 400);
  const out = base.length ? base : ['<|endoftext|>'];
  return out.concat(['<think>', '</think>', '<think', 'think>', '<|User|>', '<｜User｜', '｜>', '<｜', '<<｜end▁of▁sentence｜>>']);
}

function makeTexts(specials) {
  const texts = [];
  for (let i = 0; i < n; ++i) {
    const kind = i % 5;
    let s = '';
    const len = 1 + int(kind === 0 ? 30 : 12);
    for (let k = 0; k < len; ++k) {
      if (kind === 0) s += randomCodepoint();
      else if (kind === 1) s += pick(pieces[pick(Object.keys(pieces))]);
      else if (kind === 2) s += rand() < 0.3 ? pick(specials) : pick(pieces[pick(['ws', 'latin', 'punct', 'cjk'])]);
      else if (kind === 3) s += pick(pieces.ws) + (rand() < 0.5 ? pick(pieces.latin) : pick(pieces.punct) + pick(pieces.marks));
      else s += rand() < 0.5 ? pick(pieces.digits) : String.fromCharCode(32 + int(95));
    }
    texts.push(s);
  }
  return texts;
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'r1-tokcmp-'));
  let bad = 0;
  for (const dir of models) {
    const tok = Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
    const texts = makeTexts(specialStrings(tok));
    const cases = [];
    for (const text of texts)
      for (const special of [false, true]) cases.push({ text, add_special_tokens: special });
    const file = path.join(tmp, 'cases.jsonl');
    fs.writeFileSync(file, cases.map((c) => JSON.stringify(c)).join('\n') + '\n');
    const out = execFileSync(r1, ['tokenize', '--model', dir, '--jsonl', file], { encoding: 'utf8', maxBuffer: 1 << 30 })
      .split('\n').filter(Boolean);
    let mismatches = 0;
    for (let i = 0; i < cases.length; ++i) {
      const expected = (await tok.encode(cases[i].text, null, { addSpecialTokens: cases[i].add_special_tokens })).getIds();
      const got = out[i];
      if (got !== JSON.stringify(expected)) {
        if (mismatches < 10)
          console.log(`${path.basename(dir)}: ${JSON.stringify(cases[i].text)} special=${cases[i].add_special_tokens}\n  hf ${JSON.stringify(expected)}\n  r1 ${got}`);
        ++mismatches;
      }
    }
    console.log(`${path.basename(dir)}: ${cases.length - mismatches}/${cases.length} identical`);
    bad += mismatches;
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  if (bad) process.exitCode = 1;
}

main().catch((e) => { console.error(e); process.exit(1); });
