"""Text corpora (zoo.data.text) and generated seq2seq tasks (zoo.data.generated).

Pure data code: no keras import. The tiny_shakespeare test imports tensorflow_datasets
(a few seconds); everything else is numpy and the standard library.
"""

import collections
import pathlib
import zipfile

import numpy as np
import pytest

from zoo.data import generated, text
from zoo.data.vocabulary import Vocabulary
from zoo.errors import DataError, ZooError

from conftest import DATA

SHARED = text.shared_data_dir()
LYRICS_ARCHIVE = DATA["jaychou_lyrics"]
SHAKESPEARE_INPUT = DATA["tiny_shakespeare"]


def one_line_error(excinfo, *needles):
    """The DataError's message is one line and names every needle."""
    message = str(excinfo.value)
    assert isinstance(excinfo.value, ZooError)
    assert "\n" not in message and "\r" not in message, message
    for needle in needles:
        assert str(needle) in message, (needle, message)
    return message


# ---------------------------------------------------------------------------------------------
# vocabulary.Vocabulary (both task kinds)


def test_vocabulary_reserves_ids_before_the_sorted_characters():
    vocab = Vocabulary.from_text("hello world")
    assert vocab.chars == [" ", "d", "e", "h", "l", "o", "r", "w"]
    assert (vocab.pad_id, vocab.start_id, vocab.end_id, vocab.unknown_id) == (0, 1, 2, 3)
    assert len(vocab) == 4 + 8
    assert vocab.encode(" ")[0] == 4
    assert vocab == Vocabulary(sorted(set("world hello")))
    assert vocab != Vocabulary("dehlorw ")
    assert Vocabulary.from_text("ab", "bc").chars == ["a", "b", "c"]


def test_vocabulary_round_trip_including_non_ascii_and_symbols_once_reserved():
    # "?", "S" and "E" were the tutorial's pad, start and end: now ordinary characters.
    sample = "想要有直升机 fly! ?SE"
    vocab = Vocabulary.from_text(sample)
    ids = vocab.encode(sample)
    assert ids.dtype == np.int32
    assert ids.shape == (len(sample),)
    assert ids.min() >= 4 and ids.max() < len(vocab)
    assert vocab.decode(ids) == sample
    assert vocab.decode(list(ids)) == sample
    assert vocab.decode([]) == ""
    assert vocab.encode("").shape == (0,)
    assert Vocabulary.from_json(vocab.to_json()) == vocab


def test_vocabulary_decode_skips_pad_and_start_stops_at_end_marks_unknown():
    vocab = Vocabulary.from_text("0123456789+")
    noisy = [vocab.start_id, *vocab.encode("42"), vocab.pad_id, *vocab.encode("7"), vocab.unknown_id,
             vocab.end_id, *vocab.encode("99"), vocab.end_id]
    assert vocab.decode(noisy) == "427\ufffd"
    assert vocab.decode(np.array([vocab.end_id, *vocab.encode("1")])) == ""
    assert vocab.decode(np.array(vocab.encode("305"), dtype=np.int64)) == "305"


def test_vocabulary_maps_unseen_characters_to_unknown_only_when_asked():
    vocab = Vocabulary.from_text("abc")
    assert vocab.encode("abz", unknown=True).tolist() == [4, 5, vocab.unknown_id]
    with pytest.raises(DataError) as excinfo:
        vocab.encode("abz", what="prompt")
    one_line_error(excinfo, "'z'", "prompt", "3 characters")
    # A newline outside the vocabulary is shown escaped, keeping the message on one line.
    with pytest.raises(DataError) as excinfo:
        vocab.encode("a\nb")
    one_line_error(excinfo, repr("\n"))


@pytest.mark.parametrize("data", [{"kind": "characters", "chars": ["a", "b"]}, {"specials": ["?"], "chars": ["a"]},
                                  {"specials": ["<pad>", "<start>", "<end>", "<unk>"], "chars": ["ab"]}, ["a"]])
def test_vocabulary_from_json_rejects_other_shapes(data):
    with pytest.raises(DataError) as excinfo:
        Vocabulary.from_json(data)
    one_line_error(excinfo, "vocabulary")


def test_vocabulary_rejects_duplicate_characters():
    with pytest.raises(DataError) as excinfo:
        Vocabulary(["a", "b", "a"])
    one_line_error(excinfo, "distinct")


# ---------------------------------------------------------------------------------------------
# text.read_text_file / load_text("file")


def test_read_text_file_missing(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(DataError) as excinfo:
        text.read_text_file(missing)
    one_line_error(excinfo, missing)
    with pytest.raises(DataError) as excinfo:
        text.load_text("file", path=missing)
    one_line_error(excinfo, missing)


@pytest.mark.parametrize("content", [b"", b"  \n\t \r\n"], ids=["empty", "whitespace"])
def test_read_text_file_empty(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(DataError) as excinfo:
        text.load_text("file", path=path)
    one_line_error(excinfo, path, "non-empty")


def test_read_text_file_not_utf8(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café au lait".encode("latin-1"))
    with pytest.raises(DataError) as excinfo:
        text.read_text_file(path)
    one_line_error(excinfo, path, "UTF-8", "0xe9", "offset 3")
    with pytest.raises(DataError) as excinfo:
        text.load_text("file", path=str(path))
    one_line_error(excinfo, path)


def test_read_text_file_directory(tmp_path):
    with pytest.raises(DataError) as excinfo:
        text.read_text_file(tmp_path)
    one_line_error(excinfo, tmp_path)


def test_load_text_file_needs_path():
    with pytest.raises(DataError) as excinfo:
        text.load_text("file")
    one_line_error(excinfo, "path")


def test_load_text_file_tail_split(tmp_path):
    body = "".join(chr(ord("a") + i % 26) for i in range(1000)) + "\n"
    path = tmp_path / "good.txt"
    path.write_text(body, encoding="utf-8")
    assert text.read_text_file(path) == body
    corpus = text.load_text("file", path=path)
    assert len(corpus.validation) == len(corpus.test) == 50  # int(1001 * 0.05)
    assert len(corpus.train) == 1001 - 100
    assert corpus.train + corpus.validation + corpus.test == body  # tail cuts, order kept


def test_hold_out_fraction_and_too_short():
    corpus = text.hold_out("x" * 100 + "y" * 50 + "z" * 50, fraction=0.25)
    assert (corpus.train, corpus.validation, corpus.test) == ("x" * 100, "y" * 50, "z" * 50)
    with pytest.raises(DataError) as excinfo:
        text.hold_out("abc")
    one_line_error(excinfo, "3 characters")


# ---------------------------------------------------------------------------------------------
# load_text("jaychou_lyrics")


def test_shared_data_dir_default_and_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    default = text.shared_data_dir()
    # The package lives at <work>/main/zoo/data/text.py; the corpora at <work>/shared/data.
    package_root = pathlib.Path(text.__file__).resolve().parents[2]
    assert default == package_root.parent / "shared" / "data"
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "env"))
    assert text.shared_data_dir() == tmp_path / "env"
    assert text.shared_data_dir(tmp_path / "arg") == tmp_path / "arg"


def test_an_installed_package_without_a_data_folder_says_so(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    monkeypatch.setattr(text, "_CHECKOUT", tmp_path / "site-packages")  # no pyproject.toml there
    with pytest.raises(DataError) as excinfo:
        text.load_text("jaychou_lyrics")
    one_line_error(excinfo, "--data-dir", "ZOO_DATA_DIR")


@pytest.mark.skipif(not LYRICS_ARCHIVE.is_file(), reason=f"real lyrics archive absent: {LYRICS_ARCHIVE}")
def test_jaychou_lyrics_real_archive(monkeypatch):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    for corpus in (text.load_text("jaychou_lyrics"),
                   text.load_text("jaychou_lyrics", data_dir=LYRICS_ARCHIVE.parent.parent)):
        assert len(corpus.train) + len(corpus.validation) + len(corpus.test) == 63282
        assert len(corpus.validation) == len(corpus.test) == int(63282 * 0.05)
        for split in (corpus.train, corpus.validation, corpus.test):
            assert "\n" not in split and "\r" not in split
        assert corpus.train.startswith("想要有直升机")


def _lyrics_dir(tmp_path):
    folder = tmp_path / "jaychou_lyrics"
    folder.mkdir()
    return folder / "jaychou_lyrics.txt.zip"


def test_jaychou_lyrics_small_archive_replaces_newlines(tmp_path):
    archive = _lyrics_dir(tmp_path)
    lyrics = ("第一行\n" * 20 + "second line\r\n" * 20)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("jaychou_lyrics.txt", lyrics.encode("utf-8"))
    corpus = text.load_text("jaychou_lyrics", data_dir=tmp_path)
    joined = corpus.train + corpus.validation + corpus.test
    assert len(joined) == len(lyrics)
    assert joined == lyrics.replace("\n", " ").replace("\r", " ")


def test_jaychou_lyrics_zip_without_member(tmp_path):
    archive = _lyrics_dir(tmp_path)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("other.txt", "not the lyrics")
    with pytest.raises(DataError) as excinfo:
        text.load_text("jaychou_lyrics", data_dir=tmp_path)
    one_line_error(excinfo, archive, "jaychou_lyrics.txt")


def test_jaychou_lyrics_not_a_zip(tmp_path):
    archive = _lyrics_dir(tmp_path)
    archive.write_text("plain text, not a zip archive\n" * 10)
    with pytest.raises(DataError) as excinfo:
        text.load_text("jaychou_lyrics", data_dir=tmp_path)
    one_line_error(excinfo, archive, "zip")


def test_jaychou_lyrics_missing_dir(tmp_path):
    missing = tmp_path / "no_such_dir"
    with pytest.raises(DataError) as excinfo:
        text.load_text("jaychou_lyrics", data_dir=missing)
    one_line_error(excinfo, missing / "jaychou_lyrics" / "jaychou_lyrics.txt.zip", "not found")


def test_jaychou_lyrics_member_not_utf8(tmp_path):
    archive = _lyrics_dir(tmp_path)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("jaychou_lyrics.txt", "naïve".encode("latin-1") * 10)
    with pytest.raises(DataError) as excinfo:
        text.load_text("jaychou_lyrics", data_dir=tmp_path)
    one_line_error(excinfo, archive, "UTF-8")


# ---------------------------------------------------------------------------------------------
# load_text("tiny_shakespeare") and unknown sources


@pytest.mark.skipif(not SHAKESPEARE_INPUT.is_file(), reason=f"tiny_shakespeare input absent: {SHAKESPEARE_INPUT}")
def test_tiny_shakespeare_through_tfds(monkeypatch):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    corpus = text.load_text("tiny_shakespeare", data_dir=SHAKESPEARE_INPUT.parent.parent)
    assert len(corpus.train) == 1003854
    assert len(corpus.validation) == 55770
    assert len(corpus.test) == 55770
    assert corpus.train.startswith("First Citizen:")
    # tfds's splits are consecutive pieces of the one file.
    original = SHAKESPEARE_INPUT.read_text(encoding="utf-8")
    assert len(corpus.train) + len(corpus.validation) + len(corpus.test) == len(original)


def test_tiny_shakespeare_missing_input(tmp_path):
    with pytest.raises(DataError) as excinfo:
        text.load_text("tiny_shakespeare", data_dir=tmp_path)
    one_line_error(excinfo, tmp_path / "tiny_shakespeare" / "input.txt", "not found")


@pytest.mark.parametrize("error", [
    ValueError("manual file has the wrong checksum\nsecond line of detail\nthird"),
    AssertionError(),  # an exception without a message must still give one line
], ids=["multi_line", "empty_message"])
def test_tiny_shakespeare_tfds_failure_is_one_line(tmp_path, monkeypatch, error):
    tfds = pytest.importorskip("tensorflow_datasets")
    manual_dir = tmp_path / "tiny_shakespeare"
    manual_dir.mkdir()
    (manual_dir / "input.txt").write_text("To be, or not to be\n")

    def failing_load(*args, **kwargs):
        raise error

    monkeypatch.setattr(tfds, "load", failing_load)
    with pytest.raises(DataError) as excinfo:
        text.load_text("tiny_shakespeare", data_dir=tmp_path)
    message = one_line_error(excinfo, manual_dir, "tiny_shakespeare")
    if str(error):
        assert "wrong checksum" in message and "second line" not in message


def test_unknown_text_source_lists_sources():
    with pytest.raises(DataError) as excinfo:
        text.load_text("war_and_peace")
    one_line_error(excinfo, "'war_and_peace'", *text.TEXT_SOURCES)


# ---------------------------------------------------------------------------------------------
# text.windows / text.random_windows


def test_windows_shapes_and_shift():
    ids = np.arange(23, dtype=np.int32)
    x, y = text.windows(ids, 5)
    assert x.shape == y.shape == (4, 5)  # (23 - 1) // 5
    np.testing.assert_array_equal(x.ravel(), ids[:20])
    np.testing.assert_array_equal(y.ravel(), ids[1:21])
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
    np.testing.assert_array_equal(y[:, -1], x[:, -1] + 1)
    # Exactly one window needs seq_len + 1 characters.
    x, y = text.windows(ids[:6], 5)
    assert x.shape == (1, 5)
    np.testing.assert_array_equal(y[0], ids[1:6])


def test_windows_too_short():
    with pytest.raises(DataError) as excinfo:
        text.windows(np.arange(5), 5)
    one_line_error(excinfo, "5 characters", "6")


def test_random_windows_targets_are_next_characters():
    ids = np.arange(100, dtype=np.int32) * 3
    x, y = text.random_windows(ids, 7, 50, np.random.default_rng(0))
    assert x.shape == y.shape == (50, 7)
    assert x.dtype == ids.dtype
    # ids are an arithmetic progression: consecutive within a window, y = next character.
    np.testing.assert_array_equal(np.diff(x, axis=1), 3)
    np.testing.assert_array_equal(y, x + 3)
    assert y.max() <= ids[-1]


def test_random_windows_deterministic_for_seed():
    ids = np.random.default_rng(5).integers(0, 40, size=300).astype(np.int32)
    a = text.random_windows(ids, 10, 20, np.random.default_rng(42))
    b = text.random_windows(ids, 10, 20, np.random.default_rng(42))
    c = text.random_windows(ids, 10, 20, np.random.default_rng(43))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    # Each window is a slice of ids and its target the slice one further on.
    for xw, yw in zip(*a):
        starts = [s for s in range(len(ids) - 10) if np.array_equal(ids[s:s + 10], xw)]
        assert any(np.array_equal(ids[s + 1:s + 11], yw) for s in starts)


def test_random_windows_edge_and_too_short():
    ids = np.arange(6)
    x, y = text.random_windows(ids, 5, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(x, np.tile(ids[:5], (3, 1)))
    np.testing.assert_array_equal(y, np.tile(ids[1:], (3, 1)))
    with pytest.raises(DataError) as excinfo:
        text.random_windows(np.arange(5), 5, 3, np.random.default_rng(0))
    one_line_error(excinfo, "5 characters")


# ---------------------------------------------------------------------------------------------
# generated.addition_problems


def _check_problem(source, target, digits):
    a, b = source.split("+")
    assert a.isdigit() and b.isdigit()
    assert str(int(a)) == a and str(int(b)) == b  # no leading zeros
    assert int(a) < 10**digits and int(b) < 10**digits
    assert target == str(int(a) + int(b))


def test_addition_problems_sizes_and_correctness():
    splits = generated.addition_problems(digits=3, train_size=2000, validation_size=300, test_size=200, seed=1)
    # Held-out sizes are split evenly over the 9 length classes, capped for the small ones.
    assert len(splits.train) == 2000 and 0 < len(splits.test) <= 200 and 0 < len(splits.validation) <= 300
    for split in (splits.train, splits.validation, splits.test):
        for source, target in split:
            assert isinstance(source, str) and isinstance(target, str)
            _check_problem(source, target, 3)
    train = {s for s, _ in splits.train}
    validation = {s for s, _ in splits.validation}
    test = {s for s, _ in splits.test}
    assert len(validation) == len(splits.validation) and len(test) == len(splits.test)  # distinct
    assert not train & validation and not train & test and not validation & test


def test_addition_operand_lengths_are_uniform():
    """Each operand's length is drawn uniformly, so short problems are common (a uniform draw
    from 0..999 would make 99% of operands three digits long)."""
    splits = generated.addition_problems(digits=3, train_size=9000, validation_size=900, test_size=900, seed=0)
    lengths = np.array([[len(x) for x in s.split("+")] for s, _ in splits.train])
    for column in lengths.T:
        assert np.allclose(np.bincount(column)[1:] / len(column), 1 / 3, atol=0.03)
    by_class = collections.Counter(generated.operand_digits(s) for s, _ in splits.test)
    assert by_class[1] == 15 and by_class[2] > 100 and by_class[3] > 400  # 15% of the 100 one-digit problems
    assert generated.operand_digits("7+0") == 1 and generated.operand_digits("12+345") == 3


def test_addition_problems_seeded():
    a = generated.addition_problems(digits=2, train_size=50, validation_size=10, test_size=10, seed=7)
    b = generated.addition_problems(digits=2, train_size=50, validation_size=10, test_size=10, seed=7)
    c = generated.addition_problems(digits=2, train_size=50, validation_size=10, test_size=10, seed=8)
    assert a == b
    assert a.train != c.train


def test_addition_problems_one_digit_holds_out_a_share():
    splits = generated.addition_problems(digits=1, train_size=500, validation_size=50, test_size=50, seed=0)
    everything = splits.train + splits.validation + splits.test
    for source, target in everything:
        _check_problem(source, target, 1)
    assert len(splits.validation) == len(splits.test) == 15  # HELD_OUT_SHARE of 100 problems
    assert {s for s, _ in everything} == {f"{a}+{b}" for a in range(10) for b in range(10)}


def test_addition_exact_match_by_digits():
    pairs = [("1+1", "2"), ("7+0", "7"), ("12+3", "15"), ("123+4", "127")]
    metrics = generated.exact_match_by_digits(pairs, ["2", "18", "15", "127"])
    assert metrics == {"test_exact_match_1_digit": 0.5, "test_examples_1_digit": 2,
                       "test_exact_match_2_digits": 1.0, "test_examples_2_digits": 1,
                       "test_exact_match_3_digits": 1.0, "test_examples_3_digits": 1}


def test_addition_problems_bad_sizes_and_digits():
    with pytest.raises(DataError) as excinfo:
        generated.addition_problems(digits=1, train_size=0, validation_size=10, test_size=1)
    one_line_error(excinfo, "train size")
    with pytest.raises(DataError) as excinfo:
        generated.addition_problems(digits=0, train_size=1, validation_size=1, test_size=1)
    one_line_error(excinfo, "digits")


# ---------------------------------------------------------------------------------------------
# generated.vocabulary_for


def test_seq2seq_vocabulary_comes_from_the_training_pairs_only():
    splits = generated.PairSplits(train=[("1+2", "3")], validation=[("4+5", "9")], test=[("7+7", "14")])
    vocab = generated.vocabulary_for(splits)
    assert vocab.chars == ["+", "1", "2", "3"]
    (sources, _), targets = generated.encode_pairs(splits.test, vocab, source_len=3, target_len=3)
    assert vocab.decode(sources[0]) == "\ufffd+\ufffd" and vocab.decode(targets[0]) == "1\ufffd"


# ---------------------------------------------------------------------------------------------
# generated.encode_pairs / word_pairs


@pytest.mark.parametrize("reverse_source", [False, True])
def test_encode_pairs_teacher_forcing(reverse_source):
    pairs = [("12+345", "357"), ("9+9", "18")]
    vocab = generated.vocabulary_for(generated.PairSplits(pairs, [], []))
    (sources, decoder_in), decoder_out = generated.encode_pairs(
        pairs, vocab, source_len=7, target_len=5, reverse_source=reverse_source)
    assert sources.shape == (2, 7) and decoder_in.shape == (2, 5) and decoder_out.shape == (2, 5)
    assert sources.dtype == decoder_in.dtype == decoder_out.dtype == np.int32
    for row, (source, target) in enumerate(pairs):
        expected_source = source[::-1] if reverse_source else source
        n = len(expected_source)
        assert vocab.decode(sources[row]) == expected_source
        assert list(sources[row, n:]) == [vocab.pad_id] * (7 - n)
        # Decoder input: start, then the target; i.e. the decoder target shifted right.
        assert decoder_in[row, 0] == vocab.start_id
        np.testing.assert_array_equal(decoder_in[row, 1:len(target) + 1], decoder_out[row, :len(target)])
        assert vocab.decode(decoder_in[row]) == target
        # Decoder target: the target, the end symbol, then pads.
        assert vocab.decode(decoder_out[row]) == target
        assert decoder_out[row, len(target)] == vocab.end_id
        assert list(decoder_out[row, len(target) + 1:]) == [vocab.pad_id] * (5 - len(target) - 1)
        assert list(decoder_in[row, len(target) + 1:]) == [vocab.pad_id] * (5 - len(target) - 1)


def test_encode_pairs_reverse_differs():
    pairs = [("12+3", "15")]
    vocab = generated.vocabulary_for(generated.PairSplits(pairs, [], []))
    (plain, _), _ = generated.encode_pairs(pairs, vocab, source_len=4, target_len=3)
    (rev, _), _ = generated.encode_pairs(pairs, vocab, source_len=4, target_len=3, reverse_source=True)
    np.testing.assert_array_equal(rev[0], plain[0][::-1])


def test_encode_pairs_too_long():
    pairs = [("123+456", "579")]
    vocab = generated.vocabulary_for(generated.PairSplits(pairs, [], []))
    # Exactly fitting: source 7, target 3 + end = 4.
    generated.encode_pairs(pairs, vocab, source_len=7, target_len=4)
    with pytest.raises(DataError) as excinfo:
        generated.encode_pairs(pairs, vocab, source_len=6, target_len=4)
    one_line_error(excinfo, "'123+456'", "'579'")
    with pytest.raises(DataError) as excinfo:
        generated.encode_pairs(pairs, vocab, source_len=7, target_len=3)  # no room for the end
    one_line_error(excinfo, "'123+456'")


def test_encode_pairs_unknown_character_becomes_unknown_id():
    vocab = Vocabulary.from_text("0123456789+")
    (sources, _), targets = generated.encode_pairs([("1-2", "-1")], vocab, source_len=5, target_len=4)
    assert sources[0, 1] == targets[0, 0] == vocab.unknown_id


def test_word_pairs_are_a_memorisation_task_evaluated_on_its_training_pairs():
    splits = generated.word_pairs()
    expected = [("man", "women"), ("black", "white"), ("king", "queen"),
                ("girl", "boy"), ("up", "down"), ("high", "low")]
    assert splits.train == splits.test == expected and splits.validation == []
    assert splits.evaluation_split == "train"
    # Each split is its own list: mutating one leaves the others and WORD_PAIRS alone.
    splits.train.append(("x", "y"))
    assert len(splits.test) == 6 and len(generated.WORD_PAIRS) == 6
    vocab = generated.vocabulary_for(splits)
    (sources, decoder_in), decoder_out = generated.encode_pairs(expected, vocab, source_len=5, target_len=6)
    assert [vocab.decode(row) for row in sources] == [s for s, _ in expected]
    assert [vocab.decode(row) for row in decoder_out] == [t for _, t in expected]
