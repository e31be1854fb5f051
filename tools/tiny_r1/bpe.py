# Byte-level BPE for tiny-r1: trains merges on the synthetic corpus, writes a standard tokenizer.json,
# and encodes/decodes exactly as the Hugging Face tokenizers library does for that file (added tokens
# cut out first, then the Split regex, the byte-level alphabet and BPE by merge rank).
import json
import sys
import unicodedata
import re

# DeepSeek-R1 added tokens (strings and flags as in DeepSeek-R1's tokenizer.json). The first three
# sit in the BPE vocabulary at ids 0-2 like R1's; the others follow the BPE vocabulary.
HEAD_SPECIALS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>"]
TAIL_ADDED = ["<think>", "</think>", "<｜User｜>", "<｜Assistant｜>",
              "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>",
              "<｜tool▁outputs▁begin｜>", "<｜tool▁outputs▁end｜>", "<｜tool▁output▁begin｜>",
              "<｜tool▁output▁end｜>", "<｜tool▁sep｜>"]

# The Split pattern: DeepSeek-V3's pre-tokenizer regex with digits taken one at a time (an optional
# leading space stays with its digit), so every token holds at most one digit.
SPLIT_PATTERN = (r'''[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+| ?\p{N}'''
                 r'''|[^\r\n\p{L}\p{P}\p{S}\p{N}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+''')

# Unicode White_Space (what Oniguruma and PCRE2 with UCP treat as \s).
_WHITE_SPACE = [(0x9, 0xD), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
                (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000)]


def _ranges_to_class(ranges):
    out = []
    for lo, hi in ranges:
        out.append("\\U%08x" % lo if lo == hi else "\\U%08x-\\U%08x" % (lo, hi))
    return "".join(out)


_compiled = None


def _category_ranges():
    cats = {"L": [], "M": [], "N": [], "P": [], "S": []}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = unicodedata.category(chr(cp))[0]
        if c in cats:
            r = cats[c]
            if r and r[-1][1] == cp - 1:
                r[-1][1] = cp
            else:
                r.append([cp, cp])
    return cats


def split_regex():
    """SPLIT_PATTERN translated to Python's re (which lacks \\p{..}), with explicit Unicode classes."""
    global _compiled
    if _compiled is None:
        cats = _category_ranges()
        cls = {k: _ranges_to_class(v) for k, v in cats.items()}
        ws = _ranges_to_class(_WHITE_SPACE)
        p = SPLIT_PATTERN
        # inside character classes first, then standalone escapes
        p = p.replace(r"[^\r\n\p{L}\p{P}\p{S}\p{N}]", "[^\\r\\n%s%s%s%s]" % (cls["L"], cls["P"], cls["S"], cls["N"]))
        p = p.replace(r"[\p{L}\p{M}]", "[%s%s]" % (cls["L"], cls["M"]))
        p = p.replace(r"[\p{P}\p{S}]", "[%s%s]" % (cls["P"], cls["S"]))
        p = p.replace(r"\p{N}", "[%s]" % cls["N"])
        p = p.replace(r"\s", "[%s]" % ws).replace(r"\S", "[^%s]" % ws)
        assert "\\p" not in p
        _compiled = re.compile(p)
    return _compiled


def pretokenize(text):
    """Split with behavior Isolated: every match is a piece, and so is the text between matches."""
    rx = split_regex()
    pieces, last = [], 0
    for m in rx.finditer(text):
        if m.start() > last:
            pieces.append(text[last:m.start()])
        if m.end() > m.start():
            pieces.append(m.group())
        last = m.end()
    if last < len(text):
        pieces.append(text[last:])
    return pieces


def bytes_to_unicode():
    """The byte-level alphabet: printable Latin-1 bytes map to themselves, the rest to U+0100 onwards."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    mapping = {}
    extra = 0
    for b in range(256):
        if b in keep:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    order = keep + [b for b in range(256) if b not in keep]
    return mapping, order


BYTE_TO_CHAR, BYTE_ORDER = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def to_byte_chars(piece):
    return "".join(BYTE_TO_CHAR[b] for b in piece.encode("utf-8"))


# ---------------------------------------------------------------- training

def train(texts, vocab_target, min_count=2):
    """Learns merges on the pre-tokenized texts until the BPE vocabulary has vocab_target entries
    (3 head specials + 256 bytes + merges) or no pair occurs min_count times."""
    counts = {}
    for t in texts:
        for p in pretokenize(t):
            w = to_byte_chars(p)
            counts[w] = counts.get(w, 0) + 1
    words = [(list(w), c) for w, c in counts.items()]
    merges = []
    n_base = len(HEAD_SPECIALS) + 256
    while n_base + len(merges) < vocab_target:
        pairs = {}
        for sym, c in words:
            for i in range(len(sym) - 1):
                k = (sym[i], sym[i + 1])
                pairs[k] = pairs.get(k, 0) + c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if best[1] < min_count:
            break
        a, b = best[0]
        merges.append((a, b))
        ab = a + b
        for sym, _ in words:
            i = 0
            while i < len(sym) - 1:
                if sym[i] == a and sym[i + 1] == b:
                    sym[i:i + 2] = [ab]
                i += 1
    return merges


def build_tokenizer_json(merges):
    vocab = {}
    for s in HEAD_SPECIALS:
        vocab[s] = len(vocab)
    for b in BYTE_ORDER:
        vocab[BYTE_TO_CHAR[b]] = len(vocab)
    for a, b in merges:
        vocab[a + b] = len(vocab)
    added = []
    for i, s in enumerate(HEAD_SPECIALS):
        added.append({"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True})
    nid = len(vocab)
    for s in TAIL_ADDED:
        added.append({"id": nid, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": True, "special": False})
        nid += 1
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": ["%s %s" % m for m in merges]},
    }


# ---------------------------------------------------------------- encoding

class Tokenizer:
    def __init__(self, path_or_obj):
        t = path_or_obj if isinstance(path_or_obj, dict) else json.load(open(path_or_obj, encoding="utf-8"))
        m = t["model"]
        assert m["type"] == "BPE"
        pre = t["pre_tokenizer"]["pretokenizers"]
        assert pre[0]["pattern"]["Regex"] == SPLIT_PATTERN, "only this tokenizer's own split pattern is supported"
        self.vocab = dict(m["vocab"])
        self.ranks = {}
        for i, s in enumerate(m["merges"]):
            a, b = s.split(" ")
            self.ranks[(a, b)] = i
        self.added = {a["content"]: a["id"] for a in t["added_tokens"]}
        self.added_special = {a["id"] for a in t["added_tokens"] if a["special"]}
        self.id_to_token = {i: s for s, i in self.vocab.items()}
        for s, i in self.added.items():
            self.id_to_token[i] = s
        self.size = max(self.id_to_token) + 1
        self._cache = {}
        self._added_sorted = sorted(self.added, key=len, reverse=True)

    def _bpe(self, piece):
        w = self._cache.get(piece)
        if w is not None:
            return w
        sym = list(to_byte_chars(piece))
        while len(sym) > 1:
            best, pos = None, -1
            for i in range(len(sym) - 1):
                r = self.ranks.get((sym[i], sym[i + 1]))
                if r is not None and (best is None or r < best):
                    best, pos = r, i
            if best is None:
                break
            sym[pos:pos + 2] = [sym[pos] + sym[pos + 1]]
        ids = [self.vocab[s] for s in sym]
        self._cache[piece] = ids
        return ids

    def _split_added(self, text):
        """Leftmost-longest matching of added-token strings; yields (is_added, str)."""
        i, start = 0, 0
        n = len(text)
        while i < n:
            hit = None
            if text[i] == "<":
                for s in self._added_sorted:
                    if text.startswith(s, i):
                        hit = s
                        break
            if hit is not None:
                if i > start:
                    yield False, text[start:i]
                yield True, hit
                i += len(hit)
                start = i
            else:
                i += 1
        if start < n:
            yield False, text[start:]

    def encode(self, text):
        ids = []
        for is_added, s in self._split_added(text):
            if is_added:
                ids.append(self.added[s])
            else:
                for p in pretokenize(s):
                    ids.extend(self._bpe(p))
        return ids

    def decode(self, ids, skip_special=False):
        out, buf = [], []

        def flush():
            if buf:
                out.append(bytes(CHAR_TO_BYTE[c] for c in "".join(buf)).decode("utf-8", errors="replace"))
                buf.clear()

        for i in ids:
            tok = self.id_to_token[i]
            if tok in self.added:
                flush()
                if not (skip_special and i in self.added_special):
                    out.append(tok)
            else:
                buf.append(tok)
        flush()
        return "".join(out)

    def token_strings(self, ids):
        return [self.id_to_token[i] for i in ids]


if __name__ == "__main__":
    # python3 bpe.py TOKENIZER_JSON TEXT  -> prints the ids (JSON) of TEXT (no special tokens added)
    tok = Tokenizer(sys.argv[1])
    ids = tok.encode(sys.argv[2])
    print(json.dumps(ids))
