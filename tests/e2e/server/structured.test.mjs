// End-to-end tests of structured outputs through `r1 serve` with the official OpenAI Node client:
// response_format (json_schema, json_object, enum) on random-weight models of every architecture
// and on the bundled tiny-r1, forced and automatic tool calls (streaming and not), tool_choice
// "none", a tool round trip rendered by the chat template, and reasoning left free before </think>.
// Random weights write meaningless text, so every answer here is valid only because the grammar
// made it so. Run by ctest with R1_BINARY and R1_MODELS (model directories, ':'-separated, the
// first one a qwen2 chat model) in the environment; R1_TINY_MODEL optionally names tiny-r1.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { serve } from './serve.mjs';

const BINARY = process.env.R1_BINARY;
const MODELS = (process.env.R1_MODELS ?? '').split(':').filter(Boolean);
const TINY = process.env.R1_TINY_MODEL;
assert.ok(BINARY && MODELS.length > 0, 'R1_BINARY and R1_MODELS must be set');

async function startServer(model, extra = []) {
  const { proc, url } = await serve(BINARY, model, extra);
  const client = new OpenAI({ baseURL: url + '/v1', apiKey: 'unused' });
  const name = (await client.models.list()).data[0].id;
  return { proc, url, client, name };
}

async function stopServer(s) {
  if (s.proc.exitCode !== null) return s.proc.exitCode;
  const done = new Promise((resolve) => s.proc.on('exit', (code) => resolve(code)));
  s.proc.kill('SIGTERM');
  return done;
}

// A JSON Schema check for the keywords these tests use, written here so that it does not share
// code or assumptions with the server's grammar engine. Returns a list of problems.
function validate(schema, v, path = '$') {
  const errs = [];
  const kind = (x) => (x === null ? 'null' : Array.isArray(x) ? 'array' : Number.isInteger(x) ? 'integer' : typeof x);
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) errs.push(`${path}: ${JSON.stringify(v)} not in enum`);
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(v)) errs.push(`${path}: not the const`);
  if (schema.anyOf && !schema.anyOf.some((s) => validate(s, v, path).length === 0)) errs.push(`${path}: matches no anyOf branch`);
  if (schema.type) {
    const types = [].concat(schema.type);
    const k = kind(v);
    if (!types.includes(k) && !(k === 'integer' && types.includes('number'))) return [`${path}: ${k} is not ${types.join('|')}`];
  }
  if (typeof v === 'string') {
    const n = [...v].length;
    if (schema.minLength !== undefined && n < schema.minLength) errs.push(`${path}: shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && n > schema.maxLength) errs.push(`${path}: longer than ${schema.maxLength}`);
  }
  if (typeof v === 'number') {
    if (schema.minimum !== undefined && v < schema.minimum) errs.push(`${path}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && v > schema.maximum) errs.push(`${path}: above ${schema.maximum}`);
  }
  if (Array.isArray(v)) {
    if (schema.minItems !== undefined && v.length < schema.minItems) errs.push(`${path}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && v.length > schema.maxItems) errs.push(`${path}: more than ${schema.maxItems} items`);
    if (schema.items) v.forEach((x, i) => errs.push(...validate(schema.items, x, `${path}[${i}]`)));
  }
  if (kind(v) === 'object') {
    for (const r of schema.required ?? []) if (!(r in v)) errs.push(`${path}: missing ${r}`);
    for (const [k, x] of Object.entries(v)) {
      if (schema.properties && k in schema.properties) errs.push(...validate(schema.properties[k], x, `${path}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${path}: unexpected property ${k}`);
    }
  }
  return errs;
}

function assertValid(schema, text) {
  let v;
  assert.doesNotThrow(() => { v = JSON.parse(text); }, `not JSON: ${JSON.stringify(text)}`);
  assert.deepEqual(validate(schema, v), [], `${JSON.stringify(text)} does not match the schema`);
  return v;
}

const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 10 },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    role: { enum: ['admin', 'user', 'guest'] },
    scores: { type: 'array', items: { type: 'number', minimum: -5, maximum: 5 }, maxItems: 3 },
    active: { type: 'boolean' },
  },
  required: ['name', 'age', 'role', 'scores', 'active'],
  additionalProperties: false,
};

const WEATHER_TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather in a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string', maxLength: 8 }, unit: { enum: ['c', 'f'] } },
        required: ['city', 'unit'],
        additionalProperties: false,
      },
    },
  },
  { type: 'function', function: { name: 'get_time', description: 'Current time', parameters: { type: 'object', properties: { tz: { type: 'string', maxLength: 6 } }, required: ['tz'] } } },
];
const toolSchema = (name) => WEATHER_TOOLS.find((t) => t.function.name === name).function.parameters;

const ask = (s, content, extra = {}) => ({ model: s.name, messages: [{ role: 'user', content }], max_tokens: 200, max_reasoning_tokens: 4, seed: 1, ...extra });

// Streams a request and assembles what a client sees: reasoning, content, tool calls (id and
// name from their first delta, arguments from the fragments), finish reason.
async function streamed(client, body) {
  const out = { reasoning: '', content: '', calls: [], finish: null, firstDeltas: 0 };
  for await (const chunk of await client.chat.completions.create({ ...body, stream: true })) {
    for (const c of chunk.choices) {
      const d = c.delta ?? {};
      if (d.reasoning_content) out.reasoning += d.reasoning_content;
      if (d.content) out.content += d.content;
      for (const t of d.tool_calls ?? []) {
        if (t.id !== undefined) {
          assert.equal(t.index, out.calls.length, 'a new call comes with the next index');
          assert.equal(t.type, 'function');
          assert.equal(typeof t.function.name, 'string');
          out.calls.push({ id: t.id, name: t.function.name, arguments: t.function.arguments ?? '' });
          out.firstDeltas++;
        } else {
          assert.equal(t.function.name, undefined, 'the name is sent once');
          out.calls[t.index].arguments += t.function.arguments;
        }
      }
      if (c.finish_reason) out.finish = c.finish_reason;
    }
  }
  return out;
}

describe('response_format on random weights, every architecture', () => {
  for (const model of MODELS) {
    describe(model.split('/').pop(), () => {
      let s;
      before(async () => { s = await startServer(model, ['--parallel', '4', '--ctx-size', '512']); });
      after(async () => { assert.equal(await stopServer(s), 0); });

      test('json_schema answers parse and validate, streaming or not', async () => {
        for (const seed of [1, 2, 3, 4]) {
          const body = ask(s, 'Give me a person.', { seed, temperature: 1.0, response_format: { type: 'json_schema', json_schema: { name: 'person', schema: PERSON, strict: true } } });
          const r = await s.client.chat.completions.create(body);
          assertValid(PERSON, r.choices[0].message.content);
          assert.ok(r.choices[0].message.reasoning_content.length > 0, 'the reasoning came first');
          const st = await streamed(s.client, body);
          assert.equal(st.content, r.choices[0].message.content, 'streaming gives the same answer');
          assert.equal(st.finish, r.choices[0].finish_reason);
        }
      });

      test('an answer cut off by max_tokens is completed and says length', async () => {
        for (const max_tokens of [2, 8, 15]) {
          const body = ask(s, 'Give me a person.', { max_tokens, max_reasoning_tokens: 1, response_format: { type: 'json_schema', json_schema: { name: 'person', schema: PERSON } } });
          const r = await s.client.chat.completions.create(body);
          assert.equal(r.choices[0].finish_reason, 'length');
          assertValid(PERSON, r.choices[0].message.content);
          assert.ok(r.usage.completion_tokens > max_tokens, 'the forced completion counts as generated');
          assert.equal((await streamed(s.client, body)).content, r.choices[0].message.content);
        }
      });

      test('json_object and enum', async () => {
        const obj = await s.client.chat.completions.create(ask(s, 'Any object.', { seed: 5, response_format: { type: 'json_object' } }));
        const v = JSON.parse(obj.choices[0].message.content);
        assert.equal(typeof v, 'object');
        assert.ok(v !== null && !Array.isArray(v));
        const colors = { enum: ['red', 'green', 'blue', 42, null] };
        const seen = new Set();
        for (const seed of [1, 2, 3, 4, 5, 6]) {
          const r = await s.client.chat.completions.create(ask(s, 'Pick one.', { seed, temperature: 1.0, response_format: { type: 'json_schema', json_schema: { name: 'color', schema: colors } } }));
          seen.add(JSON.stringify(assertValid(colors, r.choices[0].message.content)));
        }
        assert.ok(seen.size > 1, 'different seeds pick different members');
      });
    });
  }
});

describe('tools and structured outputs on the qwen2 test model', () => {
  let s;
  before(async () => { s = await startServer(MODELS[0], ['--parallel', '4', '--ctx-size', '2048']); });
  after(async () => { assert.equal(await stopServer(s), 0); });

  test('the reasoning is free: the same with and without a schema', async () => {
    const body = ask(s, 'Think first.', { seed: 21, temperature: 1.0, max_reasoning_tokens: 12 });
    const free = await s.client.chat.completions.create(body);
    const constrained = await s.client.chat.completions.create({ ...body, response_format: { type: 'json_schema', json_schema: { name: 'p', schema: PERSON } } });
    assert.equal(constrained.choices[0].message.reasoning_content, free.choices[0].message.reasoning_content);
    assert.equal(constrained.usage.completion_tokens_details.reasoning_tokens, 13);
    assertValid(PERSON, constrained.choices[0].message.content);
    assert.notEqual(constrained.choices[0].message.content, free.choices[0].message.content);
  });

  test('a forced named tool call is parsed into tool_calls', async () => {
    for (const seed of [1, 2, 3]) {
      const body = ask(s, 'Weather in Paris?', { seed, tools: WEATHER_TOOLS, tool_choice: { type: 'function', function: { name: 'get_weather' } } });
      const r = await s.client.chat.completions.create(body);
      const c = r.choices[0];
      assert.equal(c.finish_reason, 'tool_calls');
      assert.equal(c.message.content, null);
      assert.equal(c.message.tool_calls.length, 1);
      const call = c.message.tool_calls[0];
      assert.equal(call.type, 'function');
      assert.match(call.id, /^call_/);
      assert.equal(call.function.name, 'get_weather');
      assertValid(toolSchema('get_weather'), call.function.arguments);

      // Streaming: id and name once, the arguments in fragments, the same call.
      const st = await streamed(s.client, body);
      assert.equal(st.finish, 'tool_calls');
      assert.equal(st.calls.length, 1);
      assert.equal(st.firstDeltas, 1);
      assert.equal(st.calls[0].name, 'get_weather');
      assert.equal(st.calls[0].arguments, call.function.arguments);
      assert.equal(st.content, '');
      assert.equal(st.reasoning, c.message.reasoning_content);
    }
  });

  test('the client library assembles streamed tool calls', async () => {
    const body = ask(s, 'Weather and time?', { seed: 8, tools: WEATHER_TOOLS, tool_choice: 'required' });
    const whole = await s.client.chat.completions.create(body);
    const runner = s.client.chat.completions.stream(body);
    const final = await runner.finalChatCompletion();
    const calls = final.choices[0].message.tool_calls;
    assert.ok(calls.length >= 1);
    assert.deepEqual(calls.map((c) => [c.function.name, c.function.arguments]),
                     whole.choices[0].message.tool_calls.map((c) => [c.function.name, c.function.arguments]));
    for (const c of calls) assertValid(toolSchema(c.function.name), c.function.arguments);
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
  });

  test('tool_choice required: parallel calls when allowed, one when not', async () => {
    let most = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const r = await s.client.chat.completions.create(ask(s, 'Do things.', { seed, temperature: 1.0, tools: WEATHER_TOOLS, tool_choice: 'required', max_tokens: 400 }));
      const calls = r.choices[0].message.tool_calls;
      assert.ok(calls.length >= 1);
      for (const c of calls) assertValid(toolSchema(c.function.name), c.function.arguments);
      assert.equal(new Set(calls.map((c) => c.id)).size, calls.length, 'ids are unique');
      most = Math.max(most, calls.length);
      const one = await s.client.chat.completions.create(ask(s, 'Do things.', { seed, temperature: 1.0, tools: WEATHER_TOOLS, tool_choice: 'required', parallel_tool_calls: false, max_tokens: 400 }));
      assert.equal(one.choices[0].message.tool_calls.length, 1);
    }
    assert.ok(most > 1, 'parallel calls were never made');
  });

  test('tool_choice none makes a call impossible; auto parses the calls the model writes', async () => {
    // logit_bias makes <｜tool▁calls▁begin｜> (id 497 in the test vocabulary) the likeliest token.
    const body = ask(s, 'Weather?', { seed: 4, tools: WEATHER_TOOLS, logit_bias: { 497: 100 }, max_tokens: 120 });
    const none = await s.client.chat.completions.create({ ...body, tool_choice: 'none' });
    assert.equal(none.choices[0].message.tool_calls, undefined);
    assert.ok(!none.choices[0].message.content.includes('tool▁call'), none.choices[0].message.content);
    assert.notEqual(none.choices[0].finish_reason, 'tool_calls');
    for (const stream of [false, true]) {
      const auto = stream ? await streamed(s.client, body) : (await s.client.chat.completions.create(body)).choices[0];
      const calls = stream ? auto.calls : auto.message.tool_calls;
      assert.equal(stream ? auto.finish : auto.finish_reason, 'tool_calls');
      assert.ok(calls.length >= 1);
      for (const c of calls) {
        const fn = c.function ?? c;
        assertValid(toolSchema(fn.name), fn.arguments);
      }
    }
  });

  test('a tool round trip is rendered by the chat template', async () => {
    const messages = [
      { role: 'user', content: 'What is the weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 21}' },
    ];
    const r = await s.client.chat.completions.create({ model: s.name, messages, max_tokens: 8, seed: 1, response_format: { type: 'json_object' } });
    JSON.parse(r.choices[0].message.content);
    // The prompt is exactly what `r1 render` makes of the conversation with the model's template
    // (the R1 template writes the call and the tool output with their markers).
    const dir = mkdtempSync(join(tmpdir(), 'r1-roundtrip-'));
    try {
      writeFileSync(join(dir, 'messages.json'), JSON.stringify(messages));
      const rendered = execFileSync(BINARY, ['render', '--model', MODELS[0], '--messages', join(dir, 'messages.json'), '--add-generation-prompt']).toString();
      assert.ok(rendered.includes('<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city":"Paris","unit":"c"}\n```<｜tool▁call▁end｜>'), rendered);
      assert.ok(rendered.includes('<｜tool▁output▁begin｜>{"temperature": 21}<｜tool▁output▁end｜>'), rendered);
      const ids = JSON.parse(execFileSync(BINARY, ['tokenize', '--model', MODELS[0], '--no-special', '--text', rendered]).toString());
      assert.equal(r.usage.prompt_tokens, ids.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // With tools offered, the answer after the round trip may call again; the call is still valid.
    const again = await s.client.chat.completions.create({ model: s.name, messages, tools: WEATHER_TOOLS, tool_choice: 'required', max_tokens: 200, seed: 2 });
    for (const c of again.choices[0].message.tool_calls) assertValid(toolSchema(c.function.name), c.function.arguments);
  });

  test('schemas the grammar cannot express are refused naming the keyword', async () => {
    const bad = async (extra, param, word) => {
      const res = await fetch(s.url + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ask(s, 'x', extra)) });
      assert.equal(res.status, 400);
      const e = (await res.json()).error;
      assert.equal(e.param, param);
      assert.ok(e.message.includes(word), e.message);
    };
    await bad({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', not: { type: 'null' } } } } }, 'response_format', 'not');
    await bad({ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string', not: { const: 'x' } } } } } }], tool_choice: 'required' }, 'tools', 'not');
    await bad({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { $ref: '#/nowhere' } } } } } }, 'response_format', 'nowhere');
  });

  test('property order follows the schema as the client wrote it', async () => {
    const schema = { type: 'object', properties: { zeta: { type: 'boolean' }, alpha: { type: 'boolean' }, mid: { type: 'boolean' } }, required: ['zeta', 'alpha', 'mid'] };
    const r = await s.client.chat.completions.create(ask(s, 'x', { response_format: { type: 'json_schema', json_schema: { name: 'o', schema } } }));
    assert.deepEqual(Object.keys(JSON.parse(r.choices[0].message.content)), ['zeta', 'alpha', 'mid']);
  });
});

describe('the bundled tiny-r1 (deepseek_v3)', { skip: !TINY || !existsSync(TINY) }, () => {
  let s;
  before(async () => { s = await startServer(TINY, ['--parallel', '2']); });
  after(async () => { assert.equal(await stopServer(s), 0); });

  test('json_schema and a forced tool call', async () => {
    for (const seed of [1, 2]) {
      const body = { model: s.name, messages: [{ role: 'user', content: 'What is 12 + 30?' }], seed, max_tokens: 300, max_reasoning_tokens: 64 };
      const r = await s.client.chat.completions.create({ ...body, response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object', properties: { answer: { type: 'integer' } }, required: ['answer'] } } } });
      assertValid({ type: 'object', properties: { answer: { type: 'integer' } }, required: ['answer'] }, r.choices[0].message.content);
      const t = await s.client.chat.completions.create({ ...body, tools: WEATHER_TOOLS, tool_choice: { type: 'function', function: { name: 'get_time' } } });
      assert.equal(t.choices[0].message.tool_calls[0].function.name, 'get_time');
      assertValid(toolSchema('get_time'), t.choices[0].message.tool_calls[0].function.arguments);
      const st = await streamed(s.client, { ...body, tools: WEATHER_TOOLS, tool_choice: { type: 'function', function: { name: 'get_time' } } });
      assert.equal(st.calls[0].arguments, t.choices[0].message.tool_calls[0].function.arguments);
    }
  });
});
