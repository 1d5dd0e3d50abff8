"""Near-duplicate text: one definition, one signature, one index — used everywhere the project asks
"are these two texts the same text, lightly edited?".

Definition
    The similarity of two texts is the Jaccard index of their sets of word 5-grams ("shingles") over
    lower-cased ``\\w+`` tokens (punctuation, casing and whitespace ignored; a text of fewer than five
    words is one shingle of all its words). Two texts at or above ``DEFAULT_THRESHOLD`` (0.8) are
    near-duplicates. This is the definition the raw-data generator uses for the near-duplicates it
    injects, so its ground truth scores the pipeline directly.

Signature
    A MinHash signature (datasketch, ``affine32`` scheme, ``NUM_PERM`` = 128 permutations, seed 1): the
    share of equal positions of two signatures estimates their Jaccard index. ``band_keys`` cuts a
    signature into LSH bands (``bands × rows``) for a distributed candidate search (the Beam step
    groups records by band key).

Users
    * the Beam pipeline's ``NearDedup`` (``beam_jobs/llmops_beam/dedup.py``): band keys, signature
      agreement, exact verification on ``shingle_hashes``;
    * training snapshots (``llmops_factory.datasets.snapshot``): no eval example near a train example,
      through ``NearDupIndex``;
    * evaluation's contamination check: ``NearDupIndex`` of the training set, ``query`` each eval item.

No Beam or Airflow import; numpy and datasketch only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Iterable

import numpy as np

SHINGLE_WORDS = 5
NUM_PERM = 128
SEED = 1
DEFAULT_THRESHOLD = 0.8
_WORD = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (``\\w+``) of a text."""
    return _WORD.findall(text.lower())


def shingles(text: str, size: int = SHINGLE_WORDS) -> frozenset[str]:
    """The word ``size``-grams of ``text`` (joined by one space); the whole token list when shorter.

    An empty text (no word at all) has no shingle.
    """
    words = tokens(text)
    if len(words) <= size:
        return frozenset({" ".join(words)}) if words else frozenset()
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


def _jaccard_sets(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    if not a and not b:
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def similarity(a: str, b: str) -> float:
    """The exact Jaccard index of the two texts' shingle sets (1.0 for two texts without words)."""
    return _jaccard_sets(shingles(a), shingles(b))


def is_near_duplicate(a: str, b: str, threshold: float = DEFAULT_THRESHOLD) -> bool:
    return similarity(a, b) >= threshold


def shingle_hashes(text: str) -> np.ndarray:
    """Sorted unique 64-bit hashes of the shingles: a compact set for the exact index (``hash_jaccard``)."""
    values = {
        int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "big")
        for s in shingles(text)
    }
    return np.array(sorted(values), dtype=np.uint64)


def hash_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard index of two ``shingle_hashes`` arrays (equals ``similarity`` but for 64-bit collisions)."""
    if not len(a) and not len(b):
        return 1.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


class MinHasher:
    """Builds MinHash signatures of texts; build once (it draws the permutations) and reuse."""

    def __init__(self, num_perm: int = NUM_PERM, seed: int = SEED):
        from datasketch import MinHash

        self.num_perm, self.seed = num_perm, seed
        self._minhash_cls = MinHash
        self._permutations = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations

    def minhash(self, text: str):
        """The datasketch ``MinHash`` of the text's shingles."""
        m = self._minhash_cls(
            num_perm=self.num_perm, seed=self.seed, permutations=self._permutations, scheme="affine32"
        )
        values = shingles(text)
        if values:
            m.update_batch([s.encode("utf-8") for s in values])
        return m

    def signature(self, text: str) -> np.ndarray:
        """The signature as ``num_perm`` unsigned 32-bit values (compact, comparable with ``estimate``)."""
        return self.minhash(text).hashvalues.astype(np.uint32)


_HASHERS: dict[tuple[int, int], MinHasher] = {}


def _hasher(num_perm: int, seed: int) -> MinHasher:
    key = (num_perm, seed)
    if key not in _HASHERS:
        _HASHERS[key] = MinHasher(num_perm, seed)
    return _HASHERS[key]


def signature(text: str, num_perm: int = NUM_PERM, seed: int = SEED) -> np.ndarray:
    """The MinHash signature of a text (a process-wide ``MinHasher`` per ``num_perm``/``seed``)."""
    return _hasher(num_perm, seed).signature(text)


def estimate(a: np.ndarray, b: np.ndarray) -> float:
    """The Jaccard index estimated from two signatures (share of equal positions)."""
    if len(a) != len(b):
        raise ValueError(f"signatures of different lengths ({len(a)} and {len(b)}) cannot be compared")
    return float(np.mean(a == b))


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """LSH band keys of a signature: two texts sharing a key are candidates (2-byte band number + hash)."""
    if bands * rows > len(sig):
        raise ValueError(f"bands*rows={bands * rows} exceeds the signature length {len(sig)}")
    sig = np.asarray(sig, dtype=np.uint32)
    return [
        band.to_bytes(2, "big")
        + hashlib.blake2b(sig[band * rows : (band + 1) * rows].tobytes(), digest_size=8).digest()
        for band in range(bands)
    ]


class NearDupIndex:
    """In-memory MinHash LSH index of texts: ``add(key, text)``, then ``query(text)`` for near-duplicates.

    Candidates come from a recall-weighted LSH index ``candidate_margin`` below ``threshold`` (at the
    default 0.8, a true pair is missed with probability ~5e-5) and are confirmed by the signatures'
    Jaccard estimate, or with ``exact=True`` by the exact shingle Jaccard index (the index then keeps
    each text's shingle hashes too). Results are sorted by similarity, best first, then key.
    """

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        num_perm: int = NUM_PERM,
        candidate_margin: float = 0.2,
        exact: bool = False,
    ):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold={threshold!r} must be in (0, 1]")
        from datasketch import MinHashLSH

        self.threshold, self.num_perm, self.exact = threshold, num_perm, exact
        self._hasher = _hasher(num_perm, SEED)
        self._lsh = MinHashLSH(
            threshold=max(0.05, threshold - candidate_margin), num_perm=num_perm, weights=(0.1, 0.9)
        )
        self._minhashes: dict[Hashable, object] = {}
        self._shingles: dict[Hashable, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._minhashes)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._minhashes

    def add(self, key: Hashable, text: str) -> None:
        """Index ``text`` under ``key`` (a key can be added once)."""
        if key in self._minhashes:
            raise KeyError(f"key {key!r} is already in the index")
        m = self._hasher.minhash(text)
        self._lsh.insert(key, m)
        self._minhashes[key] = m
        if self.exact:
            self._shingles[key] = shingle_hashes(text)

    def add_many(self, items: Iterable[tuple[Hashable, str]]) -> None:
        for key, text in items:
            self.add(key, text)

    def query(self, text: str) -> list[tuple[Hashable, float]]:
        """``(key, similarity)`` of every indexed text at or above the threshold."""
        m = self._hasher.minhash(text)
        hits = []
        own = shingle_hashes(text) if self.exact else None
        for key in self._lsh.query(m):
            score = hash_jaccard(own, self._shingles[key]) if self.exact else m.jaccard(self._minhashes[key])
            if score >= self.threshold:
                hits.append((key, round(float(score), 6)))
        hits.sort(key=lambda kv: (-kv[1], str(kv[0])))
        return hits

    def has_near_duplicate(self, text: str) -> bool:
        return bool(self.query(text))
