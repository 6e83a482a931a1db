#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_weakkeys_state: valid states (empty, one,
several moduli, a shared prime, a duplicate) and broken ones. Deterministic:
fixed primes, no randomness."""
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# Mersenne primes (no factor below 2^16), so the moduli are fixed and valid.
P = [2**127 - 1, 2**107 - 1, 2**89 - 1, 2**521 - 1, 2**607 - 1]


def be(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def state(mods):
    out = b"D4WK" + bytes([1]) + struct.pack(">Q", len(mods))
    for i, (ident, n) in enumerate(mods):
        b = be(n)
        out += struct.pack(">QH", ident, len(b)) + b
    return out


def main():
    os.makedirs(HERE, exist_ok=True)
    m1 = P[0] * P[3]
    m2 = P[1] * P[4]
    m3 = P[0] * P[4]  # shares with m1 and m2
    cases = {
        "empty": state([]),
        "one": state([(1, m1)]),
        "three": state([(1, m1), (2, m2), (3, m3)]),
        "dup": state([(7, m1), (8, m1)]),
        "truncated": state([(1, m1), (2, m2)])[:-5],
        "trailing": state([(1, m1)]) + b"\0",
        "bad_magic": b"D4WX" + state([(1, m1)])[4:],
        "even": state([(1, m1 * 2)]),
        "small_factor": state([(1, m1 * 3)]),
        "leading_zero": b"D4WK\x01" + struct.pack(">QQH", 1, 1, 3) + b"\0" + be(P[2])[:2],
        "count_huge": b"D4WK\x01" + struct.pack(">Q", 2**40),
        "short_modulus": state([(1, P[2])]),
    }
    for name, data in cases.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
