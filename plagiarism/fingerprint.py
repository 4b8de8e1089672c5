"""Token streams -> k-gram hashes -> MinHash signatures.

A k-gram hash must survive renaming but still see data flow: `x = f(x)` and `x = f(y)`
should differ, whatever the names are. So each placeholder inside a k-gram is hashed
together with the distance back to the previous occurrence of the same name *within that
k-gram* (Baker's parameterised matching): consistent renaming leaves every k-gram
unchanged, while rewiring which name goes where changes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from plagiarism.model import TokenStream, Unit
from plagiarism.normalize import PLACEHOLDERS

U64 = npt.NDArray[np.uint64]

_MERSENNE = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_BASE = np.uint64(0x100000001B3)


@lru_cache(maxsize=1 << 20)
def sym_hash(sym: str) -> int:
    """A stable 64-bit hash of a symbol (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(sym.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def prev_distances(stream: TokenStream) -> npt.NDArray[np.int64]:
    """For each placeholder, how many tokens back the same name last occurred (0: never)."""
    last: dict[tuple[str, str | None], int] = {}
    out = np.zeros(len(stream.syms), dtype=np.int64)
    for i, (sym, ident) in enumerate(zip(stream.syms, stream.idents, strict=True)):
        if sym in PLACEHOLDERS:
            key = (sym, ident)
            j = last.get(key)
            if j is not None:
                out[i] = i - j
            last[key] = i
    return out


def kgram_hashes(stream: TokenStream, k: int) -> U64:
    """One 64-bit hash per k-gram, in order (empty when the stream is shorter than k)."""
    n = len(stream.syms) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    base = np.fromiter((sym_hash(s) for s in stream.syms), dtype=np.uint64, count=len(stream.syms))
    prev = prev_distances(stream)
    acc = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            tok = base[j : j + n]
            d = prev[j : j + n]
            # A back-reference only counts if it points inside this k-gram.
            inside = np.where(d <= j, d, 0).astype(np.uint64)
            acc = acc * _BASE + (tok ^ (inside * _MIX))
    return acc


@dataclass(frozen=True, slots=True)
class Permutations:
    a: U64
    b: U64

    @classmethod
    def make(cls, num_perm: int, seed: int = 1) -> Permutations:
        # The universal-hash family datasketch calls "legacy" (a*h + b mod 2^61-1, 32 bits kept),
        # so these signatures plug straight into its LSH.
        gen = np.random.RandomState(seed)
        a = gen.randint(1, int(_MERSENNE), size=num_perm, dtype=np.uint64)
        b = gen.randint(0, int(_MERSENNE), size=num_perm, dtype=np.uint64)
        return cls(a=a, b=b)


def minhash_signature(hashes: U64, perms: Permutations) -> U64:
    if hashes.size == 0:
        return np.full(perms.a.size, _MAX_HASH, dtype=np.uint64)
    hv = hashes & _MAX_HASH
    with np.errstate(over="ignore"):
        phv = (hv[:, None] * perms.a[None, :] + perms.b[None, :]) % _MERSENNE & _MAX_HASH
    return np.asarray(phv.min(axis=0), dtype=np.uint64)


@dataclass(frozen=True, slots=True)
class UnitPrint:
    """The fingerprint of one unit: its distinct k-gram hashes and MinHash signature."""

    index: int  # position of the unit in its side's list
    hashes: U64  # sorted, distinct
    signature: U64


def fingerprint_stream(stream: TokenStream, k: int, perms: Permutations) -> tuple[U64, U64]:
    """The distinct k-gram hashes of a stream (sorted) and their MinHash signature."""
    hashes = np.unique(kgram_hashes(stream, k))
    return hashes, minhash_signature(hashes, perms)


def fingerprint_units(units: list[Unit], k: int, perms: Permutations) -> list[UnitPrint]:
    out = []
    for i, unit in enumerate(units):
        hashes, signature = fingerprint_stream(unit.tokens, k, perms)
        out.append(UnitPrint(index=i, hashes=hashes, signature=signature))
    return out


def encode_print(hashes: U64, signature: U64) -> bytes:
    """Signature first (its length is fixed by num_perm), then the hashes; little-endian."""
    return signature.astype("<u8").tobytes() + hashes.astype("<u8").tobytes()


def decode_print(data: bytes, num_perm: int) -> tuple[U64, U64]:
    """Inverse of `encode_print`; ValueError when the bytes cannot be one."""
    head = num_perm * 8
    if len(data) < head or len(data) % 8:
        raise ValueError("not a fingerprint of this num_perm")
    signature = np.frombuffer(data, dtype="<u8", count=num_perm).astype(np.uint64)
    hashes = np.frombuffer(data, dtype="<u8", offset=head).astype(np.uint64)
    return hashes, signature
