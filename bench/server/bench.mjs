// Aggregate decode throughput and time to first token of `r1 serve` under 1, 4 and 16 concurrent
// streams (reports, does not assert). Each stream sends its own prompt (no prefix sharing) and
// asks for a fixed number of tokens.
//   node bench/server/bench.mjs --r1 build/r1 --model DIR [--threads 2] [--tokens 128] [--streams 1,4,16]
import { spawn } from 'node:child_process';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const r1 = args.r1 ?? 'build/r1';
const model = args.model;
const threads = args.threads ?? '2';
const tokens = Number(args.tokens ?? 128);
const streams = (args.streams ?? '1,4,16').split(',').map(Number);
const reps = Number(args.reps ?? 3);
if (!model) throw new Error('--model DIR is required');

const proc = spawn(r1, ['serve', '--model', model, '--port', '0', '-t', threads, '--parallel', String(Math.max(...streams)),
  '--ctx-size', '1024', '--no-prefix-cache', '--mlock'], { stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
const port = await new Promise((resolve, reject) => {
  proc.stderr.on('data', (d) => {
    log += d;
    const m = log.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    if (m) resolve(Number(m[1]));
  });
  proc.on('exit', (c) => reject(new Error('server exited ' + c + ': ' + log)));
});
const url = `http://127.0.0.1:${port}`;
for (;;) {
  const r = await fetch(url + '/health').catch(() => null);
  if (r?.status === 200) break;
  await new Promise((r) => setTimeout(r, 200));
}

async function stream(i, n) {
  const t0 = performance.now();
  const res = await fetch(url + '/v1/chat/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      messages: [{ role: 'user', content: `Stream ${i} of ${n}: ` + 'tell me about numbers '.repeat(10) }],
      max_tokens: tokens, temperature: 0.7, seed: i, stream: true, stream_options: { include_usage: true },
    }),
  });
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let ttft = null, usage = null, buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const line = buf.slice(0, k);
      buf = buf.slice(k + 2);
      if (!line.startsWith('data: {')) continue;
      const c = JSON.parse(line.slice(6));
      const d = c.choices?.[0]?.delta;
      if (ttft === null && (d?.reasoning_content || d?.content)) ttft = performance.now() - t0;
      if (c.usage) usage = c.usage;
    }
  }
  return { ttft, tokens: usage.completion_tokens };
}

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
await stream(0, 1);  // warm-up
console.log(`model ${model}, ${threads} threads, ${tokens} tokens per stream, median of ${reps}`);
console.log('streams  aggregate t/s  per-stream t/s  TTFT median ms');
const results = [];
for (const n of streams) {
  const agg = [], ttfts = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const out = await Promise.all(Array.from({ length: n }, (_, i) => stream(i + 1 + r * 100, n)));
    const secs = (performance.now() - t0) / 1000;
    agg.push(out.reduce((s, o) => s + o.tokens, 0) / secs);
    ttfts.push(median(out.map((o) => o.ttft)));
  }
  results.push({ streams: n, aggregate_tps: median(agg), ttft_ms: median(ttfts) });
  console.log(`${String(n).padStart(7)}  ${median(agg).toFixed(2).padStart(13)}  ${(median(agg) / n).toFixed(2).padStart(14)}  ${median(ttfts).toFixed(0).padStart(14)}`);
}
console.log(JSON.stringify(results));
proc.kill('SIGTERM');
