"""The tokenizer against references nobody here wrote: tiktoken's encoder (GPT-2's real ranks, and
tokenizers trained here turned into tiktoken Encodings), and the straightforward BPE trainer."""

import json

import pytest
import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiktoken.load import load_tiktoken_bpe

from gptlib.bpe import ENDOFTEXT, GPT4_PATTERN, count_pairs, merge, train_bpe_slowly
from gptlib.data import SHAKESPEARE_GPT, fetch
from gptlib.tokenizer import (
    BPETokenizer, CharTokenizer, gpt2_tokenizer, load_tokenizer, shakespeare_tokenizer,
)

# GPT-2's pattern as OpenAI's original encoder.py wrote it (not the rewritten one gptlib uses).
ORIGINAL_GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

EDGE_CASES = [
    "",
    " ",
    "   ",
    "hello world",
    "  leading and trailing spaces  ",
    "whitespace    runs\n\n\n   and\t\ttabs\t",
    "windows\r\nline\r\nendings\r\n",
    "I'm you're he's we'll they've I'd don't CAN'T",
    "numbers 0 12 345 6789 3.14159 1,000,000 2024-11-22",
    "punctuation!!! ??? ... --- ;;; (((nested))) \"quotes\" 'single'",
    "emoji 😀 family 👨‍👩‍👧‍👦 flag 🇫🇷 skin 👍🏽",
    "CJK 你好世界 日本語のテキスト 한국어",
    "right to left: שלום עולם مرحبا بالعالم",
    "combining marks: e\u0301 a\u0308 n\u0303 Z\u0351\u0352\u0353",
    "zero\u200bwidth\ufeffspaces\u00a0nbsp",
    "\x00\x01 control \x7f chars",
    "The quick brown fox.\n\nROMEO:\nBut soft!",
]


@pytest.fixture(scope="module")
def gpt2():
    return gpt2_tokenizer()


@pytest.fixture(scope="module")
def tiktoken_gpt2():
    """tiktoken's GPT-2 encoding, built offline from the same gpt2.tiktoken file."""
    return tiktoken.Encoding(
        "gpt2",
        pat_str=ORIGINAL_GPT2_PATTERN,
        mergeable_ranks=load_tiktoken_bpe(str(fetch("gpt2.tiktoken"))),
        special_tokens={ENDOFTEXT: 50256},
        explicit_n_vocab=50257,
    )


def as_tiktoken(tokenizer: BPETokenizer, pattern: str | None = None) -> tiktoken.Encoding:
    """A tiktoken Encoding with the same rank table (token bytes -> id) as ``tokenizer``."""
    return tiktoken.Encoding(
        "trained",
        pat_str=pattern or tokenizer.pattern,
        mergeable_ranks=tokenizer.ranks,
        special_tokens=tokenizer.special_tokens,
    )


SAMPLE = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n"
    "aaaaaaa abababab 1111 2222 333 I'm you'll     \t\t\n\r\n"
) * 3


@pytest.fixture(scope="module")
def shakespeare_text():
    return fetch("tinyshakespeare.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def trained(shakespeare_text):
    return BPETokenizer.train(shakespeare_text[:30_000] + SAMPLE, 400)


# --- GPT-2's real vocabulary, id for id with tiktoken --------------------------------------------


@pytest.mark.parametrize("text", EDGE_CASES)
def test_gpt2_matches_tiktoken_on_edge_cases(gpt2, tiktoken_gpt2, text):
    assert gpt2.encode(text) == tiktoken_gpt2.encode(text)
    assert gpt2.decode(gpt2.encode(text)) == text


def test_gpt2_matches_tiktoken_on_shakespeare(gpt2, tiktoken_gpt2, shakespeare_text):
    text = shakespeare_text[:100_000]
    assert gpt2.encode_ordinary(text) == tiktoken_gpt2.encode_ordinary(text)


def test_gpt2_vocabulary_size_and_known_ids(gpt2, tiktoken_gpt2):
    assert gpt2.n_vocab == tiktoken_gpt2.n_vocab == 50257
    assert gpt2.special_tokens == {ENDOFTEXT: 50256}
    for token_id in [0, 1, 220, 262, 11, 50255]:
        assert gpt2.token_bytes(token_id) == tiktoken_gpt2.decode_single_token_bytes(token_id)


def test_gpt2_special_tokens_follow_tiktoken(gpt2, tiktoken_gpt2):
    text = "Hello<|endoftext|> world <|endoftext|>"
    assert gpt2.encode(text, allowed_special="all") == tiktoken_gpt2.encode(text, allowed_special="all")
    assert gpt2.encode(text, allowed_special={ENDOFTEXT}) == tiktoken_gpt2.encode(text, allowed_special={ENDOFTEXT})
    assert gpt2.encode(text, disallowed_special=()) == tiktoken_gpt2.encode(text, disallowed_special=())
    with pytest.raises(ValueError):
        tiktoken_gpt2.encode(text)
    with pytest.raises(ValueError, match="special token '<\\|endoftext\\|>'"):
        gpt2.encode(text)
    assert 50256 in gpt2.encode(text, allowed_special="all")
    assert 50256 not in gpt2.encode_ordinary(text)


def test_gpt2_merges_rebuild_the_vocabulary(gpt2):
    """Each derived merge joins two earlier tokens into the token's bytes."""
    merges = gpt2.merges
    assert len(merges) == 50000
    for left, right, new in merges[:2000] + merges[-2000:]:
        assert left < new and right < new
        assert gpt2.vocab[left] + gpt2.vocab[right] == gpt2.vocab[new]


texts = st.text(max_size=200)
texts_with_specials = st.lists(st.one_of(st.text(max_size=30), st.just(ENDOFTEXT)), max_size=6).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts)
def test_gpt2_matches_tiktoken_on_any_text(gpt2, tiktoken_gpt2, text):
    assert gpt2.encode_ordinary(text) == tiktoken_gpt2.encode_ordinary(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts_with_specials)
def test_gpt2_matches_tiktoken_with_special_tokens(gpt2, tiktoken_gpt2, text):
    assert gpt2.encode(text, allowed_special="all") == tiktoken_gpt2.encode(text, allowed_special="all")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts)
def test_round_trip_any_text(gpt2, trained, text):
    assert gpt2.decode(gpt2.encode_ordinary(text)) == text
    assert trained.decode(trained.encode_ordinary(text)) == text


# --- trained tokenizers --------------------------------------------------------------------------


def test_training_matches_the_straightforward_algorithm(shakespeare_text):
    text = shakespeare_text[:6000] + SAMPLE
    fast = BPETokenizer.train(text, 420)
    vocab, merges = train_bpe_slowly(text, 420)
    assert fast.training_merges == merges  # merge for merge, with the same counts
    assert fast.vocab == vocab
    assert len(merges) == 420 - 256 - 1


@pytest.mark.parametrize("pattern", ["gpt2", "gpt4"])
def test_training_matches_straightforward_on_unicode(pattern):
    text = "日本語 日本 naïve naïve café cafés 😀😀😀 ab ab abab\r\n\r\n" * 5 + "x" * 17
    fast = BPETokenizer.train(text, 330, pattern=pattern, special_tokens=())
    _, merges = train_bpe_slowly(text, 330, pattern=pattern, special_tokens=())
    assert fast.training_merges == merges


@settings(max_examples=40, deadline=None)
@given(text=st.text(alphabet="ab c\n'é", min_size=1, max_size=120), extra=st.integers(0, 40))
def test_training_matches_straightforward_on_random_texts(text, extra):
    fast = BPETokenizer.train(text, 256 + extra, special_tokens=())
    _, merges = train_bpe_slowly(text, 256 + extra, special_tokens=())
    assert fast.training_merges == merges


def test_first_merge_is_the_most_frequent_pair():
    """Checked by hand: ' t' is the most frequent pair of bytes in this text."""
    tok = BPETokenizer.train("the cat. the hat. the bat. to tea.", 257, special_tokens=())
    assert tok.vocab[256] == b" t"


def test_ties_go_to_the_smallest_pair():
    # The chunks are ab . cd . ab . cd: (c, d) and (a, b) both occur twice; (97, 98) < (99, 100).
    tok = BPETokenizer.train("cd.ab.cd.ab", 257, special_tokens=())
    assert tok.vocab[256] == b"ab"


def test_trained_equals_tiktoken_from_its_own_ranks(trained):
    enc = as_tiktoken(trained)
    for text in EDGE_CASES + [SAMPLE, "Resolved, resolved! Speak; famish."]:
        assert trained.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(texts, st.text(alphabet="abdefhiklmnoprstuvwy ,.:;!?'\n", max_size=300)))
def test_trained_equals_tiktoken_on_any_text(trained, text):
    assert trained.encode_ordinary(text) == as_tiktoken(trained).encode_ordinary(text)


def test_gpt4_pattern_trained_equals_tiktoken():
    tok = BPETokenizer.train(SAMPLE + " 1234567 HELLO'S", 380, pattern="gpt4")
    enc = as_tiktoken(tok, GPT4_PATTERN)
    for text in EDGE_CASES + [SAMPLE, "I'M 1234567 don't\r\n\r\n"]:
        assert tok.encode_ordinary(text) == enc.encode_ordinary(text)


def test_vocab_size_is_respected(trained):
    assert trained.n_vocab == 400
    assert trained.special_tokens == {ENDOFTEXT: 399}
    assert sorted(trained.vocab) == list(range(399))


def test_training_stops_when_nothing_is_left_to_merge():
    tok = BPETokenizer.train("abc abc", 1000)
    assert tok.decode(tok.encode("abc abc")) == "abc abc"
    assert len(tok.encode("abc abc")) == 2  # "abc" and " abc" are single tokens
    assert tok.n_vocab < 1000


# --- save / load ---------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path, trained):
    trained.save(tmp_path)
    loaded = load_tokenizer(tmp_path)
    assert loaded.ranks == trained.ranks
    assert loaded.merges == trained.merges
    assert loaded.special_tokens == trained.special_tokens
    assert loaded.pattern == trained.pattern
    text = "Before we proceed, 😀 naïve\r\n"
    assert loaded.encode(text) == trained.encode(text)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer.json", "tokenizer.tiktoken"]


def test_saved_ranks_are_tiktokens_own_format(tmp_path, trained):
    """tiktoken's loader reads the file, and its Encoding then encodes like the tokenizer."""
    trained.save(tmp_path)
    ranks = load_tiktoken_bpe(str(tmp_path / "tokenizer.tiktoken"))
    assert ranks == trained.ranks
    info = json.loads((tmp_path / "tokenizer.json").read_text())
    assert info == {"type": "bpe", "pattern": "gpt2", "special_tokens": {ENDOFTEXT: 399}}
    enc = tiktoken.Encoding("saved", pat_str=trained.pattern, mergeable_ranks=ranks,
                            special_tokens=info["special_tokens"])
    assert enc.encode(SAMPLE, allowed_special="all") == trained.encode(SAMPLE, allowed_special="all")


@given(text=st.text(min_size=1, max_size=40))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_char_tokenizer_round_trips_through_its_files(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("char")
    CharTokenizer.from_text(text).save(folder)
    loaded = load_tokenizer(folder)
    assert isinstance(loaded, CharTokenizer) and loaded.decode(loaded.encode(text)) == text
    assert loaded.chars == CharTokenizer.from_text(text).chars


def test_load_refuses_other_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json does not exist"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text('{"type": "words"}')
    (tmp_path / "tokenizer.tiktoken").write_text("not base64 at all\n")
    with pytest.raises(ValueError, match="line 1"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.tiktoken").write_text("YQ== 0\n")
    with pytest.raises(ValueError, match="unknown tokenizer type 'words'"):
        load_tokenizer(tmp_path)


def test_shakespeare_tokenizer_is_shipped():
    tok = shakespeare_tokenizer()
    assert tok.n_vocab == 1024
    text = fetch("tinyshakespeare.txt").read_text(encoding="utf-8")[:20_000]
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(ids) < len(text) / 2  # it compresses Shakespeare at least 2x
    assert tok.encode(text) == as_tiktoken(tok).encode(text)
    # the project's model folder holds it, in tiktoken's own file format
    assert load_tiktoken_bpe(str(SHAKESPEARE_GPT / "tokenizer.tiktoken")) == tok.ranks


# --- bad input -----------------------------------------------------------------------------------


def test_refuses_small_vocab_and_empty_text():
    with pytest.raises(ValueError, match="vocab_size must be at least 256"):
        BPETokenizer.train("hello", 200, special_tokens=())
    with pytest.raises(ValueError, match="at least 257"):
        BPETokenizer.train("hello", 256)
    with pytest.raises(ValueError, match="empty text"):
        BPETokenizer.train("", 300)
    with pytest.raises(TypeError, match="text must be a str"):
        BPETokenizer.train(b"bytes", 300)
    with pytest.raises(TypeError, match="vocab_size must be an int"):
        BPETokenizer.train("hello", 300.0)


def test_decode_unknown_id_and_bad_types(trained):
    with pytest.raises(ValueError, match="unknown token id 5000"):
        trained.decode([1, 5000])
    with pytest.raises(ValueError, match="unknown token id -1"):
        trained.decode([-1])
    with pytest.raises(TypeError, match="token ids must be ints"):
        trained.decode(["a"])
    with pytest.raises(TypeError, match="text must be a str"):
        trained.encode(123)
    with pytest.raises(ValueError, match="does not have"):
        trained.encode("x", allowed_special={"<|nope|>"})


def test_decode_invalid_utf8_gives_replacement_characters(gpt2, tiktoken_gpt2):
    ids = gpt2.encode("😀")
    assert len(ids) > 1
    partial = ids[:1]
    assert gpt2.decode(partial) == tiktoken_gpt2.decode(partial)
    assert "\ufffd" in gpt2.decode(partial)


def test_lone_surrogates_are_replaced_like_tiktoken(gpt2, tiktoken_gpt2):
    text = "a\ud800b"
    assert gpt2.encode(text) == tiktoken_gpt2.encode(text)


# --- the building blocks (checked by hand) -------------------------------------------------------


def test_count_pairs_and_merge():
    assert count_pairs([5, 6, 5, 6]) == {(5, 6): 2, (6, 5): 1}
    assert merge([5, 6, 5, 6, 7], (5, 6), 99) == [99, 99, 7]
    assert merge([7, 7, 7], (7, 7), 8) == [8, 7]
    assert merge([], (1, 2), 3) == []


def test_folders_of_earlier_versions_still_load(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"type": "char", "chars": "\\nab"}')
    assert load_tokenizer(tmp_path).decode([2, 1, 0]) == "ba\n"
    (tmp_path / "tokenizer.json").write_text('{"type": "bpe"}')  # meant chapter 1's tokenizer
    assert load_tokenizer(tmp_path).ranks == shakespeare_tokenizer().ranks
