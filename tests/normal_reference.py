"""The compiled Gaussian draw (``mtrl_lib/_normal.c``) restated in NumPy, operation for operation.

It is the test oracle for the C code (``tests/test_normal.py`` asserts the two agree bit for bit) and the
algorithm's second, slower description: L = 8 xoshiro256++ streams seeded by splitmix64; pair k takes the next
64-bit word r of stream k mod 8; u1 = (r >> 32 + 1/2) 2^-32, u2 = (r & (2^32 - 1)) 2^-32;
(z_2k, z_2k+1) = sqrt(-2 ln u1) (cos 2 pi u2, sin 2 pi u2), with ln, cos and sin by the series in the C file.
"""
from __future__ import annotations

import numpy as np

L = 8
MASK = (1 << 64) - 1
LN2 = float("0.693147180559945309417232121458176568")
SQRT2 = float("1.41421356237309504880168872420969808")
TWO_PI = float("6.28318530717958647692528676655900577")


def _splitmix64(x: int) -> tuple[int, int]:
    x = (x + 0x9E3779B97F4A7C15) & MASK
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return x, z ^ (z >> 31)


def _streams(seed: int) -> list[np.ndarray]:
    x, words = seed, []
    for _ in range(4 * L):
        x, z = _splitmix64(x)
        words.append(z)
    w = np.array(words, dtype=np.uint64).reshape(L, 4)     # stream j: words 4j .. 4j + 3
    return [w[:, i].copy() for i in range(4)]


def _words(seed: int, pairs: int) -> np.ndarray:
    """The 64-bit word of each pair: (pairs,) uint64."""
    s0, s1, s2, s3 = _streams(seed)
    out = []
    u = np.uint64
    for _ in range(-(-pairs // L)):
        total = s0 + s3
        out.append(((total << u(23)) | (total >> u(41))) + s0)
        t = s1 << u(17)
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = (s3 << u(45)) | (s3 >> u(19))
    return np.concatenate(out)[:pairs]


def _ln_unit(u: np.ndarray) -> np.ndarray:
    bits = u.view(np.uint64)
    e = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    m = ((bits & np.uint64(0x000FFFFFFFFFFFFF)) | np.uint64(0x3FF0000000000000)).view(np.float64)
    big = m >= SQRT2
    m = np.where(big, 0.5 * m, m)
    e = e + big
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = np.full_like(s, 1.0 / 21.0)
    for k in (19, 17, 15, 13, 11, 9, 7, 5, 3, 1):
        p = p * s2 + 1.0 / k
    return e.astype(np.float64) * LN2 + 2.0 * s * p


def _factorial(k: int) -> float:
    f = 1
    for i in range(2, k + 1):
        f *= i
    return float(f)


def _cos_sin_turn(low: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q = ((low + np.uint64(1 << 29)) >> np.uint64(30)).astype(np.int64)
    f = (low.astype(np.int64) - (q << 30)).astype(np.float64) * 2.0**-32
    x = TWO_PI * f
    x2 = x * x
    c = np.full_like(x, 1.0 / _factorial(20))
    for k in (18, 16, 14, 12, 10, 8, 6, 4, 2):
        c = c * x2 + (1.0 if k % 4 == 0 else -1.0) / _factorial(k)
    c = c * x2 + 1.0
    s = np.full_like(x, 1.0 / _factorial(21))
    for k in (19, 17, 15, 13, 11, 9, 7, 5, 3):
        s = s * x2 + (1.0 if k % 4 == 1 else -1.0) / _factorial(k)
    s = s * x2 + 1.0
    s = s * x
    k = q & 3
    cc = np.select([k == 0, k == 1, k == 2], [c, -s, -c], s)
    ss = np.select([k == 0, k == 1, k == 2], [s, c, -s], -c)
    return cc, ss


def reference_fill(n: int, seed: int, dtype=np.float64) -> np.ndarray:
    """What ``mtrl_lib._normal.fill`` writes into a buffer of ``n`` values of ``dtype`` for ``seed``."""
    r = _words(seed, -(-n // 2))
    u1 = ((r >> np.uint64(32)).astype(np.int64).astype(np.float64) + 0.5) * 2.0**-32
    R = np.sqrt(-2.0 * _ln_unit(u1))
    c, s = _cos_sin_turn(r & np.uint64(0xFFFFFFFF))
    z = np.empty(2 * len(r))
    z[0::2], z[1::2] = R * c, R * s
    return z[:n].astype(dtype)
