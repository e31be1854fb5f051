// Writes tests/data/tokenizers/pipeline_cases.json: small tokenizer.json documents exercising
// one pipeline feature each (split behaviours, Digits, ByteLevel regex and prefix space, added
// token flags, leftmost-longest matching, NFC, ignore_merges, post-processors), with the ids and
// decoded strings the Hugging Face tokenizers Node binding (0.23.2) gives for sample texts.
//
//   node bench/tokenizer/make_pipeline_cases.js
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');
const chars=[];{let n=0;for(let b=0;b<256;b++){const p=(b>=0x21&&b<=0x7e)||(b>=0xa1&&b<=0xac)||b>=0xae;chars[b]=String.fromCodePoint(p?b:256+n++);}}
const bl=(s)=>[...Buffer.from(s,'utf8')].map(b=>chars[b]).join('');
function tiny(merges, pre, extra={}) {
  const vocab={}; for(let b=0;b<256;b++) vocab[chars[b]]=b; let next=256; const m=[];
  for(const [a,b] of merges){const j=bl(a+b); if(!(j in vocab)) vocab[j]=next++; m.push(bl(a)+' '+bl(b));}
  return Object.assign({version:'1.0',truncation:null,padding:null,added_tokens:[],normalizer:null,pre_tokenizer:pre||{type:'ByteLevel',add_prefix_space:false,use_regex:false,trim_offsets:false},post_processor:null,decoder:{type:'ByteLevel',add_prefix_space:false,trim_offsets:false,use_regex:false},model:{type:'BPE',vocab,merges:m}}, extra);
}
const BL={type:'ByteLevel',add_prefix_space:false,use_regex:false,trim_offsets:false};
const split=(lit,beh,inv=false)=>({type:'Split',pattern:{String:lit},behavior:beh,invert:inv});
const seq=(...s)=>({type:'Sequence',pretokenizers:s});
const cases=[];
const merges=[['a','-'],['-','b'],['-','-'],['a','b']];
for (const beh of ['Removed','Isolated','MergedWithPrevious','MergedWithNext','Contiguous']) for (const inv of [false,true])
  for (const text of ['a-b','a--b','-a-','ab'])
    cases.push([`split ${beh} inv=${inv}`, tiny(merges, seq(split('-',beh,inv),BL)), text]);
const dm=[['1','2'],['12','3'],['a','1']];
for (const ind of [false,true]) for (const text of ['a123b45','１２x٣'])
  cases.push([`digits ${ind}`, tiny(dm, seq({type:'Digits',individual_digits:ind},BL)), text]);
const wm=[[' ','h'],[' h','i'],['h','i']];
for (const aps of [false,true]) for (const text of ['hi hi','hi  hi','  hi'])
  cases.push([`bytelevel regex aps=${aps}`, tiny(wm, {type:'ByteLevel',add_prefix_space:aps,use_regex:true,trim_offsets:false}), text]);
// added tokens with flags; vocab 256.. ; added ids 300+
const am=[[' ','x'],['x',' ']];
const flagsets=[[false,false,false],[true,false,false],[false,true,false],[false,false,true],[true,true,false]];
for (const [l,r,sw] of flagsets) for (const text of ['a <T> b','x<T>x','<T>','  <T>  ','a<T>','<T><T>', ' x <T>']) {
  const j=tiny(am); j.added_tokens=[{id:300,content:'<T>',special:true,normalized:false,lstrip:l,rstrip:r,single_word:sw}];
  cases.push([`added l=${l} r=${r} sw=${sw}`, j, text]);
}
// leftmost-longest
{ const j=tiny([]); j.added_tokens=[{id:300,content:'<a>',special:true,normalized:false,lstrip:false,rstrip:false,single_word:false},{id:301,content:'<a>b',special:false,normalized:false,lstrip:false,rstrip:false,single_word:false},{id:302,content:'a>b<',special:false,normalized:true,lstrip:false,rstrip:false,single_word:false}];
  for (const text of ['<a>b<a>','x<a>bc','<<a>b<']) cases.push(['leftmost-longest',j,text]); }
// NFC + normalized added token
{ const j=tiny([['c','a'],['ca','f']]); j.normalizer={type:'NFC'}; j.added_tokens=[{id:300,content:'é!',special:false,normalized:true,lstrip:false,rstrip:false,single_word:false}];
  for (const text of ['cafe\u0301','café','e\u0301!x','é!']) cases.push(['nfc',j,text]); }
// template
{ const j=tiny([]); j.added_tokens=[{id:300,content:'<s>',special:true,normalized:false,lstrip:false,rstrip:false,single_word:false},{id:301,content:'</s>',special:true,normalized:false,lstrip:false,rstrip:false,single_word:false}];
  j.post_processor={type:'Sequence',processors:[{type:'ByteLevel',add_prefix_space:false,trim_offsets:false,use_regex:false},{type:'TemplateProcessing',single:[{SpecialToken:{id:'<s>',type_id:0}},{Sequence:{id:'A',type_id:0}},{SpecialToken:{id:'</s>',type_id:0}}],pair:[],special_tokens:{'<s>':{id:'<s>',ids:[256],tokens:['<s>']},'</s>':{id:'</s>',ids:[257],tokens:['</s>']}}}]};
  cases.push(['template',j,'ab']); cases.push(['template',j,'']); }
// Oniguruma \\s (White_Space: not U+180E) and a Regex split with Removed.
for (const text of ['a\u180eb', 'a \u2003b', 'a\u00a0\u00a0b'])
  cases.push(['regex \\s removed', tiny([['a','b']], seq({type:'Split',pattern:{Regex:'\\s+'},behavior:'Removed',invert:false},BL)), text]);
for (const text of ['x  y', 'x \u180e y', 'x\t\t'])
  cases.push(['regex lookahead', tiny([[' ',' ']], seq({type:'Split',pattern:{Regex:'\\s+(?!\\S)|\\s+'},behavior:'Isolated',invert:false},BL)), text]);
// ignore_merges: a word that is itself a token is not merged.
{ const j=tiny([['b','c'],['a','b'],['ab','c']]); // "abc" by merges: a+bc (rank 0 first) -> no "a bc" merge -> [a, bc]
  for (const im of [false,true]) { const k=JSON.parse(JSON.stringify(j)); k.model.ignore_merges=im;
    for (const text of ['abc','abcabc']) cases.push([`ignore_merges ${im}`,k,text]); } }
// Bert-style post-processor and skip_special in decode.
{ const j=tiny([]); j.added_tokens=[{id:256,content:'[CLS]',special:true,normalized:false,lstrip:false,rstrip:false,single_word:false},{id:257,content:'[SEP]',special:true,normalized:false,lstrip:false,rstrip:false,single_word:false},{id:258,content:'<keep>',special:false,normalized:false,lstrip:false,rstrip:false,single_word:false}];
  j.post_processor={type:'BertProcessing',sep:['[SEP]',257],cls:['[CLS]',256]};
  for (const text of ['hi','a<keep>[SEP]b']) cases.push(['bert',j,text]); }
// Invalid UTF-8 across tokens decodes to U+FFFD.
{ const j=tiny([]); for (const text of ['\u00e9\u4e16']) cases.push(['bytes',j,text]); }
(async()=>{ const out=[]; const toks=[]; const index=new Map();
for (const [name,j,text] of cases) {
  const key=JSON.stringify(j); if (!index.has(key)) { index.set(key, toks.length); toks.push(j); }
  const tok=Tokenizer.fromString(key);
  const a=(await tok.encode(text,null,{addSpecialTokens:false})).getIds(); const b=(await tok.encode(text,null,{addSpecialTokens:true})).getIds();
  // Decoding the special-tokens ids, and raw single bytes (split characters, a stray byte).
  const dec=[b, b.concat([0xe4, 0xb8]), [0xff, 0x61, 0xc3], b.slice().reverse()];
  const decoded=[]; for (const ids of dec) decoded.push({ids, text: await tok.decode(ids,false), skip: await tok.decode(ids,true)});
  out.push({name,tokenizer:index.get(key),text,ids:a,ids_special:b,decoded}); }
const file=path.join(__dirname,'..','..','tests','data','tokenizers','pipeline_cases.json');
fs.writeFileSync(file, JSON.stringify({generator:'bench/tokenizer/make_pipeline_cases.js with tokenizers 0.23.2', tokenizers:toks, cases:out}));
console.log(`wrote ${out.length} cases over ${toks.length} tokenizers to ${file}`);
})();
