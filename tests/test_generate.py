"""Sampling and decoding (zoo.generate) against fake numpy step functions: no keras needed."""

import numpy as np
import pytest

from zoo.generate import beam_search, generate, greedy_decode, sample_token

EPS = 1e-9  # stands in for "impossible" in hand-written probability tables


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(z):
    return np.log(softmax(z))


def check_call(tokens, states):
    """What every fake step asserts about how it is called."""
    assert tokens.dtype == np.int32 and tokens.ndim == 2 and tokens.shape[1] == 1
    assert isinstance(states, dict)  # states travel by name
    for state in states.values():
        assert state.shape[0] == tokens.shape[0]


def bigram_step(table):
    """Logits are the row of ``table`` for the input token; one state counts the calls."""
    table = np.asarray(table, dtype=np.float64)

    def step(tokens, states):
        check_call(tokens, states)
        return table[tokens[:, 0]], {"calls": states["calls"] + 1}

    return step


def prob_step(rows):
    """A bigram step from a {token: {next: prob}} table; missing entries are impossible."""
    vocab = 1 + max(max(rows), *(t for row in rows.values() for t in row))
    probs = np.full((vocab, vocab), EPS)
    for token, row in rows.items():
        for nxt, p in row.items():
            probs[token, nxt] = p
    return bigram_step(np.log(probs / probs.sum(axis=1, keepdims=True)))


def history_step(vocab, seed):
    """Logits depend on the input token AND on the state (running token sum, position), so a
    beam search that reorders its states wrongly gets different scores."""
    rng = np.random.default_rng(seed)
    by_token = rng.normal(size=(vocab, vocab)) * 1.5
    by_history = rng.normal(size=(7, vocab)) * 2.0

    def step(tokens, states):
        check_call(tokens, states)
        total, position = states["total"], states["position"]
        token = tokens[:, 0]
        total = total + token[:, None]
        position = position + 1
        logits = by_token[token] + by_history[(3 * total[:, 0] + position[:, 0]) % 7]
        return logits, {"total": total, "position": position}

    return step


def initial_states(batch=1):
    return {"total": np.zeros((batch, 1), dtype=np.int64), "position": np.zeros((batch, 1), dtype=np.int64)}


def brute_force(step, states, *, start_id, end_id, max_length, length_normalize):
    """Every hypothesis beam search could return, scored, best first."""
    results = []

    def extend(ids, token, states, score):
        logits, new_states = step(np.array([[token]], dtype=np.int32), states)
        logp = log_softmax(logits[0])
        for nxt in range(len(logp)):
            total = score + logp[nxt]
            if nxt == end_id:
                results.append((ids, total, len(ids) + 1))
            elif len(ids) + 1 == max_length:
                results.append((ids + [nxt], total, len(ids) + 1))
            else:
                extend(ids + [nxt], nxt, new_states, total)

    extend([], start_id, states, 0.0)
    ranked = [(ids, s / n if length_normalize else s) for ids, s, n in results]
    return sorted(ranked, key=lambda item: item[1], reverse=True)


# ---------------------------------------------------------------------------- sample_token


LOGITS = np.random.default_rng(0).normal(size=(6, 10)) * 2.0


def test_temperature_zero_is_argmax():
    np.testing.assert_array_equal(sample_token(LOGITS, temperature=0), LOGITS.argmax(axis=1))


@pytest.mark.parametrize("temperature", [0.3, 1.0, 5.0])
def test_top_k_one_is_argmax(temperature):
    rng = np.random.default_rng(1)
    for _ in range(20):
        tokens = sample_token(LOGITS, temperature=temperature, top_k=1, rng=rng)
        np.testing.assert_array_equal(tokens, LOGITS.argmax(axis=1))


def test_tiny_top_p_is_argmax():
    rng = np.random.default_rng(2)
    tokens = sample_token(np.repeat(LOGITS, 200, axis=0), temperature=3.0, top_p=1e-6, rng=rng)
    np.testing.assert_array_equal(tokens, np.repeat(LOGITS.argmax(axis=1), 200))


def test_output_shape_and_dtype():
    tokens = sample_token(LOGITS, rng=np.random.default_rng(3))
    assert tokens.shape == (6,) and np.issubdtype(tokens.dtype, np.integer)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_top_k_samples_only_the_k_best(k):
    logits = np.repeat(LOGITS[:1], 5000, axis=0)
    tokens = sample_token(logits, temperature=2.0, top_k=k, rng=np.random.default_rng(4))
    allowed = set(np.argsort(-LOGITS[0])[:k].tolist())
    assert set(tokens.tolist()) == allowed  # all of them show up in 5000 hot draws


def test_frequencies_follow_softmax():
    logits = np.array([[1.0, 0.0, -0.5, 2.0, 0.5]])
    draws = 50_000
    tokens = sample_token(np.repeat(logits, draws, axis=0), rng=np.random.default_rng(5))
    freq = np.bincount(tokens, minlength=5) / draws
    np.testing.assert_allclose(freq, softmax(logits[0]), atol=0.01)


def test_temperature_flattens_the_distribution():
    logits = np.array([[2.0, 0.0, -1.0]])
    draws = 50_000
    tokens = sample_token(np.repeat(logits, draws, axis=0), temperature=2.0,
                          rng=np.random.default_rng(6))
    freq = np.bincount(tokens, minlength=3) / draws
    np.testing.assert_allclose(freq, softmax(logits[0] / 2.0), atol=0.01)


def test_top_p_keeps_the_nucleus_renormalized():
    # Probabilities 0.5, 0.3, 0.15, 0.05: top_p=0.7 needs the first two (0.5 < 0.7 <= 0.8).
    logits = np.log([[0.5, 0.3, 0.15, 0.05]])
    draws = 40_000
    tokens = sample_token(np.repeat(logits, draws, axis=0), top_p=0.7,
                          rng=np.random.default_rng(7))
    freq = np.bincount(tokens, minlength=4) / draws
    np.testing.assert_allclose(freq, [0.625, 0.375, 0.0, 0.0], atol=0.01)


def test_large_logits_are_stable():
    logits = np.array([[1000.0, 999.0, -1000.0]])
    tokens = sample_token(np.repeat(logits, 1000, axis=0), rng=np.random.default_rng(8))
    assert set(tokens.tolist()) == {0, 1}


def test_same_rng_seed_same_samples():
    a = sample_token(LOGITS, rng=np.random.default_rng(9))
    b = sample_token(LOGITS, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("options, name", [
    ({"temperature": -0.1}, "temperature"),
    ({"top_k": 0}, "top_k"),
    ({"top_p": 0.0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
])
def test_bad_sampling_options_raise(options, name):
    with pytest.raises(ValueError, match=name):
        sample_token(LOGITS, **options)
    with pytest.raises(ValueError, match=name):
        generate(bigram_step(np.zeros((3, 3))), {"calls": np.zeros((1, 1))}, [[0]], 2, **options)


# ---------------------------------------------------------------------------- generate


TABLE = np.random.default_rng(10).normal(size=(12, 12)) * 2.0


def test_generate_length_and_determinism():
    step = bigram_step(TABLE)
    a = generate(step, {"calls": np.zeros((1, 1))}, [[1, 2]], 30, seed=123)[0]
    b = generate(step, {"calls": np.zeros((1, 1))}, [[1, 2]], 30, seed=123)[0]
    c = generate(step, {"calls": np.zeros((1, 1))}, [[1, 2]], 30, seed=456)[0]
    assert a == b and a != c
    assert len(a) == 30 and all(isinstance(t, int) and 0 <= t < 12 for t in a)
    assert generate(step, {"calls": np.zeros((1, 1))}, [[1]], 0, seed=0) == [[]]


def test_generate_feeds_prompt_and_threads_states():
    calls = []

    def step(tokens, states):
        check_call(tokens, states)
        calls.append((int(tokens[0, 0]), int(states["calls"][0, 0])))
        return TABLE[tokens[:, 0]], {"calls": states["calls"] + 1}

    prompt = [3, 1, 4, 1, 5]
    (new,) = generate(step, {"calls": np.zeros((1, 1), dtype=np.int64)}, [prompt], 6, seed=0)
    fed = [token for token, _ in calls]
    assert fed == prompt + new[:-1]  # every prompt token, then each sample but the last
    assert [count for _, count in calls] == list(range(len(calls)))  # states came back in


def test_generate_greedy_follows_the_table():
    step = bigram_step(TABLE)
    expected, token = [], 7
    for _ in range(10):
        token = int(TABLE[token].argmax())
        expected.append(token)
    assert generate(step, {"calls": np.zeros((1, 1))}, [[7]], 10, temperature=0) == [expected]


def test_generate_empty_prompt_raises():
    with pytest.raises(ValueError, match="prompt"):
        generate(bigram_step(TABLE), {"calls": np.zeros((1, 1))}, [[]], 5)


def test_a_batch_of_prompts_gives_what_each_prompt_gives_alone():
    """Prompts of different lengths advance together, one step call per position, and
    greedy rows equal their solo runs."""
    step = bigram_step(TABLE)
    prompts = [[3, 1, 4], [5], [9, 2]]
    batch = generate(step, {"calls": np.zeros((3, 1))}, prompts, 8, temperature=0)
    assert batch == [generate(step, {"calls": np.zeros((1, 1))}, [p], 8, temperature=0)[0] for p in prompts]
    calls = []

    def counting(tokens, states):
        calls.append(len(tokens))
        return step(tokens, states)

    sampled = generate(counting, {"calls": np.zeros((3, 1))}, prompts, 8, seed=1)
    assert calls == [3] * (3 + 8 - 1)  # the longest prompt, then the samples: one call each
    assert [len(row) for row in sampled] == [8, 8, 8] and all(0 <= t < 12 for row in sampled for t in row)


# ---------------------------------------------------------------------------- greedy_decode

START, END = 3, 0


def test_greedy_decode_hand_computed_path():
    # start 3 -> 1 -> 2 -> end
    step = prob_step({3: {1: 0.7, 2: 0.3}, 1: {2: 0.6, 0: 0.4}, 2: {0: 0.9, 1: 0.1}})
    out = greedy_decode(step, {"calls": np.zeros((1, 1))}, start_id=START, end_id=END, max_length=10)
    assert out == [[1, 2]]


def test_greedy_decode_rows_stop_independently():
    # Row mode 0 ends after [1, 2]; row mode 1 cycles 2 -> 1 -> 2 ... forever.
    ends = np.log(np.array([[0.01, 0.01, 0.01, 0.97], [0.01, 0.01, 0.97, 0.01],
                            [0.97, 0.01, 0.01, 0.01], [0.01, 0.97, 0.01, 0.01]]))
    cycles = np.log(np.array([[0.25] * 4, [0.01, 0.01, 0.97, 0.01],
                              [0.01, 0.97, 0.01, 0.01], [0.01, 0.01, 0.97, 0.01]]))
    calls = []

    def step(tokens, states):
        check_call(tokens, states)
        calls.append(tokens[:, 0].tolist())
        mode = states["calls"][:, 0]
        return np.where(mode[:, None] == 0, ends[tokens[:, 0]], cycles[tokens[:, 0]]), states

    modes = {"calls": np.array([[0], [1], [0]])}
    out = greedy_decode(step, modes, start_id=START, end_id=END, max_length=5)
    assert out == [[1, 2], [2, 1, 2, 1, 2], [1, 2]]
    assert len(calls) == 5

    calls.clear()
    out = greedy_decode(step, {"calls": np.array([[0], [0]])}, start_id=START, end_id=END,
                        max_length=50)
    assert out == [[1, 2], [1, 2]] and len(calls) == 3  # stops once every row ended


def test_greedy_decode_respects_max_length():
    step = history_step(5, seed=11)
    out = greedy_decode(step, initial_states(4), start_id=1, end_id=99, max_length=7)
    assert [len(row) for row in out] == [7, 7, 7, 7]


# ---------------------------------------------------------------------------- beam_search


@pytest.mark.parametrize("seed", range(5))
def test_beam_width_one_is_greedy(seed):
    step = history_step(4, seed)
    greedy = greedy_decode(step, initial_states(), start_id=3, end_id=0, max_length=8)
    beams = beam_search(step, initial_states(), start_id=3, end_id=0, max_length=8,
                        beam_width=1)
    assert len(beams) == 1 and beams[0][0] == greedy[0]


# start -> A (0.6) -> any of four tokens (0.25 each) -> end, or start -> B (0.4) -> end (0.95)
A, B = 1, 2
TRAP = {START: {A: 0.6, B: 0.4}, A: {4: 0.25, 5: 0.25, 6: 0.25, 7: 0.25},
        B: {END: 0.95, 4: 0.05}, 4: {END: 1.0}, 5: {END: 1.0}, 6: {END: 1.0}, 7: {END: 1.0}}


@pytest.mark.parametrize("length_normalize", [True, False])
def test_beam_finds_what_greedy_misses(length_normalize):
    step = prob_step(TRAP)
    states = {"calls": np.zeros((1, 1))}
    greedy = greedy_decode(step, states, start_id=START, end_id=END, max_length=5)
    assert greedy == [[A, 4]]
    beams = beam_search(step, states, start_id=START, end_id=END, max_length=5,
                        beam_width=2, length_normalize=length_normalize)
    ids, score = beams[0]
    assert ids == [B]
    expected = np.log(0.4 * 0.95)
    assert score == pytest.approx(expected / 2 if length_normalize else expected, abs=1e-6)


def test_length_normalization_changes_the_ranking():
    # Ending at once scores log 0.3; A then end scores log 0.28 over two tokens.
    step = prob_step({START: {END: 0.3, A: 0.7}, A: {END: 0.4, 4: 0.3, 5: 0.3},
                      4: {END: 0.9, 5: 0.1}, 5: {END: 0.9, 4: 0.1}})
    kwargs = dict(start_id=START, end_id=END, max_length=4, beam_width=2)
    raw = beam_search(step, {"calls": np.zeros((1, 1))}, length_normalize=False, **kwargs)
    normalized = beam_search(step, {"calls": np.zeros((1, 1))}, length_normalize=True, **kwargs)
    assert [ids for ids, _ in raw] == [[], [A]]
    assert [ids for ids, _ in normalized] == [[A], []]
    assert normalized[0][1] == pytest.approx(np.log(0.28) / 2, abs=1e-6)


@pytest.mark.parametrize("length_normalize", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_exhaustive_beam_matches_brute_force(seed, length_normalize):
    # Vocab 3 (end 0) and max_length 4 give 1 + 2 + 4 + 8 + 16 = 31 hypotheses: a width
    # of 40 keeps them all, so beam search must agree with enumeration exactly, which it
    # only does if the state-dependent step sees each beam's own (reordered) states.
    step = history_step(3, seed)
    kwargs = dict(start_id=1, end_id=0, max_length=4)
    expected = brute_force(step, initial_states(), length_normalize=length_normalize, **kwargs)
    beams = beam_search(step, initial_states(), beam_width=40,
                        length_normalize=length_normalize, **kwargs)
    assert len(beams) == len(expected) == 31
    assert [ids for ids, _ in beams] == [ids for ids, _ in expected]
    np.testing.assert_allclose([s for _, s in beams], [s for _, s in expected], atol=1e-9)


@pytest.mark.parametrize("width", [2, 3, 5])
def test_beam_scores_sorted_and_bounded(width):
    step = history_step(6, seed=12)
    beams = beam_search(step, initial_states(), start_id=1, end_id=0, max_length=6,
                        beam_width=width)
    assert 1 <= len(beams) <= width
    scores = [score for _, score in beams]
    assert scores == sorted(scores, reverse=True)
    assert all(len(ids) <= 6 and 0 not in ids for ids, _ in beams)


@pytest.mark.parametrize("width", [0, -1])
def test_bad_beam_width_raises(width):
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(history_step(3, 0), initial_states(), start_id=1, end_id=0,
                    max_length=4, beam_width=width)


def test_beam_search_of_several_sources_in_one_batch_equals_each_alone():
    """All sources' live beams go through one step call per position, and every source gets
    exactly the hypotheses and scores it gets alone (its states reordered within its rows)."""
    from zoo.generate import beam_search_batch

    step = history_step(5, 3)
    starts = {"total": np.array([[0], [2], [5]]), "position": np.array([[0], [1], [3]])}
    kwargs = dict(start_id=1, end_id=0, max_length=5, beam_width=3)
    calls = []

    def counting(tokens, states):
        calls.append(len(tokens))
        return step(tokens, states)

    together = beam_search_batch(counting, starts, **kwargs)
    alone = [beam_search(step, {k: v[i : i + 1] for k, v in starts.items()}, **kwargs) for i in range(3)]
    assert [[ids for ids, _ in r] for r in together] == [[ids for ids, _ in r] for r in alone]
    for got, want in zip(together, alone):
        np.testing.assert_allclose([score for _, score in got], [score for _, score in want], rtol=1e-12)
    assert len(calls) <= kwargs["max_length"] and calls[0] == 3  # one call per position, not per source
