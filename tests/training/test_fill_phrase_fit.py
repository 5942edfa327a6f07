"""``python -m training fill phrase``'s fit (training/studies/fill_eval.py): each agreement
bucket's boost is the likeliest for its tokens, sparse buckets pool, empty ones stay 0."""

from __future__ import annotations

import numpy as np

from training.studies.fill_eval import boosted, fit_boosts


def _draw(rng, n: int, boost: float, vocab: int = 12):
    """``n`` steps of a vocabulary of ``vocab`` whose network gives random distributions
    and whose twin's token is raised by ``exp(boost)`` in the distribution the tokens are
    drawn from: (p_net of the drawn token, hit, p_twin)."""
    p = rng.dirichlet(np.ones(vocab), size=n)
    twin = rng.integers(0, vocab, size=n)
    q = p.copy()
    q[np.arange(n), twin] *= np.exp(boost)
    q /= q.sum(axis=1, keepdims=True)
    drawn = np.array([rng.choice(vocab, p=row) for row in q])
    return p[np.arange(n), drawn], drawn == twin, p[np.arange(n), twin]


def test_each_bucket_gets_the_boost_its_tokens_were_drawn_with():
    rng = np.random.default_rng(0)
    parts = [_draw(rng, 4000, b) for b in (0.0, 1.0, 3.0)]
    p_net, hit, p_twin = (np.concatenate(x) for x in zip(*parts))
    bucket = np.repeat([0, 1, 2], 4000)
    boosts = fit_boosts(p_net, hit, p_twin, bucket, 4)
    assert boosts[3] == 0.0  # no token
    assert abs(boosts[0]) < 0.15 and abs(boosts[1] - 1.0) < 0.15 and abs(boosts[2] - 3.0) < 0.15
    # the likeliest: moving a bucket's boost either way makes its tokens less likely
    for j in range(3):
        here = bucket == j

        def log_likelihood(b):
            share = np.full(here.sum(), b)
            return np.log(boosted(p_net[here], hit[here], p_twin[here], share)).sum()

        assert log_likelihood(boosts[j]) >= max(log_likelihood(boosts[j] - 0.05),
                                                log_likelihood(boosts[j] + 0.05))


def test_buckets_with_few_tokens_share_one_boost():
    rng = np.random.default_rng(1)
    parts = [_draw(rng, n, 2.0) for n in (300, 30, 40, 300, 20)]
    p_net, hit, p_twin = (np.concatenate(x) for x in zip(*parts))
    bucket = np.repeat([0, 2, 3, 4, 6], [300, 30, 40, 300, 20])
    boosts = fit_boosts(p_net, hit, p_twin, bucket, 7, min_tokens=100)
    # bucket 0 alone; 2, 3 and 4 pooled (30 + 40 < 100); 6, the last few, joins them
    assert boosts[2] == boosts[3] == boosts[4] == boosts[6] != boosts[0]
    assert boosts[1] == boosts[5] == 0.0
    # the probabilities stay a distribution's: a token's and the rest's add up to 1
    q = boosted(np.array([0.2]), np.array([False]), np.array([0.5]), np.array([1.0]))
    assert q[0] == 0.2 / (0.5 + 0.5 * np.e)
