// bpe.js: chapter 1's byte-level BPE tokenizer in JavaScript, the one tokenizer the book's pages
// use. It encodes every text to the same ids as gptlib.tokenizer.BPETokenizer (and tiktoken),
// special tokens included. One dependency-free ES module for browsers and Node >= 18.
//
// API (stable: the token viewer and the playground are written against it)
// -----------------------------------------------------------------------------------------------
// new BPETokenizer(tokens, {pattern = "gpt2", specialTokens = {}} = {})
//     tokens: an array whose entry id is that token's bytes (a Uint8Array); the id is its rank.
//     pattern: "gpt2", "gpt4" (gptlib.tokenizer's names), or the pre-tokenizer regex as gptlib
//     writes it (Python `regex` syntax): the known patterns are translated to JavaScript exactly;
//     another pattern is used as a JavaScript regex (flags "gu") if it compiles, else refused.
//     specialTokens: {"<|endoftext|>": 1023, ...}: text that stands for one id.
// BPETokenizer.fromTiktoken(text, {pattern, specialTokens}) -> BPETokenizer
//     text: a rank file in tiktoken's format (one line per token: base64 of its bytes, a space,
//     its rank), e.g. GPT-2's gpt2.tiktoken.
//
// tok.encode(text, {allowedSpecial = "none", disallowedSpecial = "all"} = {}) -> array of ids
//     tiktoken's (and gptlib's) policy: special-token text in the input throws unless allowed;
//     allowedSpecial "all" (or an array / Set of names) encodes each occurrence as its one id;
//     disallowedSpecial: [] encodes it as ordinary text. A page showing what a reader types
//     calls encode(text, {allowedSpecial: "all"}).
// tok.encodeOrdinary(text) -> ids, special-token text treated as ordinary text.
// tok.pretokenize(text) -> the chunks the regex splits the text into (BPE works inside each).
// tok.decodeBytes(ids) -> Uint8Array;  tok.decode(ids) -> string (invalid UTF-8 becomes U+FFFD).
// tok.tokenBytes(id) -> Uint8Array;  tok.tokenStr(id) -> its text, or \xNN escapes when its bytes
//     are not whole UTF-8 characters (as gptlib's token_str);  tok.isSpecial(id) -> boolean.
// tok.nVocab: one more than the largest id;  tok.specialTokens: {name: id}.
// Unknown ids and non-string text throw an Error naming the problem.
// -----------------------------------------------------------------------------------------------

export class BPETokenizer {
  constructor(tokens, options = {}) {
    throw new Error("BPETokenizer: not implemented yet");
  }

  static fromTiktoken(text, options = {}) {
    throw new Error("BPETokenizer.fromTiktoken: not implemented yet");
  }
}
