"""Sampling and decoding for autoregressive models, in plain numpy.

This module imports only numpy: the Keras models and the onnxruntime runtime both use it,
each wrapping its step model in a *step function* with :func:`step_function`::

    step(tokens, states) -> (logits, new_states)

``tokens`` is an int32 array of shape (batch, 1), ``logits`` has shape (batch, vocab) and
``states`` is a dict of arrays keyed by state name (``state_h_1``, ``state_c_1``, ...),
each with the batch as its first axis (so beams can be reordered by indexing).

The names are the exports' names: a step model takes ``token`` and its states and returns
``logits`` and ``next_<state>`` per state; an encoder returns the decoder's states.
"""

from typing import Callable

import numpy as np

StepFn = Callable[[np.ndarray, dict], tuple[np.ndarray, dict]]
TOKEN, LOGITS, NEXT = "token", "logits", "next_"
FEATURES = "features"  # a step's output where a second step model (a generator's pixel_step) decodes it


def step_function(run: Callable[[dict], dict], state_names, output: str = LOGITS) -> StepFn:
    """A step function over `run` (named inputs -> named outputs) of a step model whose
    inputs are ``token`` and `state_names`: (tokens, states) -> (its `output`, next states)."""
    state_names = list(state_names)

    def step(tokens, states):
        tokens = np.asarray(tokens)  # token ids, or a step's features (a sequence labeller's frame)
        if tokens.dtype.kind in "iub":
            tokens = tokens.astype(np.int32)
        out = run({TOKEN: tokens, **{name: states[name] for name in state_names}})
        return out[output], {name: out[NEXT + name] for name in state_names}

    return step


def zero_states(units: dict, batch_size: int) -> dict:
    """float32 zero states of `batch_size` rows, for state sizes by name."""
    return {name: np.zeros((batch_size, size), dtype=np.float32) for name, size in units.items()}


def log_softmax(logits, axis=-1):
    """log(softmax(logits)) in float64; the max subtraction keeps large logits from overflowing."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def softmax(logits, axis=-1):
    return np.exp(log_softmax(logits, axis))


def cross_entropy(logits, targets) -> float:
    """Mean negative log-likelihood of integer `targets` under `logits` (nats)."""
    log_probs = log_softmax(logits)
    return float(-np.mean(np.take_along_axis(log_probs, np.asarray(targets)[..., None], -1)))


def _check_sampling(temperature, top_k, top_p):
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 means greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be an integer >= 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def _check_positive(name, value):
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")


def _feed(step, token_ids, states):
    tokens = np.asarray(token_ids, dtype=np.int32).reshape(-1, 1)
    logits, states = step(tokens, states)
    return np.asarray(logits), dict(states)


def sample_token(logits, *, temperature=1.0, top_k=None, top_p=None, rng=None):
    """One token id per row of ``logits`` (batch, vocab), as an int array of shape (batch,).

    ``temperature=0`` is greedy argmax. Otherwise logits are divided by ``temperature``,
    cut to the ``top_k`` best, then to the smallest nucleus whose probability reaches
    ``top_p`` (at least one token), renormalized and sampled with ``rng``.
    """
    _check_sampling(temperature, top_k, top_p)
    logits = np.atleast_2d(np.asarray(logits, dtype=np.float64))
    if temperature == 0:
        return np.argmax(logits, axis=-1)
    rng = np.random.default_rng() if rng is None else rng

    # Work in descending order: both filters then keep a prefix of each row. A stable sort
    # breaks ties toward the lower id, like argmax, so top_k=1 is exactly greedy.
    order = np.argsort(-logits, axis=-1, kind="stable")
    z = np.take_along_axis(logits, order, axis=-1) / temperature
    keep = np.ones(z.shape, dtype=bool)
    if top_k is not None:
        keep[:, top_k:] = False
    # The row maximum (column 0) is always kept, so exp never overflows and the sum is > 0.
    probs = np.where(keep, np.exp(z - z[:, :1]), 0.0)
    probs /= probs.sum(axis=-1, keepdims=True)
    if top_p is not None:
        # Keep a token while the mass before it is still short of top_p; the first always is.
        keep &= (np.cumsum(probs, axis=-1) - probs) < top_p
        probs = np.where(keep, probs, 0.0)

    # Inverse-CDF sampling, vectorized over the batch; clip to the kept prefix so rounding
    # in the cumulative sum can never pick a filtered-out token.
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random((len(cdf), 1)) * cdf[:, -1:]
    index = np.minimum((cdf <= u).sum(axis=-1), keep.sum(axis=-1) - 1)
    return order[np.arange(len(order)), index]


def generate(step, states, prompts, length, *, temperature=1.0, top_k=None, top_p=None, seed=None):
    """Continue each prompt (a list of token ids per row of `states`) by `length` sampled ids.

    All rows advance together, one step call per position: a row feeds its own prompt
    tokens, then samples. Returns the new ids of each row. Only the rows that sample draw
    random numbers, so a batch of one gives, seed for seed, what it gives alone.
    """
    _check_sampling(temperature, top_k, top_p)
    prompts = [list(map(int, p)) for p in prompts]
    if not prompts or not all(prompts):
        raise ValueError("prompt_ids must contain at least one token id")
    if length < 0:
        raise ValueError(f"length must be an integer >= 0, got {length}")
    rng = np.random.default_rng(seed)
    states = dict(states)
    new_ids = [[] for _ in prompts]
    tokens = np.array([p[0] for p in prompts])
    position = 0  # index, in each prompt, of the token fed now
    while length and any(len(ids) < length for ids in new_ids):
        logits, states = _feed(step, tokens, states)
        position += 1
        sampling = [r for r, p in enumerate(prompts) if position >= len(p) and len(new_ids[r]) < length]
        if sampling:
            drawn = sample_token(logits[sampling], temperature=temperature, top_k=top_k, top_p=top_p, rng=rng)
            for r, token in zip(sampling, drawn):
                new_ids[r].append(int(token))
        # Next: the prompt's next token, or the token just sampled (finished rows ride along).
        tokens = np.array([p[position] if position < len(p) else (new_ids[r][-1] if new_ids[r] else p[-1])
                           for r, p in enumerate(prompts)])
    return new_ids


def greedy_decode(step, states, *, start_id, end_id, max_length):
    """Argmax decoding of a batch; each row stops at ``end_id`` (not included) or ``max_length``."""
    _check_positive("max_length", max_length)
    states = dict(states)
    batch = len(next(iter(states.values()))) if states else 1
    outputs = [[] for _ in range(batch)]
    done = np.zeros(batch, dtype=bool)
    tokens = np.full(batch, start_id, dtype=np.int32)
    for _ in range(max_length):
        logits, states = _feed(step, tokens, states)
        tokens = np.argmax(logits, axis=-1).astype(np.int32)
        for row in np.flatnonzero(~done):
            if tokens[row] == end_id:
                done[row] = True
            else:
                outputs[row].append(int(tokens[row]))
        if done.all():
            break
        # Finished rows still ride along in the batch; feed them end_id and ignore the result.
        tokens[done] = end_id
    return outputs


def beam_search(step, states, *, start_id, end_id, max_length, beam_width, length_normalize=True):
    """Beam search for one source (states with batch 1): ``[(ids, score), ...]`` best first.
    See :func:`beam_search_batch`."""
    return beam_search_batch(step, states, start_id=start_id, end_id=end_id, max_length=max_length,
                             beam_width=beam_width, length_normalize=length_normalize)[0]


def beam_search_batch(step, states, *, start_id, end_id, max_length, beam_width, length_normalize=True):
    """Beam search for every source (one per row of `states`), the live beams of all sources
    in one step call per position: per source, ``[(ids, score), ...]`` best first.

    Scores are summed log-probabilities, including that of ``end_id`` (which is left out of
    ``ids``); with ``length_normalize`` they are divided by the number of emitted tokens.
    Each step keeps, per source, the ``beam_width - len(finished)`` best expansions, so a
    beam shrinks as hypotheses finish and ``beam_width=1`` is exactly greedy decoding.
    """
    _check_positive("beam_width", beam_width)
    _check_positive("max_length", max_length)
    states = dict(states)
    sources = len(next(iter(states.values()))) if states else 1
    beams = [[[]] for _ in range(sources)]           # per source: token ids of each live beam
    scores = [np.zeros(1) for _ in range(sources)]   # per source: summed log-probs of each live beam
    finished = [[] for _ in range(sources)]          # per source: (ids, raw score, normalizing length)
    tokens = np.full(sources, start_id)              # last token of every live row, fed next

    for _ in range(max_length):
        logits, states = _feed(step, tokens, states)
        log_probs, vocab = log_softmax(logits), logits.shape[-1]
        next_rows, first = [], 0  # (row of the parent beam, token) for the next step; rows of a source
        for source in range(sources):
            rows = slice(first, first + len(beams[source]))
            first = rows.stop
            if not beams[source]:
                continue
            candidates = (scores[source][:, None] + log_probs[rows]).ravel()
            best = np.argsort(-candidates, kind="stable")[:beam_width - len(finished[source])]
            best = best[np.isfinite(candidates[best])]  # never extend with impossible tokens
            live = []
            for flat, parent, token in zip(best, *np.divmod(best, vocab)):
                ids = beams[source][parent] if token == end_id else beams[source][parent] + [int(token)]
                if token == end_id:
                    finished[source].append((ids, candidates[flat], len(ids) + 1))
                elif len(ids) == max_length:
                    finished[source].append((ids, candidates[flat], len(ids)))
                else:
                    live.append((ids, candidates[flat], rows.start + parent, token))
            beams[source] = [ids for ids, _, _, _ in live]
            scores[source] = np.array([score for _, score, _, _ in live])
            next_rows += [(row, token) for _, _, row, token in live]
        if not next_rows:
            break
        tokens = np.array([token for _, token in next_rows])
        # Fancy indexing both tiles (a parent chosen twice) and reorders the states.
        parent_index = np.array([row for row, _ in next_rows])
        states = {name: np.asarray(s)[parent_index] for name, s in states.items()}

    results = []
    for done in finished:
        ranked = [(ids, float(score / length if length_normalize else score)) for ids, score, length in done]
        ranked.sort(key=lambda item: item[1], reverse=True)
        results.append(ranked[:beam_width])
    return results


# ---------------------------------------------------------------------- text in, text out
# Shared by the Keras models (zoo.tasks) and the exported artifacts (zoo.runtime): the
# vocabulary objects only need encode(text, what=...) and decode(ids).
def continue_texts(step: StepFn, states, vocab, prompts, length: int, *, temperature=1.0, top_k=None,
                   top_p=None, seed=None) -> list[str]:
    """`length` characters continuing each of `prompts`, all in one batch (`states` holds one
    row per prompt), one step call per character."""
    if not prompts or not all(prompts):
        raise ValueError("prompt: expected at least one character")
    ids = generate(step, states, [vocab.encode(p, what="prompt") for p in prompts], length,
                   temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    return [vocab.decode(row) for row in ids]


def translate(encode, step: StepFn, vocab, sources, *, source_len: int, target_len: int,
              reverse_source: bool = False, beam_width: int = 1) -> list[str]:
    """Decode each source string: greedy, or beam search, for all sources in one batch.

    `encode(source_ids (batch, source_len)) -> states` (a dict by name) runs the encoder; sources are padded
    to `source_len` (and reversed first when the model was trained on reversed sources).
    """
    rows = []
    for source in sources:
        if len(source) > source_len:
            raise ValueError(f"input {source!r}: expected at most {source_len} characters")
        rows.append(vocab.encode(source[::-1] if reverse_source else source, what=f"input {source!r}"))
    states = encode(vocab.pad(rows, source_len))
    kwargs = dict(start_id=vocab.start_id, end_id=vocab.end_id, max_length=target_len)
    if beam_width <= 1:
        return [vocab.decode(ids) for ids in greedy_decode(step, states, **kwargs)]
    return [vocab.decode(ranked[0][0]) for ranked in beam_search_batch(step, states, beam_width=beam_width, **kwargs)]
