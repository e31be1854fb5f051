// Encodes texts with the Hugging Face tokenizers Node binding (as installed for bench/tokenizer) to
// check that bpe.py gives the same ids for tiny-r1's tokenizer.json.
// usage: node hf_ids.js TOKENIZER_JSON < texts.jsonl  (one JSON string a line) -> one JSON id array a line
const path = require("path");
const readline = require("readline");
const { Tokenizer } = require(path.join(__dirname, "../../bench/tokenizer/node_modules/tokenizers"));

async function main() {
  const tok = Tokenizer.fromFile(process.argv[2]);
  const rl = readline.createInterface({ input: process.stdin });
  const out = [];
  for await (const line of rl) {
    if (!line) continue;
    const enc = await tok.encode(JSON.parse(line), null, { addSpecialTokens: false });
    out.push(JSON.stringify(Array.from(enc.getIds())));
  }
  process.stdout.write(out.join("\n") + "\n");
}
main();
