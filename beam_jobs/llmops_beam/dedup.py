"""Exact and near-duplicate removal, done with shuffles of small keys so it scales with the data.

Exact duplicates: records whose normalised, redacted texts are identical (``content_hash``) are grouped
by that hash; the record with the smallest ``sort_key`` (file order) is kept, every other one is
filtered as ``exact_duplicate`` naming the record it duplicates.

Near duplicates (MinHash LSH with datasketch), with the project's one near-duplicate unit
(``llmops_factory.text.neardup``: shingles, signature, band keys, exact index):

The similarity is the Jaccard index of the 5-word shingle sets of the record's text (lower-cased words,
punctuation ignored, system messages left out) — the same definition the raw-data generator uses for the
near-duplicates it injects. A pair at or above ``threshold`` (default 0.8) is a near-duplicate.

1. ``MinHashFn``: shingles → a MinHash signature (``num_perm`` permutations, fixed seed, datasketch
   ``affine32``) → ``bands`` band keys of ``rows`` values each.
2. ``GroupByBand``: records that share a band key are candidates (LSH; with 20 bands of 6 rows a pair
   with Jaccard 0.8 becomes a candidate with probability 0.998).
3. ``VerifyBySignature``: the signatures' agreement estimates the Jaccard index; pairs estimated at
   ``threshold - prefilter_margin`` or more are likely. Only the signatures of candidate records travel
   to the verifier (a side input keyed by record), never the whole data set.
4. ``VerifyExactly``: the exact Jaccard index of the likely pairs, from the shingle sets of just those
   records; pairs at ``threshold`` or more are edges.
5. Connected components of the edges (union-find over the edge list, whose size is the number of
   near-duplicate pairs, not of records); each component keeps its smallest ``sort_key`` and the rest
   are filtered as ``near_duplicate``.

Everything is keyed by ``sort_key`` and decided by total orders, so the result does not depend on the
runner, the bundle split or the worker count.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from llmops_beam.records import FILTERED, filtered, stable_hash
from llmops_factory.text.neardup import band_keys, estimate, hash_jaccard, shingle_hashes

_PADDED = re.compile(r"([a-z]+):0*(\d+)$")
SMALL_BUCKET = 64


def readable(key: str) -> str:
    """``raw/x/dt=…/f.jsonl#line:000000000012`` → ``raw/x/dt=…/f.jsonl#line:12``."""
    return _PADDED.sub(r"\1:\2", key)


def content_hash(record: dict[str, Any]) -> str:
    """Exact-duplicate key: hash of the record's texts (labels included) with every run of whitespace
    (Unicode spaces included) read as one space, so spacing alone never hides a duplicate."""
    return stable_hash(*(f"{label}\x1e{' '.join(text.split())}" for label, text in record["texts"]))


def dedup_text(record: dict[str, Any]) -> str:
    """The text near-duplicates are measured on: every text but system messages, one per line."""
    return "\n".join(text for label, text in record["texts"] if label != "system")


def candidate_pairs(members: list[str]) -> list[tuple[str, str]]:
    """Pairs to verify in one LSH bucket: all pairs when small, else each member with the smallest and
    with its successor (linear in the bucket size, so a hot bucket cannot blow up)."""
    members = sorted(set(members))
    if len(members) < 2:
        return []
    if len(members) <= SMALL_BUCKET:
        return list(itertools.combinations(members, 2))
    first = members[0]
    pairs = {(first, m) for m in members[1:]}
    pairs.update(zip(members[1:], members[2:], strict=False))
    return sorted(pairs)


class MinHashFn(beam.DoFn):
    """Record → record (main), ``(band key, sort_key)`` per band, ``(sort_key, signature bytes)``."""

    BANDS = "bands"
    SIGNATURES = "signatures"

    def __init__(self, num_perm: int, bands: int, rows: int, seed: int = 1):
        if bands * rows > num_perm:
            raise ValueError(f"bands*rows={bands * rows} exceeds num_perm={num_perm}")
        self.num_perm, self.bands, self.rows, self.seed = num_perm, bands, rows, seed
        self.signed = Metrics.counter("near_dedup", "signatures")

    def setup(self):
        from llmops_factory.text.neardup import MinHasher

        self._hasher = MinHasher(self.num_perm, self.seed)

    def signature(self, text: str) -> np.ndarray:
        return self._hasher.signature(text)

    def process(self, record: dict[str, Any]):
        sig = self.signature(dedup_text(record))
        key = record["sort_key"]
        for band_key in band_keys(sig, self.bands, self.rows):
            yield beam.pvalue.TaggedOutput(self.BANDS, (band_key, key))
        yield beam.pvalue.TaggedOutput(self.SIGNATURES, (key, sig.tobytes()))
        self.signed.inc()
        yield record


class VerifyBySignatureFn(beam.DoFn):
    """Keep a candidate pair whose signatures agree on at least ``threshold`` of their positions."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.candidates = Metrics.counter("near_dedup", "candidate_pairs")
        self.likely = Metrics.counter("near_dedup", "likely_pairs")

    def process(self, pair: tuple[str, str], signatures: dict[str, bytes]):
        self.candidates.inc()
        a = np.frombuffer(signatures[pair[0]], dtype=np.uint32)
        b = np.frombuffer(signatures[pair[1]], dtype=np.uint32)
        if estimate(a, b) >= self.threshold:
            self.likely.inc()
            yield pair


class VerifyExactlyFn(beam.DoFn):
    """Keep a likely pair whose exact shingle Jaccard index reaches ``threshold`` (an edge)."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.edges = Metrics.counter("near_dedup", "verified_pairs")

    def process(self, pair: tuple[str, str], shingle_sets: dict[str, bytes]):
        a = np.frombuffer(shingle_sets[pair[0]], dtype=np.uint64)
        b = np.frombuffer(shingle_sets[pair[1]], dtype=np.uint64)
        if hash_jaccard(a, b) >= self.threshold:
            self.edges.inc()
            yield pair


class ComponentsFn(beam.CombineFn):
    """Union-find over edges → ``{member: smallest key of its component}`` for non-representatives."""

    def create_accumulator(self):
        return []

    def add_input(self, accumulator, edge):
        accumulator.append(tuple(edge))
        return accumulator

    def merge_accumulators(self, accumulators):
        return list(itertools.chain.from_iterable(accumulators))

    def extract_output(self, accumulator):
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            parent.setdefault(x, x)
            root = x
            while parent[root] != root:
                root = parent[root]
            while parent[x] != root:
                parent[x], x = root, parent[x]
            return root

        for a, b in accumulator:
            ra, rb = find(a), find(b)
            if ra != rb:
                lo, hi = (ra, rb) if ra < rb else (rb, ra)
                parent[hi] = lo
        return {k: find(k) for k in sorted(parent) if find(k) != k}


class MarkDuplicatesFn(beam.DoFn):
    """Pass records that are not in ``duplicate_of``; filter the others naming their representative."""

    def __init__(self, reason: str):
        self.reason = reason
        self.kept = Metrics.counter("dedup", f"{reason}.kept")
        self.dropped = Metrics.counter("dedup", reason)

    def process(self, record: dict[str, Any], duplicate_of: dict[str, str]):
        rep = duplicate_of.get(record["sort_key"])
        if rep is None:
            self.kept.inc()
            yield record
            return
        self.dropped.inc()
        yield beam.pvalue.TaggedOutput(
            FILTERED,
            filtered(record, "dedup", self.reason, f"{self.reason.replace('_', ' ')} of {readable(rep)}"),
        )


def _hash_record(record: dict[str, Any]) -> dict[str, Any]:
    return dict(record, content_hash=content_hash(record))


def _exact_losers(group: tuple[str, Any]):
    _, keys = group
    keys = sorted(keys)
    for key in keys[1:]:
        yield key, keys[0]


class ExactDedup(beam.PTransform):
    """Records → ``records`` (first of each identical group) and ``filtered`` (``exact_duplicate``)."""

    def expand(self, records):
        hashed = records | "ContentHash" >> beam.Map(_hash_record)
        losers = (
            hashed
            | "HashAndKey" >> beam.Map(lambda r: (r["content_hash"], r["sort_key"]))
            | "GroupByContentHash" >> beam.GroupByKey()
            | "PickFirstOfEachGroup" >> beam.FlatMap(_exact_losers)
        )
        return hashed | "DropExactDuplicates" >> beam.ParDo(
            MarkDuplicatesFn("exact_duplicate"), beam.pvalue.AsDict(losers)
        ).with_outputs(FILTERED, main="records")


class _KeysOfPairs(beam.PTransform):
    """Pairs → ``(key, True)`` for every key in a pair (a presence map for side-input lookups)."""

    def expand(self, pairs):
        return (
            pairs
            | "BothKeys" >> beam.FlatMap(lambda pair: pair)
            | "DistinctKeys" >> beam.Distinct()
            | "AsPresence" >> beam.Map(lambda key: (key, True))
        )


class NearDedup(beam.PTransform):
    """Records → ``records`` (one per near-duplicate component) and ``filtered`` (``near_duplicate``)."""

    def __init__(
        self,
        threshold: float = 0.8,
        num_perm: int = 128,
        bands: int = 20,
        rows: int = 6,
        seed: int = 1,
        prefilter_margin: float = 0.15,
    ):
        super().__init__()
        self.threshold, self.num_perm, self.bands, self.rows, self.seed = (
            threshold,
            num_perm,
            bands,
            rows,
            seed,
        )
        self.prefilter = max(0.0, threshold - prefilter_margin)

    def expand(self, records):
        signed = records | "MinHash" >> beam.ParDo(
            MinHashFn(self.num_perm, self.bands, self.rows, self.seed)
        ).with_outputs(MinHashFn.BANDS, MinHashFn.SIGNATURES, main="records")
        candidates = (
            signed[MinHashFn.BANDS]
            | "GroupByBand" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.FlatMap(lambda kv: candidate_pairs(list(kv[1])))
            | "DistinctPairs" >> beam.Distinct()
        )
        candidate_keys = candidates | "CandidateKeys" >> _KeysOfPairs()
        candidate_signatures = signed[MinHashFn.SIGNATURES] | "KeepCandidateSignatures" >> beam.Filter(
            lambda kv, keys: kv[0] in keys, beam.pvalue.AsDict(candidate_keys)
        )
        likely = candidates | "VerifyBySignature" >> beam.ParDo(
            VerifyBySignatureFn(self.prefilter), beam.pvalue.AsDict(candidate_signatures)
        )
        likely_keys = likely | "LikelyKeys" >> _KeysOfPairs()
        shingle_sets = (
            signed.records
            | "KeepLikelyRecords"
            >> beam.Filter(lambda r, keys: r["sort_key"] in keys, beam.pvalue.AsDict(likely_keys))
            | "ShingleSets" >> beam.Map(lambda r: (r["sort_key"], shingle_hashes(dedup_text(r)).tobytes()))
        )
        duplicate_of = (
            likely
            | "VerifyExactly" >> beam.ParDo(VerifyExactlyFn(self.threshold), beam.pvalue.AsDict(shingle_sets))
            | "ConnectedComponents" >> beam.CombineGlobally(ComponentsFn())
        )
        return signed.records | "DropNearDuplicates" >> beam.ParDo(
            MarkDuplicatesFn("near_duplicate"), beam.pvalue.AsSingleton(duplicate_of)
        ).with_outputs(FILTERED, main="records")
