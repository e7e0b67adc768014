"""Chapter 1's exercises: typical mistakes fail with a clear message."""

from collections import Counter

import pytest

from gptlib.exercises import check, evaluate
from gptlib.exercises.ch01_tokenization import BC_FIRST_RANKS, EXERCISES, buggy_encode
from gptlib.tokenizer import bpe_encode_chunk, merge, pretokenize, shakespeare_tokenizer


# The right answers are the notebook's solution cells, run through the grader by
# tests/test_classroom.py (100% with the solutions, 0% blank): they are not re-typed here. Where a
# wrong answer below needs a correct helper, it uses gptlib's own function.


def test_counter_is_accepted_for_counts():
    assert check("ch01.count_pairs", lambda ids: Counter(zip(ids, ids[1:])), quiet=True)


# --- wrong answers fail, saying what is wrong ----------------------------------------------------


def test_count_pairs_mistakes():
    # Counting each pair once (a set instead of counts).
    r = check("ch01.count_pairs", lambda ids: {p: 1 for p in zip(ids, ids[1:])}, quiet=True)
    assert not r and "the pair (5, 6) occurs 2 times, your count is 1" in r.message
    # Returning a list of pairs instead of a dict.
    r = check("ch01.count_pairs", lambda ids: list(zip(ids, ids[1:])), quiet=True)
    assert not r and "expected a dict of pair -> count" in r.message
    # Wrapping around from the last id to the first.
    r = check("ch01.count_pairs", lambda ids: dict(Counter(zip(ids, ids[1:] + ids[:1]))), quiet=True)
    assert not r and "is not in the list, but your result has it" in r.message


def test_merge_mistakes():
    # Replacing overlapping occurrences: [7, 7, 7] -> [8, 8].
    def overlapping(ids, pair, new_id):
        out = []
        for i in range(len(ids) - 1):
            out.append(new_id if (ids[i], ids[i + 1]) == pair else ids[i])
        return out

    r = check("ch01.merge", overlapping, quiet=True)
    assert not r and "for ids [1, 2, 3, 1, 2]" in r.message
    # Replacing only the first occurrence.
    def first_only(ids, pair, new_id):
        for i in range(len(ids) - 1):
            if (ids[i], ids[i + 1]) == pair:
                return ids[:i] + [new_id] + ids[i + 2 :]
        return ids

    r = check("ch01.merge", first_only, quiet=True)
    assert not r and "item 2 is wrong: yours is 1" in r.message and "[99, 3, 99]" not in r.message
    # Returning a tuple.
    r = check("ch01.merge", lambda ids, pair, new_id: tuple(merge(ids, pair, new_id)), quiet=True)
    assert not r and "expected a list" in r.message


def test_encode_word_mistakes():
    # Merging left to right instead of lowest rank first.
    def left_to_right(word, ranks):
        parts = [bytes([b]) for b in word.encode("utf-8")]
        merged = True
        while merged:
            merged = False
            for i in range(len(parts) - 1):
                if parts[i] + parts[i + 1] in ranks:
                    parts[i : i + 2] = [parts[i] + parts[i + 1]]
                    merged = True
                    break
        return [ranks[p] for p in parts]

    r = check("ch01.encode_word", left_to_right, quiet=True)
    assert not r and "'abc' with ranks" in r.message and "item 0 is wrong: yours is 257" in r.message and "97" not in r.message
    # Encoding characters instead of bytes: 'é' is not one byte.
    r = check("ch01.encode_word", lambda word, ranks: [ranks.get(c.encode(), -1) for c in word], quiet=True)
    assert not r and "the word 'low'" in r.message
    # A crash is reported, not raised.
    r = check("ch01.encode_word", lambda word, ranks: 1 / 0, quiet=True)
    assert not r and "ZeroDivisionError" in r.message


def test_train_mistakes():
    # Breaking ties by the largest pair.
    def largest_tie(text, n_merges):
        words = [list(w.encode("utf-8")) for w in pretokenize(text)]
        vocab, learned = {i: bytes([i]) for i in range(256)}, []
        for new_id in range(256, 256 + n_merges):
            counts = Counter(p for w in words for p in zip(w, w[1:]))
            best = max(counts, key=lambda p: (counts[p], p))
            vocab[new_id] = vocab[best[0]] + vocab[best[1]]
            learned.append(vocab[new_id])
            words = [merge(w, best, new_id) for w in words]
        return learned

    r = check("ch01.train", largest_tie, quiet=True)
    assert not r and "item 1 is wrong: yours is b'aaa'" in r.message and "b'ab'" not in r.message
    # Not splitting with the regex first: merges cross word boundaries.
    def no_regex(text, n_merges):
        return EXERCISES["train"].reference(text.replace(" ", "\x00"), n_merges)  # one big "word"

    r = check("ch01.train", no_regex, quiet=True)
    assert not r


def test_hand_made_table_by_hand():
    """Checked by hand: "bc" goes first, so "abc" is a + bc, and "ababc" is ab + a + bc (never abab)."""
    assert bpe_encode_chunk(b"abc", BC_FIRST_RANKS) == [97, 256]
    assert bpe_encode_chunk(b"ababc", BC_FIRST_RANKS) == [257, 97, 256]


def test_not_implemented_is_reported():
    def todo(ids):
        raise NotImplementedError

    r = check("ch01.count_pairs", todo, quiet=True)
    assert not r and "not implemented yet" in r.message


# --- beyond the chapter: streaming decode, the tokenizer bug, the prediction ---------------------

@pytest.mark.parametrize("name", ["stream_decode", "fix_encode"])
def test_beyond_the_chapter_mistakes_fail_naming_their_idea(name):
    ideas = [mistake.idea for mistake in EXERCISES[name].mistakes]
    for mistake in EXERCISES[name].mistakes:
        result = evaluate(f"ch01.{name}", mistake.function)
        assert not result and result.message.startswith("✗"), mistake.idea
        assert any(idea in result.message for idea in ideas), result.message


def test_the_buggy_encoder_loses_the_whitespace():
    tokenizer = shakespeare_tokenizer()
    ids = buggy_encode("to be", tokenizer.ranks)
    assert tokenizer.decode(ids) == "tobe"  # the bug the reader is asked to find
    result = evaluate("ch01.fix_encode", buggy_encode)
    assert not result and "still behaves like the given code" in result.message


def test_stream_reference_holds_back_exactly_an_unfinished_character():
    """Python's incremental decoder (the reference): text + pending bytes is the prefix's bytes,
    and the text never contains a replacement character for these valid texts."""
    stream = EXERCISES["stream_decode"].reference
    tokenizer = shakespeare_tokenizer()
    for text in ["héllo 世界 😀", "🎉🎉", "naïve"]:
        ids = tokenizer.encode_ordinary(text)
        for cut in range(len(ids) + 1):
            shown, pending = stream(ids[:cut], tokenizer.vocab)
            assert shown.encode("utf-8") + pending == b"".join(tokenizer.vocab[i] for i in ids[:cut])
            assert "\ufffd" not in shown and len(pending) < 4
            assert text.startswith(shown)


def test_stream_decode_wrong_types_are_reported():
    result = evaluate("ch01.stream_decode", lambda ids, vocab: "text")
    assert not result and "expected a tuple" in result.message
    result = evaluate("ch01.stream_decode", lambda ids, vocab: ("", ""))
    assert not result and "a bytes object" in result.message


def test_the_prediction_refuses_other_options_and_reports_the_counts():
    assert "choose one of" in evaluate("ch01.gpt2_or_shakespeare", "GPT-2's").message
    result = evaluate("ch01.gpt2_or_shakespeare", "Shakespeare's own")
    assert not result and "the experiment disagrees" in result.message
    assert "tokens with its own tokenizer" in result.message
