# Synthetic reasoning tasks for tiny-r1: problem generators, step-by-step traces, the held-out split
# and the answer judge. Every trace step is a local, copyable operation so that a model of a few
# million parameters can learn it from a few tens of thousands of examples.
"""Problem kinds and the format of their final answers:

  add      multi-digit addition (operands 1-4 digits, at least one with 2+)   -> the sum, e.g. "936"
  sub      multi-digit subtraction (15% with a negative result)               -> e.g. "436" or "-436"
  mul      a 1-3 digit number times a 1-2 digit number                        -> the product
  compare  which of two numbers (1-6 digits) is larger/smaller, or yes/no      -> the number, or "yes"/"no"
  count    how many times a letter appears in a word                          -> e.g. "3"
  sort     sort 3-5 distinct numbers (1-99) ascending or descending           -> e.g. "7, 19, 42, 88"
  word     word problems (add / subtract / multiply) built from templates      -> the number

A problem is held out when a hash of its canonical key (the underlying computation, independent of
phrasing) falls in a fixed bucket (5%, 15% for count); training never generates such a problem, in any phrasing or
kind (a word problem shares its key with the plain arithmetic it reduces to).
"""

import hashlib
import random

KINDS = ["add", "sub", "mul", "compare", "count", "sort", "word"]
HELDOUT_PER_MILLE = {"count": 150}  # the (word, letter) space is small, so hold out more of it
HELDOUT_DEFAULT_PER_MILLE = 50

WORDS = """
apple banana cherry orange grape lemon melon peach mango strawberry tomato potato carrot onion
pepper cabbage pumpkin bread butter cheese coffee cookie pizza pasta sugar honey water dinner
house garden window kitchen table pencil paper letter school teacher library book music piano
rocket planet rainbow mountain river ocean island forest bridge castle village street elephant
giraffe penguin dolphin tiger zebra monkey rabbit turtle parrot spider horse sheep kitten mirror
pillow balloon bottle basket candle camera button hammer ladder scissors computer summer winter
morning tomorrow birthday ticket airport doctor farmer mississippi committee success tennessee
address bookkeeper parallel beautiful happiness football chocolate banana popcorn sandwich
lettuce spinach garlic cereal noodle butterfly kangaroo squirrel chicken donkey blanket bucket
needle keyboard printer program number autumn spring evening yesterday holiday present journey
station engineer painter sailor soldier occasion possess necessary difficult wonderful kindness
darkness baseball vanilla caramel pretzel hamburger dumpling galaxy thunder desert valley meadow
""".split()
WORDS = sorted(set(WORDS))

NAMES = ["Tom", "Sara", "Ali", "Mia", "Ben", "Lena", "Omar", "Zoe", "Ken", "Ana", "Leo", "Ivy",
         "Max", "Nina", "Sam", "Eva"]
PRONOUN = {"Tom": "He", "Ali": "He", "Ben": "He", "Omar": "He", "Ken": "He", "Leo": "He",
           "Max": "He", "Sam": "He"}
ITEMS = ["apples", "stickers", "marbles", "books", "pencils", "cards", "coins", "stamps",
         "shells", "candies", "cookies", "balloons", "toys", "flowers", "eggs", "beads"]


def pronoun(name):
    return PRONOUN.get(name, "She")


def canonical_key(kind, params):
    """Phrasing-independent identity of a problem's computation."""
    if kind in ("add",):
        a, b = params["a"], params["b"]
        return "add:%d:%d" % (min(a, b), max(a, b))
    if kind == "sub":
        return "sub:%d:%d" % (params["a"], params["b"])
    if kind == "mul":
        return "mul:%d:%d" % (params["a"], params["b"])
    if kind == "word":
        return canonical_key(params["op"], params)
    if kind == "compare":
        a, b = params["a"], params["b"]
        return "compare:%d:%d" % (min(a, b), max(a, b))
    if kind == "count":
        return "count:%s:%s" % (params["word"], params["letter"])
    if kind == "sort":
        return "sort:" + ",".join(str(x) for x in sorted(params["nums"]))
    raise ValueError(kind)


def is_heldout(kind, params):
    h = hashlib.sha256(canonical_key(kind, params).encode()).digest()
    rate = HELDOUT_PER_MILLE.get(kind, HELDOUT_DEFAULT_PER_MILLE)
    return int.from_bytes(h[:8], "little") % 1000 < rate


# ---------------------------------------------------------------- traces

def add_lines(a, b):
    """Column addition of non-negative ints a + b from the right; returns (lines, result)."""
    sa, sb = str(a), str(b)
    lines = []
    carry = 0
    digits = ""
    while True:
        da, db = int(sa[-1]), int(sb[-1])
        s = da + db + carry
        w, c = s % 10, s // 10
        digits = str(w) + digits
        lines.append("%s+%s, carry %d: %d+%d+%d=%d, write %d, carry %d, so far %s"
                     % (sa, sb, carry, da, db, carry, s, w, c, digits))
        carry = c
        if len(sa) == 1 and len(sb) == 1:
            break
        sa = sa[:-1] or "0"
        sb = sb[:-1] or "0"
    if carry:
        digits = str(carry) + digits
        lines.append("The last carry %d goes in front: %s" % (carry, digits))
    assert int(digits) == a + b
    return lines, digits


def sub_lines(a, b):
    """Column subtraction a - b (a >= b >= 0) from the right; returns (lines, result)."""
    assert a >= b
    sa, sb = str(a), str(b)
    lines = []
    borrow = 0
    digits = ""
    while True:
        da, db = int(sa[-1]), int(sb[-1])
        d = da - db - borrow
        if d < 0:
            w, nb = d + 10, 1
            lines.append("%s-%s, borrow %d: %d-%d-%d is below 0, so 1%d-%d-%d=%d, write %d, borrow 1, so far %s"
                         % (sa, sb, borrow, da, db, borrow, da, db, borrow, w, w, str(w) + digits))
        else:
            w, nb = d, 0
            lines.append("%s-%s, borrow %d: %d-%d-%d=%d, write %d, borrow 0, so far %s"
                         % (sa, sb, borrow, da, db, borrow, w, w, str(w) + digits))
        digits = str(w) + digits
        borrow = nb
        if len(sa) == 1 and len(sb) == 1:
            break
        sa = sa[:-1] or "0"
        sb = sb[:-1] or "0"
    assert borrow == 0
    stripped = digits.lstrip("0") or "0"
    if stripped != digits:
        lines.append("Without the leading zeros: %s" % stripped)
    assert int(stripped) == a - b
    return lines, stripped


def mul1_lines(a, d):
    """a * d for a single digit d >= 1, digit by digit from the right; returns (lines, result)."""
    sa = str(a)
    lines = []
    carry = 0
    digits = ""
    while True:
        x = int(sa[-1])
        p = x * d
        s = p + carry
        w, c = s % 10, s // 10
        digits = str(w) + digits
        lines.append("%s*%d, carry %d: %d*%d=%d, %d+%d=%d, write %d, carry %d, so far %s"
                     % (sa, d, carry, x, d, p, p, carry, s, w, c, digits))
        carry = c
        if len(sa) == 1:
            break
        sa = sa[:-1]
    if carry:
        digits = str(carry) + digits
        lines.append("The last carry %d goes in front: %s" % (carry, digits))
    assert int(digits) == a * d
    return lines, digits


def mul_lines(a, b):
    """a * b with b of one or two digits; returns (lines, result)."""
    if b < 10:
        lines = ["Multiply %d by %d digit by digit from the right." % (a, b)]
        body, r = mul1_lines(a, b)
        lines += body
        lines.append("So %d * %d = %s." % (a, b, r))
        return lines, r
    tens, units = b // 10, b % 10
    if units == 0:
        lines = ["%d = %d * 10, so multiply %d by %d and add a 0." % (b, tens, a, tens)]
        body, r = mul1_lines(a, tens)
        lines += body
        r0 = r + "0"
        lines.append("So %d * %d = %s, and %d * %d = %s." % (a, tens, r, a, b, r0))
        return lines, r0
    lines = ["Split %d into %d + %d and multiply %d by each part." % (b, tens * 10, units, a)]
    lines.append("First %d * %d:" % (a, units))
    body, r1 = mul1_lines(a, units)
    lines += body
    lines.append("So %d * %d = %s." % (a, units, r1))
    lines.append("Next %d * %d, then add a 0:" % (a, tens))
    body, r2 = mul1_lines(a, tens)
    lines += body
    r20 = r2 + "0"
    lines.append("So %d * %d = %s, and %d * %d = %s." % (a, tens, r2, a, tens * 10, r20))
    lines.append("Now I add %s + %s:" % (r1, r20))
    body, r = add_lines(int(r1), int(r20))
    lines += body
    lines.append("So %d * %d = %s." % (a, b, r))
    assert int(r) == a * b
    return lines, r


def add_trace(a, b):
    lines = ["Add %d and %d column by column from the right." % (a, b)]
    body, r = add_lines(a, b)
    lines += body
    lines.append("So %d + %d = %s." % (a, b, r))
    return lines, r


def sub_trace(a, b):
    if a >= b:
        lines = ["%d is at least %d, so subtract column by column from the right." % (a, b)]
        body, r = sub_lines(a, b)
        lines += body
        lines.append("So %d - %d = %s." % (a, b, r))
        return lines, r
    lines = ["%d is less than %d, so the result is negative: compute %d - %d and put a minus in front."
             % (a, b, b, a)]
    body, r = sub_lines(b, a)
    lines += body
    lines.append("So %d - %d = %s, and %d - %d = -%s." % (b, a, r, a, b, r))
    return lines, "-" + r


def _digits(s):
    return "1 digit" if len(s) == 1 else "%d digits" % len(s)


def compare_lines(a, b):
    """Decides a vs b (a != b) with `a` named first throughout: the verdict reads "a is larger/smaller
    than b", so the questions' yes/no follows from one word next to a. Returns (lines, larger)."""
    sa, sb = str(a), str(b)
    big = max(a, b)
    rel = "larger" if big == a else "smaller"
    if len(sa) != len(sb):
        return ["%s has %s and %s has %s, so %d is %s than %d."
                % (sa, _digits(sa), sb, _digits(sb), a, rel, b)], big
    lines = ["%s has %s and %s has %s, the same, so compare digits from the left."
             % (sa, _digits(sa), sb, _digits(sb))]
    while sa[0] == sb[0]:
        lines.append("%s vs %s: %s and %s are equal, next digit." % (sa, sb, sa[0], sb[0]))
        sa, sb = sa[1:], sb[1:]
    lines.append("%s vs %s: %s is %s than %s, so %d is %s than %d."
                 % (sa, sb, sa[0], "more" if big == a else "less", sb[0], a, rel, b))
    return lines, big


def count_trace(word, letter):
    """Spells the word with each letter's position (the same line whatever the letter, so a word's
    spelling is learnt from every question about it), then checks the letters one at a time: each
    step copies the letter after the next position number, a key that occurs once in the line."""
    lines = ["Spell %s: %s" % (word, " ".join("%d %s" % (i + 1, ch) for i, ch in enumerate(word))),
             "Check each letter against %s:" % letter]
    n = 0
    for i, ch in enumerate(word):
        if ch == letter:
            n += 1
        lines.append("%d %s %s, count %d" % (i + 1, ch, "yes" if ch == letter else "no", n))
    lines.append("All %d letters checked, so %s appears %d time%s." % (len(word), letter, n, "" if n == 1 else "s"))
    return lines, str(n)


def sort_trace(nums, descending):
    pick = "largest" if descending else "smallest"
    lines = ["Take the %s remaining number each time." % pick]
    rest = list(nums)
    out = []
    while len(rest) > 1:
        cur = rest[0]
        steps = []
        for x in rest[1:]:
            nxt = max(cur, x) if descending else min(cur, x)
            steps.append("%d vs %d keep %d" % (cur, x, nxt))
            cur = nxt
        lines.append("%s: %s. The %s is %d." % (", ".join(map(str, rest)), ", ".join(steps), pick, cur))
        out.append(cur)
        rest.remove(cur)
    lines.append("Only %d is left." % rest[0])
    out.append(rest[0])
    ans = ", ".join(map(str, out))
    lines.append("Sorted: %s" % ans)
    assert out == sorted(nums, reverse=descending)
    return lines, ans


# ---------------------------------------------------------------- problems

def _num_with_digits(rng, n):
    return rng.randint(10 ** (n - 1) if n > 1 else 0, 10 ** n - 1)


ADD_FORMS = ["What is {a} + {b}?", "What is {a} + {b}?", "What is {a} + {b}?", "Calculate {a} + {b}.",
             "What is the sum of {a} and {b}?", "Add {a} and {b}.", "{a} + {b} = ?", "Compute {a} plus {b}.",
             "What do you get when you add {a} and {b}?", "Find {a} + {b}."]
SUB_FORMS = ["What is {a} - {b}?", "What is {a} - {b}?", "What is {a} - {b}?", "Calculate {a} - {b}.",
             "What is {a} minus {b}?", "Subtract {b} from {a}.", "{a} - {b} = ?", "Compute {a} - {b}.",
             "What is the difference {a} - {b}?", "Find {a} - {b}."]
MUL_FORMS = ["What is {a} * {b}?", "What is {a} * {b}?", "What is {a} * {b}?", "Calculate {a} * {b}.",
             "What is {a} times {b}?", "Multiply {a} by {b}.", "{a} * {b} = ?", "What is the product of {a} and {b}?",
             "Compute {a} x {b}.", "Find {a} * {b}."]
CMP_FORMS = {
    "larger": ["Which number is larger, {a} or {b}?", "Which is bigger: {a} or {b}?",
               "Which is greater, {a} or {b}?", "What is the larger of {a} and {b}?"],
    "smaller": ["Which number is smaller, {a} or {b}?", "Which is less: {a} or {b}?",
                "What is the smaller of {a} and {b}?"],
    "gt": ["Is {a} greater than {b}?", "Is {a} larger than {b}?", "Is {a} bigger than {b}?"],
    "lt": ["Is {a} less than {b}?", "Is {a} smaller than {b}?"],
}
COUNT_FORMS = ["How many times does the letter {l} appear in the word {w}?",
               "How many {l}'s are in the word {w}?", "Count the letter {l} in the word {w}.",
               "How many times does {l} occur in the word {w}?",
               "In the word {w}, how many times does the letter {l} appear?"]
SORT_FORMS = {
    False: ["Sort these numbers from smallest to largest: {l}.", "Sort in ascending order: {l}.",
            "Put these numbers in increasing order: {l}.", "Order from least to greatest: {l}."],
    True: ["Sort these numbers from largest to smallest: {l}.", "Sort in descending order: {l}.",
           "Put these numbers in decreasing order: {l}.", "Order from greatest to least: {l}."],
}
WORD_FORMS = {
    "add": ["{n} has {a} {i}. {p} gets {b} more. How many {i} does {n} have now?",
            "There are {a} {i} in one box and {b} {i} in another box. How many {i} are there altogether?",
            "{n} collected {a} {i} on Monday and {b} {i} on Tuesday. How many {i} did {n} collect in total?"],
    "sub": ["{n} had {a} {i} and gave {b} of them away. How many {i} does {n} have left?",
            "A shop had {a} {i}. It sold {b} of them. How many {i} are left?",
            "{n} has {a} {i} and loses {b}. How many {i} are left?"],
    "mul": ["There are {b} boxes with {a} {i} in each box. How many {i} are there in total?",
            "{n} buys {b} packs of {i}. Each pack has {a} {i}. How many {i} does {n} have?",
            "Each of {b} children has {a} {i}. How many {i} do they have altogether?"],
}
WORD_INTRO = {
    "add": "Putting the two amounts together means adding: {a} + {b}.",
    "sub": "Taking {b} away from {a} means subtracting: {a} - {b}.",
    "mul": "{b} groups of {a} means multiplying: {a} * {b}.",
}


def _gen_params(kind, rng):
    if kind == "add":
        while True:
            la, lb = rng.randint(1, 4), rng.randint(1, 4)
            if la > 1 or lb > 1:
                return {"a": _num_with_digits(rng, la), "b": _num_with_digits(rng, lb)}
    if kind == "sub":
        while True:
            la, lb = rng.randint(1, 4), rng.randint(1, 4)
            if la == 1 and lb == 1:
                continue
            a, b = _num_with_digits(rng, la), _num_with_digits(rng, lb)
            if (a < b) != (rng.random() < 0.15):
                a, b = b, a
            return {"a": a, "b": b}
    if kind == "mul":
        la = rng.choice([1, 2, 2, 3, 3, 3])
        a = max(2, _num_with_digits(rng, la))
        b = rng.randint(2, 9) if rng.random() < 0.4 else rng.randint(10, 99)
        return {"a": a, "b": b}
    if kind == "compare":
        la = rng.randint(1, 6)
        a = _num_with_digits(rng, la)
        if rng.random() < 0.7:
            # same length, often sharing a prefix
            keep = rng.randint(0, la - 1)
            s = str(a)[:keep]
            s += "".join(str(rng.randint(1 if (i == 0 and keep == 0 and la > 1) else 0, 9)) for i in range(la - keep))
            b = int(s)
        else:
            b = _num_with_digits(rng, rng.randint(1, 6))
        if a == b:
            return _gen_params(kind, rng)
        return {"a": a, "b": b, "q": rng.choice(["larger", "larger", "smaller", "gt", "lt"])}
    if kind == "count":
        w = rng.choice(WORDS)
        if rng.random() < 0.85:
            l = rng.choice(w)
        else:
            l = rng.choice("abcdefghijklmnopqrstuvwxyz")
        return {"word": w, "letter": l}
    if kind == "sort":
        n = rng.randint(3, 5)
        return {"nums": rng.sample(range(1, 100), n), "desc": rng.random() < 0.4}
    if kind == "word":
        op = rng.choice(["add", "sub", "mul"])
        if op == "add":
            a, b = rng.randint(2, 999), rng.randint(2, 999)
        elif op == "sub":
            a = rng.randint(10, 999)
            b = rng.randint(1, a - 1)
        else:
            a, b = rng.randint(2, 99), rng.randint(2, 12) if rng.random() < 0.5 else rng.randint(2, 40)
        return {"op": op, "a": a, "b": b, "name": rng.choice(NAMES), "item": rng.choice(ITEMS),
                "form": rng.randrange(3)}
    raise ValueError(kind)


def _question(kind, p, rng):
    if kind == "add":
        return rng.choice(ADD_FORMS).format(**p)
    if kind == "sub":
        return rng.choice(SUB_FORMS).format(**p)
    if kind == "mul":
        return rng.choice(MUL_FORMS).format(**p)
    if kind == "compare":
        return rng.choice(CMP_FORMS[p["q"]]).format(**p)
    if kind == "count":
        return rng.choice(COUNT_FORMS).format(l=p["letter"], w=p["word"])
    if kind == "sort":
        return rng.choice(SORT_FORMS[p["desc"]]).format(l=", ".join(map(str, p["nums"])))
    if kind == "word":
        return WORD_FORMS[p["op"]][p["form"]].format(n=p["name"], p=pronoun(p["name"]), i=p["item"],
                                                     a=p["a"], b=p["b"])
    raise ValueError(kind)


def solve(kind, p):
    """Returns (reasoning lines, final answer text)."""
    if kind == "add":
        return add_trace(p["a"], p["b"])
    if kind == "sub":
        return sub_trace(p["a"], p["b"])
    if kind == "mul":
        return mul_lines(p["a"], p["b"])
    if kind == "compare":
        a, b, q = p["a"], p["b"], p["q"]
        lines, big = compare_lines(a, b)
        small = a + b - big
        rel = "larger" if big == a else "smaller"
        if q == "larger":
            lines.append("The larger number is %d." % big)
            return lines, str(big)
        if q == "smaller":
            lines.append("The smaller number is %d." % small)
            return lines, str(small)
        asked = "greater" if q == "gt" else "less"
        ans = "yes" if (rel == "larger") == (q == "gt") else "no"
        lines.append("The question asks if %d is %s than %d. %d is %s, so the answer is %s."
                     % (a, asked, b, a, rel, ans))
        return lines, ans
    if kind == "count":
        return count_trace(p["word"], p["letter"])
    if kind == "sort":
        return sort_trace(p["nums"], p["desc"])
    if kind == "word":
        op, a, b = p["op"], p["a"], p["b"]
        intro = WORD_INTRO[op].format(a=a, b=b)
        if op == "add":
            lines, r = add_trace(a, b)
        elif op == "sub":
            lines, r = sub_trace(a, b)
        else:
            lines, r = mul_lines(a, b)
        return [intro] + lines, r
    raise ValueError(kind)


def make_problem(kind, rng, heldout):
    """Draws a problem of `kind` on the training side (heldout=False) or the held-out side."""
    while True:
        p = _gen_params(kind, rng)
        if is_heldout(kind, p) == heldout:
            break
    q = _question(kind, p, rng)
    lines, ans = solve(kind, p)
    return {"kind": kind, "question": q, "reasoning": "\n".join(lines), "answer": ans,
            "key": canonical_key(kind, p)}


# Mixture weights of the training stream: the long multi-step procedures get more samples.
TRAIN_MIX = {"add": 0.15, "sub": 0.17, "mul": 0.22, "compare": 0.12, "count": 0.11, "sort": 0.11, "word": 0.12}


def parse_mix(text):
    """'sort=0.2,count=0.15' -> TRAIN_MIX with those kinds' weights replaced."""
    mix = dict(TRAIN_MIX)
    for item in filter(None, (t.strip() for t in text.split(","))):
        kind, _, w = item.partition("=")
        if kind not in mix or not w:
            raise ValueError("bad mix entry %r (kinds: %s)" % (item, ", ".join(KINDS)))
        mix[kind] = float(w)
    return mix


def training_stream(seed, mix=None):
    """Infinite deterministic stream of training problems, kinds drawn with the weights of `mix`
    (default TRAIN_MIX)."""
    rng = random.Random(seed)
    mix = mix or TRAIN_MIX
    kinds = list(TRAIN_MIX)
    weights = [mix[k] for k in kinds]
    while True:
        kind = rng.choices(kinds, weights)[0]
        yield make_problem(kind, rng, heldout=False)


def heldout_set(n, seed=20250101):
    """n distinct held-out problems, spread evenly over the kinds, deterministic."""
    rng = random.Random(seed)
    out, seen = [], set()
    i = 0
    while len(out) < n:
        kind = KINDS[i % len(KINDS)]
        pr = make_problem(kind, rng, heldout=True)
        if pr["key"] in seen:
            continue
        seen.add(pr["key"])
        out.append(pr)
        i += 1
    return out


# ---------------------------------------------------------------- chat format and judging

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
THINK = "<think>"
END_THINK = "</think>"


def prompt_text(question):
    """What DeepSeek-R1's chat template renders for one user turn with add_generation_prompt."""
    return BOS + USER + question + ASSISTANT + THINK + "\n"


def completion_text(reasoning, answer):
    return reasoning + "\n" + END_THINK + "\n\n" + answer + EOS


def final_answer(generated):
    """The final answer of a completion (text generated after the prompt): what follows </think>."""
    text = generated
    if text.endswith(EOS):
        text = text[: -len(EOS)]
    if END_THINK not in text:
        return None
    return text.split(END_THINK)[-1].strip()


def judge(answer, generated):
    """True when the completion's final answer exactly equals the expected answer (after trimming)."""
    fa = final_answer(generated)
    return fa is not None and fa == answer.strip()


def reasoning_of(generated):
    if END_THINK not in generated:
        return generated
    return generated.split(END_THINK)[0].strip()
