"""Numbers of COCO record arrays read straight from the JSON bytes (numba).

Why: ``orjson.loads`` of a 3,336-image keypoint file and its results makes
about two million Python floats, dicts and lists (0.3 s, ~200 MB) only for
the scorer to copy them into numpy arrays; hotcoco's whole evaluation takes
less. Measured alternatives on that set (17k results, 7 MB): orjson 0.13 s;
pysimdjson parse + per-record ``as_buffer`` 0.07 s; polars ``read_json``
0.07 s (and a 40 MB dependency); this scanner 0.03-0.04 s, one pass over the
bytes with no Python object per number, compiled by numba (``cache=True``:
the first run on a machine compiles for ~10 s, later runs load the cache).
The kernels take no NRT reference counting (``_nrt=False``): helper calls that
pass the byte array measured 5x slower with it.

It is a *fast path only*: :func:`parse_records` reads an array of flat
objects whose keys and values have one expected shape (integers where ids
are expected, plain numbers, number arrays of a fixed length, unescaped ASCII
keys, no key twice) and checks the JSON grammar of everything it reads. At
the first doubt it answers "not mine" and the caller reads the file the old
way (orjson, then the per-item validator that names the culprit), so error
messages and the semantics of odd files do not change.

Numbers: digits are read into an integer mantissa; when it has at most 15
significant digits and the decimal exponent is within +-22, ``m * 10**e`` or
``m / 10**-e`` is one correctly rounded IEEE operation on two exact doubles
(Clinger's fast path), i.e. the same double as Python's ``float()`` and
orjson give. Other numbers (17-digit reprs, big exponents) are converted by
Python's ``float`` on their bytes afterwards (in :func:`parse_records`): correct,
but a file written entirely in 17-digit reprs reads at about orjson's speed.
Integers (ids, flags, coordinates) are exact up to 18 digits; longer ones,
NaN/Infinity tokens and 1e400-style overflows go to the plain path.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_POW10 = np.array([10.0 ** i for i in range(23)])  # all exact doubles
OK, NOT_MINE = 0, 1
SCALAR = 0            # key kinds; k > 0: array of exactly k numbers
KEY_SKIP = -2         # an unknown key: its value is checked and skipped
KEY_BAIL = -3         # a key the fast path leaves to the slow one (e.g. results' segmentation)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _ws(buf, i, n):
    while i < n:
        c = buf[i]
        if c == 32 or c == 10 or c == 13 or c == 9:
            i += 1
        else:
            break
    return i


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _number(buf, i, n, pow10):
    """Strict JSON number at i -> (end, value, is_int, int_value, hard); end < 0: not a number
    the fast path takes."""
    neg = False
    if i < n and buf[i] == 45:  # '-'
        neg = True
        i += 1
    if i >= n:
        return -1, 0.0, False, 0, False
    c = buf[i]
    mant = 0
    sig = 0          # significant digits in mant
    if c == 48:      # '0'
        i += 1
        if i < n and 48 <= buf[i] <= 57:
            return -1, 0.0, False, 0, False   # leading zero: invalid JSON
    elif 49 <= c <= 57:
        while i < n and 48 <= buf[i] <= 57:
            if sig < 18:
                mant = mant * 10 + (buf[i] - 48)
            sig += 1
            i += 1
    else:
        return -1, 0.0, False, 0, False
    is_int = True
    frac = 0
    if i < n and buf[i] == 46:  # '.'
        is_int = False
        i += 1
        if i >= n or not (48 <= buf[i] <= 57):
            return -1, 0.0, False, 0, False
        while i < n and 48 <= buf[i] <= 57:
            d = buf[i] - 48
            if sig == 0 and d == 0:
                frac += 1            # leading zeros of 0.000x
            elif sig < 18:
                mant = mant * 10 + d
                sig += 1
                frac += 1
            else:
                sig += 1             # digits past 18: hard
            i += 1
    exp = 0
    if i < n and (buf[i] == 101 or buf[i] == 69):  # e E
        is_int = False
        i += 1
        eneg = False
        if i < n and (buf[i] == 43 or buf[i] == 45):
            eneg = buf[i] == 45
            i += 1
        if i >= n or not (48 <= buf[i] <= 57):
            return -1, 0.0, False, 0, False
        while i < n and 48 <= buf[i] <= 57:
            if exp < 100000:
                exp = exp * 10 + (buf[i] - 48)
            i += 1
        if eneg:
            exp = -exp
    if is_int:
        if sig > 18:
            return -1, 0.0, False, 0, False   # past int64: the slow path decides
        v = -mant if neg else mant
        return i, float(v), True, v, False
    if mant == 0:
        return i, -0.0 if neg else 0.0, False, 0, False
    e10 = exp - frac
    if sig > 15 or e10 > 22 or e10 < -22:
        return i, 0.0, False, 0, True        # converted by Python afterwards
    x = float(mant)
    if e10 >= 0:
        x = x * pow10[e10]
    else:
        x = x / pow10[-e10]
    return i, -x if neg else x, False, 0, False


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _string_end(buf, i, n, strict):
    """i at the opening quote; index after the closing one, or -1. strict: printable ASCII and
    simple escapes only (what the fast path vouches for as valid JSON)."""
    i += 1
    while i < n:
        c = buf[i]
        if c == 34:
            return i + 1
        if c == 92:  # backslash
            if i + 1 >= n:
                return -1
            e = buf[i + 1]
            if e == 117:  # \uXXXX
                if i + 5 >= n:
                    return -1
                for j in range(i + 2, i + 6):
                    h = buf[j]
                    if not ((48 <= h <= 57) or (65 <= h <= 70) or (97 <= h <= 102)):
                        return -1
                if strict:
                    return -1          # surrogates etc.: leave to orjson
                i += 6
                continue
            if not (e == 34 or e == 92 or e == 47 or e == 98 or e == 102 or e == 110 or e == 114 or e == 116):
                return -1
            i += 2
            continue
        if strict and (c < 32 or c >= 127):
            return -1
        i += 1
    return -1


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _literal(buf, i, n):
    """true / false / null at i -> end or -1."""
    if i + 4 <= n and buf[i] == 116 and buf[i + 1] == 114 and buf[i + 2] == 117 and buf[i + 3] == 101:
        return i + 4
    if i + 4 <= n and buf[i] == 110 and buf[i + 1] == 117 and buf[i + 2] == 108 and buf[i + 3] == 108:
        return i + 4
    if (i + 5 <= n and buf[i] == 102 and buf[i + 1] == 97 and buf[i + 2] == 108 and buf[i + 3] == 115
            and buf[i + 4] == 101):
        return i + 5
    return -1


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _skip_value(buf, i, n, strict, pow10, stack):
    """End of the JSON value at i, or -1 (stack: scratch of 1100 bytes, 1 array / 2 object). strict: checks the grammar (values of unknown keys
    inside records); not strict: only finds the end (orjson checks those bytes itself)."""
    depth = 0
    limit = 64 if strict else 1024           # orjson's limit is 1024 for the whole file
    expect_value = True
    while True:
        i = _ws(buf, i, n)
        if i >= n:
            return -1
        c = buf[i]
        if expect_value:
            if c == 91 or c == 123:   # [ {
                if depth >= limit:
                    return -1
                stack[depth] = 1 if c == 91 else 2
                depth += 1
                i = _ws(buf, i + 1, n)
                if i >= n:
                    return -1
                if (c == 91 and buf[i] == 93) or (c == 123 and buf[i] == 125):
                    depth -= 1
                    i += 1
                    expect_value = False
                elif c == 123:
                    if buf[i] != 34:
                        return -1
                    i = _string_end(buf, i, n, strict)
                    if i < 0:
                        return -1
                    i = _ws(buf, i, n)
                    if i >= n or buf[i] != 58:
                        return -1
                    i += 1
                continue
            if c == 34:
                i = _string_end(buf, i, n, strict)
            elif c == 116 or c == 102 or c == 110:
                i = _literal(buf, i, n)
            else:
                i = _number(buf, i, n, pow10)[0]
                if i < 0 and not strict:     # a number the fast path does not convert: find its end
                    return -1
            if i < 0:
                return -1
            expect_value = False
        else:
            if depth == 0:
                return i
            top = stack[depth - 1]
            if c == 44:        # ,
                i = _ws(buf, i + 1, n)
                if top == 2:
                    if i >= n or buf[i] != 34:
                        return -1
                    i = _string_end(buf, i, n, strict)
                    if i < 0:
                        return -1
                    i = _ws(buf, i, n)
                    if i >= n or buf[i] != 58:
                        return -1
                    i += 1
                expect_value = True
            elif (c == 93 and top == 1) or (c == 125 and top == 2):
                depth -= 1
                i += 1
            else:
                return -1


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _skip_loose(buf, i, n):
    """End of the value at i by brackets and strings alone, or -1: for the top level, whose
    other values orjson checks itself (and the sought one :func:`parse_records` checks)."""
    if i >= n:
        return -1
    c = buf[i]
    if c == 34:
        return _string_end(buf, i, n, False)
    if c == 91 or c == 123:
        depth = 0
        while i < n:
            c = buf[i]
            if c == 34:
                i = _string_end(buf, i, n, False)
                if i < 0:
                    return -1
                continue
            if c == 91 or c == 123:
                depth += 1
            elif c == 93 or c == 125:
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return -1
    start = i
    while i < n:
        c = buf[i]
        if c == 44 or c == 125 or c == 93 or c == 32 or c == 10 or c == 13 or c == 9:
            break
        i += 1
    return i if i > start else -1


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _key_id(buf, s, e, names, offsets):
    """Index of the key bytes buf[s:e] in the name table, -1 if unknown."""
    for k in range(len(offsets) - 1):
        a, b = offsets[k], offsets[k + 1]
        if b - a != e - s:
            continue
        same = True
        for j in range(b - a):
            if names[a + j] != buf[s + j]:
                same = False
                break
        if same:
            return k
    return -1


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def find_top_key(buf, names, offsets, pow10, stack):
    """(start, end) of the value of the top-level object's key ``names[0]`` (once, unescaped
    keys), (-1, -1) otherwise."""
    n = len(buf)
    i = _ws(buf, 0, n)
    if i >= n or buf[i] != 123:
        return -1, -1
    i = _ws(buf, i + 1, n)
    vs, ve = -1, -1
    if i < n and buf[i] == 125:
        return -1, -1
    while True:
        if i >= n or buf[i] != 34:
            return -1, -1
        ks = i + 1
        i = _string_end(buf, i, n, False)
        if i < 0:
            return -1, -1
        for j in range(ks, i - 1):
            if buf[j] == 92:
                return -1, -1          # an escaped key might spell the one sought
        hit = _key_id(buf, ks, i - 1, names, offsets) == 0
        i = _ws(buf, i, n)
        if i >= n or buf[i] != 58:
            return -1, -1
        i = _ws(buf, i + 1, n)
        end = _skip_loose(buf, i, n)
        if end < 0:
            return -1, -1
        if hit:
            if vs >= 0:
                return -1, -1          # twice: orjson keeps the last; leave it to the slow path
            vs, ve = i, end
        i = _ws(buf, end, n)
        if i >= n:
            return -1, -1
        if buf[i] == 44:
            i = _ws(buf, i + 1, n)
        elif buf[i] == 125:
            return vs, ve
        else:
            return -1, -1


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _parse_records(buf, lo, hi, names, offsets, kinds, present, ival, fval, isint,
                   arr_slot, arrays, hard_idx, hard_span, pow10, stack):
    """Fill the outputs from the array of objects in buf[lo:hi]; returns (status, records, hard)."""
    n = hi
    cap = present.shape[0]
    i = _ws(buf, lo, n)
    if i >= n or buf[i] != 91:
        return NOT_MINE, 0, 0
    i = _ws(buf, i + 1, n)
    rec = 0
    nhard = 0
    if i < n and buf[i] == 93:
        i = _ws(buf, i + 1, n)
        return (OK if i == hi else NOT_MINE), 0, 0
    while True:
        if rec >= cap or i >= n or buf[i] != 123:
            return NOT_MINE, rec, nhard
        i = _ws(buf, i + 1, n)
        if i < n and buf[i] == 125:     # {}
            i += 1
        else:
            while True:
                if i >= n or buf[i] != 34:
                    return NOT_MINE, rec, nhard
                ks = i + 1
                i = _string_end(buf, i, n, True)
                if i < 0:
                    return NOT_MINE, rec, nhard
                k = _key_id(buf, ks, i - 1, names, offsets)
                for j in range(ks, i - 1):
                    if buf[j] == 92:
                        return NOT_MINE, rec, nhard
                i = _ws(buf, i, n)
                if i >= n or buf[i] != 58:
                    return NOT_MINE, rec, nhard
                i = _ws(buf, i + 1, n)
                kind = kinds[k] if k >= 0 else KEY_SKIP
                if kind == KEY_BAIL:
                    return NOT_MINE, rec, nhard
                if k >= 0:
                    if present[rec, k]:
                        return NOT_MINE, rec, nhard    # a key twice
                    present[rec, k] = True
                if kind == KEY_SKIP:
                    i = _skip_value(buf, i, n, True, pow10, stack)
                    if i < 0:
                        return NOT_MINE, rec, nhard
                elif kind == SCALAR:
                    end, v, is_i, iv, hard = _number(buf, i, n, pow10)
                    if end < 0:
                        return NOT_MINE, rec, nhard
                    if hard:                    # converted by Python afterwards
                        if nhard >= len(hard_idx):
                            return NOT_MINE, rec, nhard
                        hard_idx[nhard, 0] = -1 - k
                        hard_idx[nhard, 1] = rec
                        hard_span[nhard, 0] = i
                        hard_span[nhard, 1] = end
                        nhard += 1
                    fval[rec, k] = v
                    ival[rec, k] = iv
                    isint[rec, k] = is_i
                    i = end
                else:
                    if i >= n or buf[i] != 91:
                        return NOT_MINE, rec, nhard
                    out = arrays[arr_slot[k]]
                    base = rec * kind
                    cnt = 0
                    i = _ws(buf, i + 1, n)
                    if i < n and buf[i] == 93:
                        return NOT_MINE, rec, nhard    # empty: wrong length
                    while True:
                        if cnt >= kind:
                            return NOT_MINE, rec, nhard
                        end, v, is_i, iv, hard = _number(buf, i, n, pow10)
                        if end < 0:
                            return NOT_MINE, rec, nhard
                        if hard:
                            if nhard >= len(hard_idx):
                                return NOT_MINE, rec, nhard
                            hard_idx[nhard, 0] = arr_slot[k]
                            hard_idx[nhard, 1] = base + cnt
                            hard_span[nhard, 0] = i
                            hard_span[nhard, 1] = end
                            nhard += 1
                        out[base + cnt] = v
                        cnt += 1
                        i = _ws(buf, end, n)
                        if i >= n:
                            return NOT_MINE, rec, nhard
                        if buf[i] == 44:
                            i = _ws(buf, i + 1, n)
                        elif buf[i] == 93:
                            i += 1
                            break
                        else:
                            return NOT_MINE, rec, nhard
                    if cnt != kind:
                        return NOT_MINE, rec, nhard
                i = _ws(buf, i, n)
                if i >= n:
                    return NOT_MINE, rec, nhard
                if buf[i] == 44:
                    i = _ws(buf, i + 1, n)
                elif buf[i] == 125:
                    i += 1
                    break
                else:
                    return NOT_MINE, rec, nhard
        rec += 1
        i = _ws(buf, i, n)
        if i >= n:
            return NOT_MINE, rec, nhard
        if buf[i] == 44:
            i = _ws(buf, i + 1, n)
        elif buf[i] == 93:
            i = _ws(buf, i + 1, n)
            return (OK if i == hi else NOT_MINE), rec, nhard
        else:
            return NOT_MINE, rec, nhard


@njit(cache=True, nogil=True, _nrt=False)
def _count_byte(buf, lo, hi, c):
    """How many bytes of buf[lo:hi] equal c, without numpy's file-sized temporary mask."""
    n = 0
    for i in range(lo, hi):
        if buf[i] == c:
            n += 1
    return n


def _table(keys):
    enc = [k.encode() for k in keys]
    offsets = np.cumsum([0] + [len(e) for e in enc]).astype(np.int64)
    return np.frombuffer(b"".join(enc), dtype=np.uint8).copy(), offsets


class Records:
    """What :func:`parse_records` read: per key, presence and values of each record."""

    def __init__(self, keys, n, present, ival, fval, isint, arrays):
        self.keys, self.n = list(keys), n
        self._col = {k: j for j, k in enumerate(self.keys)}
        self._present, self._ival, self._fval, self._isint, self._arrays = present, ival, fval, isint, arrays

    def present(self, key):
        return self._present[:self.n, self._col[key]]

    def ints(self, key):
        """(values, every present value is an integer token)."""
        j = self._col[key]
        p = self._present[:self.n, j]
        return self._ival[:self.n, j], bool(self._isint[:self.n, j][p].all())

    def floats(self, key):
        return self._fval[:self.n, self._col[key]]

    def array(self, key):
        return self._arrays[key]


def parse_records(buf: np.ndarray, lo: int, hi: int, spec: dict) -> Records | None:
    """The array of objects in ``buf[lo:hi]`` (uint8) read by ``spec``: key -> kind (SCALAR,
    a fixed array length, KEY_BAIL); other keys are skipped. None: not for the fast path."""
    keys = list(spec)
    names, offsets = _table(keys)
    kinds = np.array([spec[k] for k in keys], dtype=np.int64)
    cap = _count_byte(buf, lo, hi, 123) + 1          # at most one record per '{'
    nk = len(keys)
    present = np.zeros((cap, nk), dtype=np.bool_)
    ival = np.zeros((cap, nk), dtype=np.int64)
    fval = np.zeros((cap, nk), dtype=np.float64)
    isint = np.zeros((cap, nk), dtype=np.bool_)
    arr_keys = [k for k in keys if spec[k] > 0]
    arr_slot = np.full(nk, -1, dtype=np.int64)
    flat = []
    for s, k in enumerate(arr_keys):
        arr_slot[keys.index(k)] = s
        flat.append(np.zeros(cap * spec[k], dtype=np.float64))
    arrays_t = tuple(flat) if flat else (np.zeros(0),)
    hard_cap = 4096                   # grown on demand (files of 17-digit numbers)
    for attempt in range(2):
        hard_idx = np.zeros((hard_cap, 2), dtype=np.int64)
        hard_span = np.zeros((hard_cap, 2), dtype=np.int64)
        status, nrec, nhard = _parse_records(buf, lo, hi, names, offsets, kinds, present, ival, fval, isint,
                                             arr_slot, arrays_t, hard_idx, hard_span, _POW10,
                                             np.zeros(1100, dtype=np.uint8))
        if status == OK or nhard < hard_cap or attempt:
            break
        # more numbers to convert than room: at most one per comma and record, read again
        hard_cap = _count_byte(buf, lo, hi, 44) + cap + 1
        present[:] = False
    if status != OK:
        return None
    for h in range(nhard):
        s, e = hard_span[h]
        slot, at = hard_idx[h]
        if slot < 0:                   # a scalar of key column -1 - slot, record at
            fval[at, -1 - slot] = float(buf[s:e].tobytes())
        else:
            arrays_t[slot][at] = float(buf[s:e].tobytes())
    arrays = {k: arrays_t[s][:nrec * spec[k]].reshape(nrec, spec[k]) for s, k in enumerate(arr_keys)}
    return Records(keys, nrec, present, ival, fval, isint, arrays)


def top_key_span(buf: np.ndarray, key: str) -> tuple[int, int] | None:
    names, offsets = _table([key])
    s, e = find_top_key(buf, names, offsets, _POW10, np.zeros(1100, dtype=np.uint8))
    return None if s < 0 else (int(s), int(e))
