#!/usr/bin/env python3
"""Writes tests/data/jinja2_cases/cases.jsonl: template snippets rendered by Jinja2 configured the
way Hugging Face transformers renders chat templates (ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks, loopcontrols, the {% generation %} tag, tojson = json.dumps(ensure_ascii=False),
raise_exception). Each line: {"name", "template", "context", "expected"} or, when Jinja2 raises,
{"name", "template", "context", "error"}. The C++ tests render the same and compare.

Usage: python3 tools/chat/jinja2_reference_cases.py tests/data/jinja2_cases/cases.jsonl
(needs python3-jinja2; the fixture was made with Jinja2 3.1.6)."""
import json
import sys

import jinja2
from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


class GenerationTag(Extension):
    """transformers' AssistantTracker: {% generation %}...{% endgeneration %} renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", [], [], None), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, loopcontrols])

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def raise_exception(message):
        raise TemplateError(message)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


MSGS = [
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "<think>r</think>ans", "reasoning_content": "r"},
    {"role": "assistant", "content": None,
     "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
    {"role": "tool", "content": "42", "tool_call_id": "c1"},
]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get weather é",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "days": {"type": "integer", "items": {"x": 1}}},
                   "required": ["city"]}}}]

CASES = []


def case(name, template, **ctx):
    CASES.append((name, template, ctx))


# ---- whitespace control (trim_blocks, lstrip_blocks, - and +) ----
case("ws_lstrip_trim", "a\n  {% if true %}\n  x\n  {% endif %}\nb")
case("ws_minus_both", "a  {%- if true -%}  x  {%- endif -%}  b")
case("ws_plus_disables", "a\n  {%+ if true %}x{% endif +%}\nb")
case("ws_for_lines", "{% for i in [1,2] %}\n  {{ i }}\n{% endfor %}\n")
case("ws_for_minus", "{% for i in [1,2] -%}\n  {{ i }}\n{%- endfor %}")
case("ws_comments", "  {# comment #}\nx\n{#- c -#}\n  y")
case("ws_var_no_trim", "{{ 'a' }}\n{{ 'b' }}\n")
case("ws_trailing_newline_dropped", "x\n\n")
case("ws_crlf_normalized", "x\r\ny\rz\n")
case("ws_raw", "{% raw %}{{ x }}{% endraw %}")
case("ws_raw_lstrip", "  {% raw %}\n  x {{ y }}\n  {% endraw %}\nz")
case("ws_raw_minus", "x  {%- raw -%}  r  {%- endraw -%}  y")
case("ws_var_minus", "a {{- ' b ' -}} c")
case("ws_tabs", "\t {% if true %}x{% endif %}\t\n")
case("ws_minus_newlines", "{%- if true %}\n\n{% endif -%}\n")
case("ws_unicode_space", " \u3000{%- if true %}x{% endif %}")
case("ws_space_before_newline", " {% if true %}A{% endif %} \n B")
case("ws_var_minus_number", "{{-1}}|{{ 2 -}}  x")
case("ws_lstrip_after_var", "{{ 'v' }}  {% if true %}x{% endif %}")
case("ws_multiline_tag", "{% if\n true\n %}\nyes{% endif %}")

# ---- literals and operators ----
case("arith_precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}")
case("number_literals", "{{ 10 / 4 }} {{ 10 / 5 }} {{ 1e3 }} {{ 1_000 }} {{ 0x1F }} {{ 0b101 }} {{ 0o17 }} {{ 1.5e-7 }} {{ 123456789012345678 }} {{ 0.1 + 0.2 }}")
case("comparisons", "{{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1,2] < [1,3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ none == none }} {{ true + true }}")
case("concat_and_repeat", "{{ 'abc' ~ 1 ~ none ~ true }} {{ 'x' * 3 }} {{ [1] * 2 }} {{ [1] + [2] }} {{ (1,) + (2,) }}")
case("conditional_expr", "{{ 'a' if false }}|{{ 'a' if true else 'b' }}|{{ 'a' if none else 'b' if 0 else 'c' }}")
case("and_or_not_values", "{{ 1 and 'x' }} {{ 0 and 'x' }} {{ 0 or '' }} {{ none or 'y' }} {{ not 1 }} {{ not not [] }}")
case("in_operator", "{{ 'ell' in 'hello' }} {{ 2 in [1,2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }} {{ 1 in (1,2) }}")
case("slicing", "{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ 'hello'[-2:] }} {{ [1,2,3,4][::2] }} {{ [1,2,3][-1] }} {{ 'héllo'[1] }} {{ 'héllo'[::-1] }} {{ [1,2,3][5:] }} {{ [1,2,3,4,5][4:1:-2] }}")
case("attr_on_dict", "{{ x.y }}", x={"y": 3})
case("item_and_missing", "{{ x['y'] }} {{ x.z }}|{{ x['z'] is defined }}", x={"y": 3})
case("container_printing", "{{ {'a': 1, 'b': [1, 2]} }} {{ [1, 'a', none, true, 1.5] }} {{ ('a',) }} {{ () }}")
case("string_repr_quotes", "{{ \"it's\" }} {{ ['it\\'s', 'say \"hi\"', 'both \\' \"'] }} {{ ['\\n\\t\\\\', '\\x00', 'é', '\u2028'] }}")
case("string_escapes", "{{ '\\u00e9\\x41\\101\\n\\'' }} {{ \"a\" 'b' }} {{ '\\d\\q' }}")
case("raw_newline_in_string", "{{ 'a\nb' + '\n' }}")
case("float_printing", "{{ 1.0 }} {{ 100.0 }} {{ 1e16 }} {{ 1e15 }} {{ 1.5e300 * 1e10 }} {{ -0.0 }} {{ 2.5e-5 }} {{ 1/3 }} {{ 2/3 * 3 }}")
case("power_and_modulo", "{{ 2 * 3 ** 2 }} {{ (2 * 3) ** 2 }} {{ 10 - 2 - 3 }} {{ 2 ** -1 }} {{ 4 ** 0.5 }} {{ 10 % 3 }} {{ -10 % 3 }} {{ 10.5 % 3 }}")
case("precedence_mix", "{{ 'x' if true else 'y' ~ 'z' }} {{ [1,2,3] | join(', ') | upper | length }} {{ -1|abs }} {{ not true is false }}")
case("dict_keys_equal", "{{ {1: 'a', 1.0: 'b'} }} {{ {true: 1, 1: 2} }}")
case("repeat_edge", "{{ 'abc' * -1 }}|{{ [1] * 0 }}|{{ 3 * 'ab' }}")
case("dotted_index", "{{ a.0 }} {{ a.1.0 }}", a=[5, [6]])
case("item_by_variable", "{{ a[b] }}", a={"1": "str", "x": "y"}, b="x")
case("item_int_vs_str_key", "{{ d[1] }}|{{ d['1'] }}", d={"1": "one"})
case("print_values", "{{ x }} {{ y }} {{ w }}", x=1.0, y=1e100, w=True)
case("print_nested_dict", "{{ x }}", x={"b": 1, "a": [None, True, 1.25, "s"]})
case("print_empty_things", "{{ [] }}{{ {} }}{{ '' }}{{ none }}{{ true }}{{ false }}")
case("concat_list_with_tilde", "{{ 'a' ~ b }}", b=[1, {"x": None}])

# ---- tests ----
case("tests_numbers", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ none is none }} {{ 1 is number }} {{ true is boolean }} {{ 1 is integer }} {{ true is integer }} {{ 1.0 is float }}")
case("tests_types", "{{ 'a' is string }} {{ {} is mapping }} {{ [] is sequence }} {{ 'x' is iterable }} {{ x is defined }} {{ x is undefined }} {{ 'ABC' is upper }} {{ 'abc' is lower }} {{ 1 is sameas 1 }} {{ none is sameas none }}")
case("tests_compare", "{{ 2 is eq 2 }} {{ 2 is ne 3 }} {{ 2 is lt 3 }} {{ 2 is le 2 }} {{ 3 is gt 2 }} {{ 3 is ge 4 }} {{ 2 is in [1, 2] }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ range is callable }}")
case("tests_none_defined", "{{ x is not none }} {{ not x is defined }} {{ x is not defined and true }}", x=None)

# ---- filters ----
case("f_trim_length", "{{ '  a b  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ 'abc'|length }}|{{ [1,2]|length }}|{{ {'a':1}|count }}|{{ 'héllo'|length }}")
case("f_sort", "{{ [3,1,2]|sort }} {{ [3,1,2]|sort(reverse=true) }} {{ ['b','A','a','B']|sort }} {{ ['b','A','a','B']|sort(case_sensitive=true) }}")
case("f_sort_attribute", "{{ [{'n': 2}, {'n': 1}]|sort(attribute='n') }} {{ [{'a': {'b': 2}}, {'a': {'b': 1}}]|sort(attribute='a.b')|map(attribute='a.b')|list }}")
case("f_join", "{{ [1,2,3]|join(', ') }} {{ ['a','b']|join }} {{ [{'n': 'x'}, {'n': 'y'}]|join('-', attribute='n') }} {{ [1, none, 'a']|join('|') }}")
case("f_default", "{{ x|default('d') }} {{ none|default('d') }} {{ none|default('d', true) }} {{ ''|d('e', true) }} {{ 0|default(5) }}")
case("f_first_last", "{{ [1,2,3]|first }} {{ [1,2,3]|last }} {{ []|first }}|{{ 'abc'|first }} {{ 'abc'|last }} {{ {'a': 1}|first }}")
case("f_list", "{{ 'abc'|list }} {{ {'a': 1, 'b': 2}|list }} {{ (1, 2)|list }} {{ x|list }}")
case("f_map", "{{ [{'a': 1}, {'a': 2}]|map(attribute='a')|list }} {{ ['a', 'B']|map('upper')|list }} {{ [{'x': 1}, {}]|map(attribute='x', default=0)|list }} {{ ['1', '2']|map('int')|sum }}")
case("f_select_reject", "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ [0, 1, '', 'a']|select|list }} {{ [1,2,3]|select('gt', 1)|list }} {{ [1,2,3]|select('in', [2, 3])|list }}")
case("f_selectattr", "{{ msgs|selectattr('role', 'equalto', 'user')|list }} {{ msgs|rejectattr('content')|map(attribute='role')|list }} {{ msgs|selectattr('tool_calls', 'defined')|list|length }}", msgs=MSGS)
case("f_dictsort_items", "{{ {'b': 1, 'a': 2}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ {'b': 1, 'a': 2}|dictsort(reverse=true) }} {{ {'b': 1, 'a': 2}|items|list }}")
case("f_case", "{{ 'hello world'|upper }} {{ 'HeLLo'|lower }} {{ 'hello world'|title }} {{ 'hELLO wORLD'|capitalize }} {{ 'foo-bar baz(qux'|title }}")
case("f_replace_reverse", "{{ 'a-b-c'|replace('-', '+') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }} {{ [1,2,3]|reverse|list }} {{ 'abc'|reverse }}")
case("f_int", "{{ '42'|int }} {{ '42.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 4.9|int }} {{ '0x1A'|int(0, 16) }} {{ '0x1A'|int(base=16) }} {{ ' 12 '|int }} {{ '1_000'|int }} {{ true|int }}")
case("f_float", "{{ '4.5'|float }} {{ 'x'|float }} {{ 3|float }} {{ '1e3'|float }} {{ 'inf'|float }} {{ 'nan'|float }}")
case("f_abs_round", "{{ -3|abs }} {{ (-3.5)|abs }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.567|round(1, 'floor') }} {{ 2.561|round(2, 'ceil') }} {{ 3|round }} {{ 1234.5|round(-2) }} {{ 0.125|round(2) }}")
case("f_sum_max_min", "{{ [1,2,3]|sum }} {{ [{'v': 1}, {'v': 2.5}]|sum(attribute='v') }} {{ [[1], [2]]|sum(start=[]) }} {{ [1,5,3]|max }} {{ [1,5,3]|min }} {{ ['a','B']|max }} {{ []|max }}|")
case("f_unique", "{{ [1,2,1,3,2]|unique|list }} {{ ['a','A','b']|unique|list }} {{ ['a','A','b']|unique(case_sensitive=true)|list }}")
case("f_center_truncate", "{{ 'x'|center(5) }}|{{ 'hello'|truncate(3) }}|{{ 'hello world foo'|truncate(9) }}|{{ 'hello world foo'|truncate(9, true) }}|{{ 'hello world'|truncate(11) }}|{{ 'a b c d e f g h i j'|truncate(9, leeway=0) }}")
case("f_indent", "{{ 'a\nb\n\nc'|indent }}|{{ 'a\nb\n\nc'|indent(2, true) }}|{{ 'a\nb\n\nc'|indent(2, blank=true) }}|{{ 'a\nb'|indent('> ') }}")
case("f_escape_misc", "{{ '<a href=\"x\">&\\'</a>'|escape }} {{ '<b>x</b> y  z'|striptags }} {{ 'a b  c\td'|wordcount }} {{ 'a/b c&d'|urlencode }} {{ {'a': 'x y', 'b': 1}|urlencode }}")
case("f_batch_slice", "{{ [1,2,3,4,5]|batch(2)|list }} {{ [1,2,3,4,5]|batch(2, 0)|list }} {{ [1,2,3,4,5]|slice(2)|list }} {{ [1,2,3,4,5]|slice(3, 'x')|list }}")
case("f_percent_format", "{{ '%s is %d years, %.2f%% sure, %5s|%-5s|%05d|%x|%r' % ('Bob', 30, 99.5, 'ab', 'cd', 42, 255, 'q') }} {{ '%s'|format([1]) }} {{ '%(a)s-%(b)d'|format(a='x', b=2) }} {{ '%c%c' % (65, 'b') }} {{ '%+d % d %e %g %G' % (5, 5, 12345.678, 0.00001234, 1e20) }}")
case("f_percent_undefined", "{{ '%s' % undefined_thing }}|{{ '%d' % 3.9 }}|{{ '%s %s' % ('a', 'b') }}")
case("str_format_method", "{{ '{} {}'.format(1, 'b') }} {{ '{0}{1}{0}'.format('a', 'b') }} {{ '{x}-{y}'.format(x=1, y=2) }} {{ '{:>5}|{:<5}|{:^5}|{:05d}|{:.2f}|{:,}|{:x}|{:#x}|{!r}'.format('a', 'b', 'c', 42, 3.14159, 1234567, 255, 255, 'q') }} {{ '{:+.1e}'.format(12345.0) }} {{ '{{}}'.format() }}")
case("f_tojson_basic", "{{ {'a': 1, 'b': [1, 2.5, none, true, false], 'c': 'é\"\\n\\t\u2028\u0001'}|tojson }}")
case("f_tojson_indent", "{{ {'a': [1, {}], 'e': [], 'f': {'g': 'h'}}|tojson(indent=2) }}")
case("f_tojson_tools", "{{ tools|tojson }}|{{ tools|tojson(indent=4) }}", tools=TOOLS)
case("f_tojson_options", "{{ {'b': 1, 'a': {'d': 1, 'c': 2}}|tojson(sort_keys=true) }} {{ {'a': 1}|tojson(separators=(',', ':')) }} {{ 'é😀'|tojson(ensure_ascii=true) }} {{ 1.0|tojson }} {{ 1e20|tojson }} {{ none|tojson }} {{ 'x'|tojson }}")
case("f_tojson_key_types", "{{ {1: 'a', true: 'b', none: 'c', 2.5: 'd'}|tojson }}")
case("f_tojson_input_order", "{{ x|tojson }}", x={"z": 1, "a": {"y": [1, 2, {"b": None}], "c": 1.5}, "é": "ü"})
case("f_tojson_indent_string", "{{ [1, 2]|tojson(indent='\t') }}")
case("f_string_misc", "{{ 'x'|e }} {{ '5'|string }} {{ 5|string + 'a' }} {{ [1]|string }} {{ none|string }} {{ 'a\\nb'|pprint }}")
case("f_groupby", "{% for g in [{'c': 'x', 'n': 1}, {'c': 'y', 'n': 2}, {'c': 'x', 'n': 3}]|groupby('c') %}{{ g.grouper }}:{{ g.list|map(attribute='n')|list }};{% endfor %}{% for k, items in [{'c': 'B'}, {'c': 'b'}]|groupby('c') %}{{ k }}{{ items|length }}{% endfor %}")
case("f_attr", "{{ 'a'|attr('upper') is callable }} {{ {'k': 1}|attr('k') }}|")

# ---- loops ----
case("loop_variables", "{% for i in range(3) %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}[{{ loop.previtem }}|{{ loop.nextitem }}]{{ loop.depth }}{{ loop.depth0 }};{% endfor %}")
case("loop_filter_else", "{% for i in [1,2,3] if i != 2 %}{{ loop.index }}/{{ loop.length }}:{{ i }} {% else %}none{% endfor %}|{% for i in [] %}x{% else %}empty{% endfor %}|{% for i in [1] if false %}x{% else %}filtered{% endfor %}")
case("loop_dict_and_string", "{% for k, v in {'x': 1, 'y': 2}.items() %}{{ k }}={{ v }} {% endfor %}{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}{% for ch in 'héy' %}[{{ ch }}]{% endfor %}")
case("loop_break_continue", "{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}")
case("loop_nested", "{% for a in [1,2] %}{% for b in [3,4] %}{{ a }}{{ b }}{{ loop.index }}{% if b == 3 %}{% continue %}{% endif %}!{% endfor %}{{ loop.index }};{% endfor %}")
case("loop_cycle_changed", "{% for i in range(4) %}{{ loop.cycle('a', 'b', 'c') }}{% endfor %} {% for i in [1,1,2,2,1] %}{% if loop.changed(i) %}{{ i }}{% endif %}{% endfor %}")
case("loop_recursive", "{% for x in [{'n': 'a', 'c': [{'n': 'b', 'c': []}, {'n': 'c', 'c': [{'n': 'd', 'c': []}]}]}] recursive %}{{ loop.depth }}{{ x.n }}({{ loop(x.c) }}){% endfor %}")
case("loop_recursive_filter_else", "{% for x in tree if x.show recursive %}{{ x.n }}[{{ loop(x.kids) }}]{% else %}-{% endfor %}",
     tree=[{"n": "a", "show": True, "kids": [{"n": "b", "show": False, "kids": []}, {"n": "c", "show": True, "kids": []}]},
           {"n": "z", "show": False, "kids": []}])
case("loop_unpacking", "{% for (a, b), c in [((1, 2), 3)] %}{{ a }}{{ b }}{{ c }}{% endfor %}{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}")
case("loop_over_undefined", "{% for x in undefined_var %}x{% else %}e{% endfor %}")
case("loop_scope_per_iteration", "{% set x = 5 %}{% for i in [1,2] %}{{ x }}{% set x = i %}{{ x }}{% endfor %}[{{ x }}]")
case("loop_scope_not_carried", "{% for i in [1,2] %}{% if i == 2 %}{{ x }}{% endif %}{% set x = i %}{% endfor %}[{{ x }}]")
case("loop_var_gone_after", "{% set items = [3, 1] %}{% for i in items|sort %}{{ i }}{% endfor %}{{ loop }}{{ i }}")

# ---- assignment and scopes ----
case("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = (3, 4) %}{{ c }}{% set d = 1, %}{{ d }}")
case("namespace", "{% set ns = namespace(a=1, b='x') %}{% set ns.a = ns.a + 1 %}{% for i in range(3) %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}{{ ns.b }}{{ ns }}{{ ns.missing }}|{{ ns['a'] }}")
case("namespace_from_dict", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}")
case("set_block", "{% set x %}a{{ 1 + 1 }}b{% endset %}[{{ x }}]{% set y | upper %}hello{% endset %}{{ y }}{% set z | trim | replace('a', 'b') %}  aa  {% endset %}{{ z }}")
case("with_block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a }}|{% set q = 5 %}{% with q = q + 1 %}{{ q }}{% endwith %}{{ q }}")
case("if_has_no_scope", "{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}{% with %}{% set x = 3 %}{% endwith %}{{ x }}")
case("filter_block", "{% set x = 1 %}{% filter upper %}{% set x = 2 %}a{{ x }}{% endfilter %}{{ x }}{% filter trim|upper %}  b  {% endfilter %}")
case("if_elif_else", "{% if true %}yes{% elif false %}no{% else %}maybe{% endif %}{% if 0 %}a{% elif '' %}b{% elif [1] %}c{% endif %}")
case("set_conditional", "{% set x = 'a' if y is string else 'b' %}{{ x }}{% set z = 1 if false %}[{{ z }}]", y="s")
case("set_default_var", "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{{ add_generation_prompt }}")

# ---- macros and call blocks ----
case("macro_defaults_kwargs", "{% macro m(a, b=2, c='x') %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}{{ m(1) }}|{{ m(1, 3) }}|{{ m(1, c='z') }}|{{ m(a=5) }}|{{ m() }}")
case("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k=4) }}")
case("macro_default_uses_param", "{% macro m(a, b=a * 2) %}{{ a }},{{ b }}{% endmacro %}{{ m(3) }}")
case("macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * fact(n - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}")
case("call_block", "{% macro m() %}[{{ caller() }}]{% endmacro %}{% call m() %}inner{% endcall %}")
case("call_block_args", "{% macro m(x) %}[{{ caller(x, 2) }}]{% endmacro %}{% call(a, b) m('q') %}{{ a }}{{ b }}{% endcall %}")
case("call_block_loop", "{% macro list_items(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(item) list_items([1, 2]) %}<{{ item }}>{% endcall %}")
case("macro_object", "{% macro m() %}x{% endmacro %}{{ m.name }} {{ m.arguments }}|{{ m() ~ 'y' }}|{{ m()|length }}")
case("macro_sees_later_globals", "{% set g = 'G' %}{% macro m() %}{{ g }}{% endmacro %}{{ m() }}{% set g = 'H' %}{{ m() }}")
case("macro_nested", "{% macro outer() %}{% macro inner() %}I{% endmacro %}{{ inner() }}O{% endmacro %}{{ outer() }}")
case("generation_tag", "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% endif %}{% endfor %}", messages=MSGS)

# ---- str / list / dict methods and globals ----
case("m_split", "{{ 'a,b,,c'.split(',') }}{{ ' a  b '.split() }}{{ 'a b c'.split(none, 1) }}{{ 'a,b,c'.rsplit(',', 1) }}{{ 'a b  c '.rsplit(none, 1) }}{{ ''.split(',') }}{{ ''.split() }}")
case("m_strip_affix", "{{ '  x '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  x '.lstrip() }}|{{ '  x '.rstrip() }}|{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'abc'.startswith('') }}")
case("m_case_replace", "{{ 'Hello'.upper() }}{{ 'Hello'.lower() }}{{ 'hello wORLD'.title() }}{{ 'hELLO'.capitalize() }}{{ 'aBc'.swapcase() }}{{ 'a-b'.replace('-', '') }}{{ 'aaa'.replace('a', 'b', 1) }}")
case("m_find_join", "{{ 'hello'.find('l') }}{{ 'hello'.rfind('l') }}{{ 'hello'.find('z') }}{{ 'héllo'.find('l') }}{{ 'hello'.index('e') }}{{ 'hello'.count('l') }}{{ ', '.join(['a', 'b']) }}{{ '-'.join('abc') }}")
case("m_pad_partition", "{{ 'x'.center(5, '*') }}{{ 'x'.ljust(3, '.') }}{{ 'x'.rjust(3) }}{{ '42'.zfill(5) }}{{ '-42'.zfill(5) }}{{ 'a=b=c'.partition('=') }}{{ 'a=b=c'.rpartition('=') }}")
case("m_predicates", "{{ 'abc'.isalpha() }}{{ '123'.isdigit() }}{{ 'a1'.isalnum() }}{{ ' '.isspace() }}{{ 'abc'.islower() }}{{ 'ABC'.isupper() }}{{ ''.isalpha() }}{{ 'a\\nb\\r\\nc'.splitlines() }}{{ 'prefix_x'.removeprefix('prefix_') }}")
case("m_containers", "{{ [1, 2, 2].count(2) }}{{ [1, 2].index(2) }}{{ {'a': 1}.get('a') }}{{ {'a': 1}.get('b') }}{{ {'a': 1}.get('b', 5) }}{{ {'a': 1}.keys()|list }}{{ {'a': 1}.values()|list }}")
case("m_split_last_think", "{{ c.split('</think>')[-1].strip() }}|{{ c.split('</think>', 1)[1] }}", c="<think>\nreason\n</think>\n\nanswer </think> tail")
case("g_range_dict", "{{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }} {{ dict(a=1, b=2) }} {{ dict([('x', 1)]) }}")
case("g_cycler_joiner", "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}{% set j = joiner('|') %}{{ j() }}x{{ j() }}y{{ j() }}")
case("messages_pipeline", "{{ messages|map(attribute='role')|join(',') }} {{ messages|selectattr('content', 'none')|list|length }} {{ messages[-1].content }} {{ (messages|last).role }}", messages=MSGS)

# ---- undefined values ----
case("undef_print", "{{ undefined_thing }}|{{ undefined_thing is defined }}|{{ undefined_thing|default('x') }}")
case("undef_lenient_ops", "{{ undefined_thing == none }} {{ undefined_thing != 1 }} {{ not undefined_thing }} {{ 'x' in undefined_thing }} {{ undefined_thing|length }} {{ undefined_thing ~ 'x' }}")
case("undef_missing_things", "{{ {'a':1}.b }}|{{ {'a':1}['b'] }}|{{ none.x }}|{{ none['x'] }}|{{ [1][5] }}|{{ 'ab'[7] }}")
case("undef_bad_subscripts", "{{ 'abc'[1.5] }}|{{ [1, 2]['x'] }}|{{ {'a': 1}[[1]] }}")
case("undef_message_keys", "{% if messages[0]['foo'] %}y{% else %}n{% endif %}{% if messages[0].role is defined %}d{% endif %}{{ messages[0].nope is defined }}", messages=MSGS)

# ---- errors (Jinja2 raises; so must we) ----
case("err_attr_of_undefined", "{{ undefined_thing.foo }}")
case("err_item_of_undefined", "{{ undefined_thing['foo'] }}")
case("err_add_undefined", "{{ undefined_thing + 1 }}")
case("err_call_undefined", "{{ undefined_thing() }}")
case("err_chain_missing", "{{ {'a':1}.b.c }}")
case("err_attr_of_none_chain", "{{ x.y.z.w }}", x={"y": None})
case("err_compare_undefined", "{{ undefined_thing < 1 }}")
case("err_in_undefined_left", "{{ 1 in undefined_thing }}")
case("err_str_plus_int", "{{ messages[0]['content'] + 1 }}", messages=MSGS)
case("err_str_plus_none", "{{ 'a' + none }}")
case("err_none_plus_str", "{{ none + 'a' }}")
case("err_list_plus_tuple", "{{ [1] + (2,) }}")
case("err_div_zero", "{{ 1 / 0 }}")
case("err_floordiv_zero", "{{ 1 // 0 }}")
case("err_order_mixed", "{{ 1 < 'a' }}")
case("err_unhashable", "{{ {[1]: 2} }}")
case("err_neg_string", "{{ -'a' }}")
case("err_raise_exception", "{{ raise_exception('custom failure') }}")
case("err_raise_in_if", "{% if messages[0].role != 'user' %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}", messages=MSGS)
case("err_range_too_big", "{{ range(100001)|length }}")
case("err_for_none", "{% for x in none %}{% endfor %}")
case("err_for_int", "{% for x in 5 %}{% endfor %}")
case("err_unpack", "{% for a, b in [[1, 2, 3]] %}{% endfor %}")
case("err_set_attr_non_namespace", "{% set x = 1 %}{% set x.y = 2 %}")
case("err_macro_too_many_args", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}")
case("err_macro_unknown_kwarg", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, b=2) }}")
case("err_no_caller", "{% macro m() %}{{ caller() }}{% endmacro %}{{ m() }}")
case("err_list_append", "{% set l = [1] %}{{ l.append(2) }}")
case("err_dict_update", "{% set d = {'a': 1} %}{{ d.update({'b': 2}) }}")
case("err_unknown_method", "{{ 'abc'.foo() }}")
case("err_format_args", "{{ '%s %s' % ('a',) }}")
case("err_format_extra", "{{ 'abc' % 5 }}")
case("err_syntax_missing_else_expr", "{{ 1 if 1 else }}")
case("err_syntax_if_no_expr", "{% if %}{% endif %}")
case("err_syntax_for", "{% for %}")
case("err_syntax_stray_end", "{% endfor %}")
case("err_syntax_unclosed_if", "{% if true %}")
case("err_syntax_unterminated_string", "{{ 'unterminated }}")
case("err_syntax_bad_brackets", "{{ foo(}}")
case("err_syntax_dangling_operator", "{{ 1 + }}")
case("err_syntax_unclosed_list", "{% set x = [1, 2 %}")
case("err_syntax_unknown_tag", "{% unknown_tag %}")
case("err_include", "{% include 'x.jinja' %}")
case("err_unknown_filter", "{{ x | nosuchfilter }}")
case("err_unknown_test", "{{ x is nosuchtest }}")
case("err_unterminated_comment", "{# unterminated comment")

# ---- lexing corners, unicode, formatting ----
case("lex_delimiters_in_strings", "{{ '%}' }}|{% set x = '}}' %}{{ x }}|{{ '{{' }}|{{ {'a': {'b': 1}} }}|{{ [{'a': [1]}] }}")
case("lex_comment_minus", "{#- x -#}  a {#- y #} b")
case("lex_no_spaces", "{{x}}{%if x%}!{%endif%}", x=3)
case("loop_else_has_no_loop", "{% for i in [] %}{% else %}{{ loop }}{% endfor %}")
case("namespace_in_macro", "{% macro m() %}{% set ns.x = ns.x ~ 'm' %}{% endmacro %}{% set ns = namespace(x='') %}{{ m() }}{{ m() }}{{ ns.x }}")
case("loop_reads_outer_then_sets", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}")
case("set_unpack_string", "{% set a, b = 'xy' %}{{ b }}{{ a }}")
case("sort_multi_attribute", "{{ [{'a': 2, 'b': 1}, {'a': 1, 'b': 2}, {'a': 1, 'b': 1}]|sort(attribute='a,b') }}")
case("sort_missing_attribute", "{{ ['bb', 'a', 'ccc']|sort(attribute='length')|list }}")
case("select_aliases", "{{ ['x', 'y']|select('equalto', 'x')|list }} {{ ['x', 'y']|select('==', 'x')|list }} {{ [{'n': 1}, {'n': 3}]|selectattr('n', '>', 1)|list }} {{ 9 is divisibleby(num=3) }}")
case("misc_values", "{{ 5|string|length }} {{ 1e-3 }} {{ 'a' if 'b' }} {{ true and none }} {{ [] + [1] }} {{ [1, 2] == (1, 2) }}")
case("macro_minus_body", "{% macro m() -%}  x  {%- endmacro %}[{{ m() }}]")
case("filter_block_indent_and_double_caller", "{% filter indent(2) %}a\nb\n{% endfilter %}|{% macro m() %}{{ caller() }}{{ caller() }}{% endmacro %}{% call m() %}z{% endcall %}")
case("range_pipelines", "{{ range(3)|reverse|list }} {{ range(10)|batch(3)|map('sum')|list }} {{ range(5)|select('odd')|map('string')|join('+') }}")
case("dict_method_names_win", "{{ {'items': 1}['items'] }} {{ {'keys': 2}['keys'] }} {{ x['items'] }}", x={"type": "array", "items": {"type": "string"}})
case("schema_walk", "{% for k, v in x.properties.items() %}{{ k }}:{{ v.type }}{{ ' (required)' if k in x.required }};{% endfor %}",
     x={"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]})
case("float_list_print_and_json", "{{ x }}|{{ x|tojson }}", x=[1.5, 2.0, 1e-7, 123456789.123, -0.0, 1e300])
case("percent_format_flags", "{{ '%.3f|%10.2e|%-8s|%+5d|%o|%X|%#x|%#o|%%' % (3.14159, 12345.6789, 'ab', 7, 8, 255, 255, 8) }}")
case("brace_format_specs", "{{ '{:08.3f}|{:e}|{:g}|{:%}|{:_}|{:b}|{:o}|{:c}|{:>+6d}'.format(3.14159, 1234.5, 0.00001, 0.25, 1234567, 5, 8, 65, 42) }}")
case("brace_format_fields", "{{ '{0[0]}{0[1]}{1.x}'.format('ab', {'x': 'c'}) }}")
case("unicode_case", "{{ 'ß'|upper }} {{ 'ÉCOLE'|lower }} {{ 'straße'.upper() }} {{ 'ÀÉÎ'|length }} {{ 'élan vital'|title }} {{ 'ÉLAN'|capitalize }}")
case("unicode_whitespace", "{{ '  \u00a0x\u3000 '|trim }}|{{ ' \u2003 a \u2003'.strip() }}|{{ 'a\u00a0b'.split() }}")
case("astral_characters", "{% for c in 'a😀b' %}[{{ c }}]{% endfor %} {{ 'a😀b'|length }} {{ 'a😀b'[1] }} {{ 'a😀b'|reverse }} {{ '😀'|tojson }} {{ '😀'|tojson(ensure_ascii=true) }}")
case("control_characters", "{{ x }}|{{ x|tojson }}|{{ [x] }}", x="\u0000\u001f\u007f\u0080\u00ad\u2028\ufeff é")

# ---- whole templates in the style of real chat templates (written for these tests) ----
TOOL_TEMPLATE = """{%- macro render_args(args) -%}
{%- for key, value in args.items() -%}
{{ key }}={{ value|tojson }}{% if not loop.last %}, {% endif %}
{%- endfor -%}
{%- endmacro -%}
{{ bos_token }}
{%- if tools %}
<tools>
{% for tool in tools %}
{{ tool.function|tojson(indent=2) }}
{% endfor %}
</tools>
{% endif %}
{%- set ns = namespace(last_user=-1) %}
{%- for m in messages %}{% if m.role == 'user' %}{% set ns.last_user = loop.index0 %}{% endif %}{% endfor %}
{%- for message in messages %}
  {%- if message.role == 'system' %}
[SYS] {{ message.content | trim }}
  {%- elif message.role == 'user' %}
[USER] {{ message.content }}
  {%- elif message.role == 'assistant' %}
    {%- set content = message.content if message.content is string else '' %}
    {%- if '</think>' in content %}{% set content = content.split('</think>')[-1].lstrip('\\n') %}{% endif %}
    {%- if loop.index0 > ns.last_user and message.reasoning_content is defined %}
[THINK] {{ message.reasoning_content }}
    {%- endif %}
[ASSISTANT] {{ content }}
    {%- for call in message.tool_calls | default([]) %}
      {%- set args = call.function.arguments %}
<call name="{{ call.function.name }}">{{ render_args(args if args is mapping else {'raw': args}) }}</call>
    {%- endfor %}
{{ eos_token }}
  {%- elif message.role == 'tool' %}
[TOOL {{ message.tool_call_id | default('?') }}] {{ message.content }}
  {%- else %}
{{ raise_exception('Unknown role: ' ~ message.role) }}
  {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
[ASSISTANT]{% if enable_thinking is defined and not enable_thinking %} <think></think>{% endif %}
{% endif %}"""
TOOL_MSGS = [
    {"role": "system", "content": "  Be brief.  "},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "<think>\nneed tool\n</think>\n\nLet me check.", "reasoning_content": "need tool",
     "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}},
                    {"type": "function", "function": {"name": "search", "arguments": "{\"q\": \"x\"}"}}]},
    {"role": "tool", "content": "{\"temp\": 21}", "tool_call_id": "call_1"},
    {"role": "tool", "content": "sunny"},
    {"role": "assistant", "content": "It is 21°C — sunny. 😀"},
    {"role": "user", "content": "Thanks"},
]
case("template_tools_style", TOOL_TEMPLATE, messages=TOOL_MSGS, tools=TOOLS, add_generation_prompt=True,
     bos_token="<s>", eos_token="</s>")
case("template_tools_style_no_tools", TOOL_TEMPLATE, messages=TOOL_MSGS[:2], tools=None, add_generation_prompt=True,
     bos_token="<s>", eos_token="</s>", enable_thinking=False)
case("template_unknown_role", TOOL_TEMPLATE, messages=[{"role": "narrator", "content": "x"}], tools=None,
     add_generation_prompt=False, bos_token="<s>", eos_token="</s>")

ALTERNATE_TEMPLATE = """{% for message in messages %}
{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
{% endif %}
{{ '<|' + message['role'] + '|>\\n' + message['content'] | trim + '\\n' }}
{% endfor %}
{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"""
case("template_alternating_ok", ALTERNATE_TEMPLATE,
     messages=[{"role": "user", "content": " a "}, {"role": "assistant", "content": "b\n"}], add_generation_prompt=True)
case("template_alternating_error", ALTERNATE_TEMPLATE,
     messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], add_generation_prompt=True)


def main():
    out_path = sys.argv[1]
    env = make_env()
    names = set()
    with open(out_path, "w", encoding="utf-8") as out:
        for name, template, ctx in CASES:
            assert name not in names, name
            names.add(name)
            context = {"messages": [], "add_generation_prompt": False}
            context.update(ctx)
            row = {"name": name, "template": template, "context": context}
            try:
                row["expected"] = env.from_string(template).render(**context)
            except Exception as e:  # the C++ side must fail too
                row["error"] = f"{type(e).__name__}: {e}"
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(CASES)} cases with Jinja2 {jinja2.__version__} to {out_path}")


if __name__ == "__main__":
    main()
