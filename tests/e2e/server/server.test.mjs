// End-to-end tests of `r1 serve`: the real server on a free loopback port, driven by the official
// OpenAI Node client and by raw HTTP. Run by ctest (see CMakeLists.txt) with R1_BINARY and
// R1_MODEL (a chat-ready test model directory) in the environment.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { serve } from './serve.mjs';

const BINARY = process.env.R1_BINARY;
const MODEL = process.env.R1_MODEL;
assert.ok(BINARY && MODEL, 'R1_BINARY and R1_MODEL must be set');

// Starts `r1 serve` on a free port and waits until /health says ok.
function startServer(extra = []) {
  return serve(BINARY, MODEL, extra);
}

async function stopServer(s) {
  if (s.proc.exitCode !== null) return s.proc.exitCode;
  const done = new Promise((resolve) => s.proc.on('exit', (code) => resolve(code)));
  s.proc.kill('SIGTERM');
  return done;
}

const post = (url, path, body, headers = {}) =>
  fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

const chat = (content, extra = {}) => ({ model: 'r1-test-model', messages: [{ role: 'user', content }], max_tokens: 16, seed: 1, ...extra });

let server, client;
before(async () => {
  server = await startServer(['--parallel', '16', '--ctx-size', '512', '--max-body', '100000']);
  client = new OpenAI({ baseURL: server.url + '/v1', apiKey: 'unused' });
});
after(async () => { if (server) assert.equal(await stopServer(server), 0); });

test('models lists the served model', async () => {
  const list = await client.models.list();
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].id, 'r1-test-model');
  assert.equal(list.data[0].object, 'model');
});

test('non-streaming chat completion has the OpenAI shape and usage', async () => {
  const r = await client.chat.completions.create(chat('Hello there', { max_tokens: 20, max_reasoning_tokens: 4 }));
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.choices.length, 1);
  const m = r.choices[0].message;
  assert.equal(m.role, 'assistant');
  assert.equal(typeof m.content, 'string');
  assert.equal(typeof m.reasoning_content, 'string');
  assert.ok(m.reasoning_content.length > 0, 'the reasoning is split out');
  assert.equal(r.choices[0].finish_reason, 'length');
  const u = r.usage;
  assert.equal(u.completion_tokens, 20);
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  assert.equal(u.completion_tokens_details.reasoning_tokens, 5);  // 4 + the forced </think>
  assert.equal(u.prompt_tokens_details.cached_tokens + u.prompt_cache_miss_tokens, u.prompt_tokens);
});

test('streaming equals non-streaming and ends with usage and [DONE]', async () => {
  const body = chat('stream me', { max_tokens: 24, max_reasoning_tokens: 6, seed: 77 });
  const whole = await client.chat.completions.create(body);
  const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
  let reasoning = '', content = '', finish = null, usage = null, first = null, n = 0;
  for await (const chunk of stream) {
    n++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.choices.length === 0) { usage = chunk.usage; continue; }
    const d = chunk.choices[0].delta;
    if (first === null) first = d;
    if (d.reasoning_content) reasoning += d.reasoning_content;
    if (d.content) content += d.content;
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.equal(first.role, 'assistant');
  assert.ok(n > 3);
  assert.equal(reasoning, whole.choices[0].message.reasoning_content);
  assert.equal(content, whole.choices[0].message.content);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 24);
  // Raw SSE framing: data lines, then [DONE].
  const raw = await (await post(server.url, '/v1/chat/completions', { ...body, stream: true })).text();
  assert.ok(raw.startsWith('data: {'));
  assert.ok(raw.endsWith('data: [DONE]\n\n'));
});

test('same seed reproduces, another seed differs', async () => {
  const a = await client.chat.completions.create(chat('seeded', { temperature: 1.0, seed: 42, max_tokens: 24 }));
  const b = await client.chat.completions.create(chat('seeded', { temperature: 1.0, seed: 42, max_tokens: 24 }));
  const c = await client.chat.completions.create(chat('seeded', { temperature: 1.0, seed: 43, max_tokens: 24 }));
  assert.equal(a.choices[0].message.reasoning_content, b.choices[0].message.reasoning_content);
  assert.notEqual(a.choices[0].message.reasoning_content, c.choices[0].message.reasoning_content);
});

test('stop strings cut the answer', async () => {
  const body = chat('stop test', { max_tokens: 30, max_reasoning_tokens: 2, seed: 5 });
  const full = (await client.chat.completions.create(body)).choices[0].message.content;
  assert.ok(full.length >= 6, `answer too short to cut: ${JSON.stringify(full)}`);
  const stop = full.slice(3, 5);
  const cut = await client.chat.completions.create({ ...body, stop: [stop, 'never-appears'] });
  assert.equal(cut.choices[0].message.content, full.slice(0, full.indexOf(stop)));
  assert.equal(cut.choices[0].finish_reason, 'stop');
});

test('n > 1 returns n choices; choice 0 keeps the seed', async () => {
  const body = chat('several', { temperature: 1.0, seed: 9, max_tokens: 12 });
  const one = await client.chat.completions.create(body);
  const three = await client.chat.completions.create({ ...body, n: 3 });
  assert.equal(three.choices.length, 3);
  assert.deepEqual(three.choices.map((c) => c.index), [0, 1, 2]);
  assert.equal(three.choices[0].message.reasoning_content, one.choices[0].message.reasoning_content);
  assert.equal(three.usage.completion_tokens, 36);
});

test('16 concurrent streams equal the same requests run one by one', async () => {
  const bodies = Array.from({ length: 16 }, (_, i) => chat('concurrent ' + 'x'.repeat(i * 3), { seed: 100 + i, max_tokens: 10 + i, temperature: 0.9 }));
  const sequential = [];
  for (const b of bodies) sequential.push((await client.chat.completions.create(b)).choices[0].message.reasoning_content);
  const concurrent = await Promise.all(bodies.map(async (b) => {
    let text = '';
    for await (const chunk of await client.chat.completions.create({ ...b, stream: true })) {
      const d = chunk.choices[0]?.delta;
      if (d?.reasoning_content) text += d.reasoning_content;
    }
    return text;
  }));
  assert.deepEqual(concurrent, sequential);
});

async function metric(name) {
  const text = await (await fetch(server.url + '/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

test('a client that disconnects mid-stream is cancelled and the server stays healthy', async () => {
  const ctrl = new AbortController();
  const res = await post(server.url, '/v1/chat/completions', chat('long one', { stream: true, max_tokens: 400 }));
  // Read one chunk, then abort via a second request we control with an AbortController.
  await res.body.getReader().read();
  const res2 = await fetch(server.url + '/v1/chat/completions', {
    method: 'POST', headers: { 'content-type': 'application/json' }, signal: ctrl.signal,
    body: JSON.stringify(chat('long two', { stream: true, max_tokens: 400 })),
  });
  const reader = res2.body.getReader();
  await reader.read();
  ctrl.abort();
  await res.body.cancel().catch(() => {});
  let running = NaN;
  for (let i = 0; i < 100; i++) {
    running = await metric('r1_running_sequences');
    if (running === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(running, 0, 'both sequences were cancelled');
  assert.equal((await fetch(server.url + '/health')).status, 200);
  const after = await client.chat.completions.create(chat('still serving'));
  assert.equal(after.choices.length, 1);
});

test('prefix cache reuse reports cached tokens and does not change output', async () => {
  const system = 'You are a careful assistant. '.repeat(12);
  const body = { model: 'r1-test-model', messages: [{ role: 'system', content: system }, { role: 'user', content: 'q' }], max_tokens: 12, seed: 3 };
  const a = await client.chat.completions.create(body);
  const b = await client.chat.completions.create(body);
  assert.ok(b.usage.prompt_tokens_details.cached_tokens > 0, JSON.stringify(b.usage));
  assert.equal(b.usage.prompt_cache_hit_tokens, b.usage.prompt_tokens_details.cached_tokens);
  assert.equal(a.choices[0].message.reasoning_content, b.choices[0].message.reasoning_content);
});

test('completions endpoint: raw prompt, echo, streaming', async () => {
  const r = await client.completions.create({ model: 'r1-test-model', prompt: 'Once upon a time', max_tokens: 8, seed: 2 });
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
  assert.equal(r.usage.completion_tokens, 8);
  const e = await client.completions.create({ model: 'r1-test-model', prompt: 'Once upon a time', max_tokens: 8, seed: 2, echo: true });
  assert.equal(e.choices[0].text, 'Once upon a time' + r.choices[0].text);
  let text = '';
  for await (const c of await client.completions.create({ model: 'r1-test-model', prompt: 'Once upon a time', max_tokens: 8, seed: 2, stream: true })) text += c.choices[0]?.text ?? '';
  assert.equal(text, r.choices[0].text);
});

test('every error case returns an OpenAI error object', async () => {
  const expectError = async (res, status, param) => {
    assert.equal(res.status, status);
    const j = await res.json();
    assert.equal(typeof j.error.message, 'string');
    assert.ok('type' in j.error && 'param' in j.error && 'code' in j.error);
    if (param !== undefined) assert.equal(j.error.param, param);
    return j.error;
  };
  await expectError(await post(server.url, '/v1/chat/completions', '{"messages": [}'), 400);
  await expectError(await post(server.url, '/v1/chat/completions', { messages: 'hi' }), 400, 'messages');
  await expectError(await post(server.url, '/v1/chat/completions', { messages: [] }), 400, 'messages');
  await expectError(await post(server.url, '/v1/chat/completions', { messages: [{ role: 'robot', content: 'x' }] }), 400, 'messages[0].role');
  await expectError(await post(server.url, '/v1/chat/completions', chat('x', { temperature: 'hot' })), 400, 'temperature');
  await expectError(await post(server.url, '/v1/chat/completions', chat('x', { temperature: 2.5 })), 400, 'temperature');
  await expectError(await post(server.url, '/v1/chat/completions', chat('x', { top_p: 1.5 })), 400, 'top_p');
  await expectError(await post(server.url, '/v1/chat/completions', chat('x', { max_tokens: 0 })), 400, 'max_tokens');
  await expectError(await post(server.url, '/v1/chat/completions', chat('x', { stop: ['a', 'b', 'c', 'd', 'e'] })), 400, 'stop');
  await expectError(await post(server.url, '/v1/chat/completions', chat('x', { n: 0 })), 400, 'n');
  await expectError(await post(server.url, '/v1/chat/completions', chat('x', { top_logprobs: 3 })), 400, 'top_logprobs');
  await expectError(await post(server.url, '/v1/chat/completions', chat('x', { logit_bias: { abc: 1 } })), 400, 'logit_bias');
  const long = await expectError(await post(server.url, '/v1/chat/completions', chat('w'.repeat(3000))), 400);
  assert.match(long.message, /more than the context of 512/);
  await expectError(await post(server.url, '/v1/chat/completions', chat('x', { model: 'gpt-4' })), 404, 'model');
  await expectError(await fetch(server.url + '/v1/nothing'), 404);
  await expectError(await post(server.url, '/v1/chat/completions', chat('y'.repeat(200000))), 413);
  // The client library surfaces the same errors as exceptions with the status.
  await assert.rejects(client.chat.completions.create(chat('x', { presence_penalty: 5 })), (e) => e.status === 400);
});

test('metrics counters move', async () => {
  const before200 = await metric('r1_http_requests_total{status="200"}');
  const beforeTokens = await metric('r1_generation_tokens_total');
  await client.chat.completions.create(chat('metrics', { max_tokens: 5 }));
  assert.ok(await metric('r1_http_requests_total{status="200"}') > before200);
  assert.equal(await metric('r1_generation_tokens_total'), beforeTokens + 5);
  const text = await (await fetch(server.url + '/metrics')).text();
  for (const name of ['r1_time_to_first_token_seconds_bucket', 'r1_time_per_output_token_seconds_count', 'r1_kv_cache_usage_ratio', 'r1_queued_sequences'])
    assert.ok(text.includes(name), name);
});

test('api key: 401 without or with a wrong key, 200 with it', async () => {
  const s = await startServer(['--api-key', 'sekret']);
  try {
    assert.equal((await post(s.url, '/v1/chat/completions', chat('x'))).status, 401);
    assert.equal((await post(s.url, '/v1/chat/completions', chat('x'), { authorization: 'Bearer nope' })).status, 401);
    assert.equal((await fetch(s.url + '/health')).status, 200);
    const ok = new OpenAI({ baseURL: s.url + '/v1', apiKey: 'sekret' });
    assert.equal((await ok.chat.completions.create(chat('x'))).choices.length, 1);
  } finally {
    assert.equal(await stopServer(s), 0);
  }
});

test('a full queue answers 429', async () => {
  const s = await startServer(['--parallel', '1', '--max-queue', '1']);
  try {
    const statuses = await Promise.all(Array.from({ length: 6 }, () =>
      post(s.url, '/v1/chat/completions', chat('busy', { max_tokens: 200 })).then((r) => r.status)));
    assert.ok(statuses.includes(429), statuses.join(','));
    assert.ok(statuses.includes(200), statuses.join(','));
  } finally {
    assert.equal(await stopServer(s), 0);
  }
});

test('SIGTERM finishes streams with [DONE] and exits cleanly', async () => {
  const s = await startServer();
  const res = await post(s.url, '/v1/chat/completions', chat('until shutdown', { stream: true, max_tokens: 100000 }));
  const reader = res.body.getReader();
  await reader.read();
  const exited = stopServer(s);
  let text = '';
  const dec = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value);
  }
  assert.ok(text.endsWith('data: [DONE]\n\n'), text.slice(-200));
  assert.equal(await exited, 0);
});
