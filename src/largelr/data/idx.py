"""Reader for the IDX format of MNIST and Fashion-MNIST, plain or gzipped.

Validates the magic number, the dimensions and the length before returning an array, and reports
anything wrong as a ``UserError`` that names the file. Format: http://yann.lecun.com/exdb/mnist/
(two zero bytes, a type code, the number of dimensions, big-endian uint32 sizes, big-endian data).
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from largelr.errors import UserError

# IDX type code -> big-endian numpy dtype
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path, *, ndim: int | None = None) -> np.ndarray:
    """Read one IDX file (``.gz`` is decompressed) into a native-endian array.

    Args:
        path: the file.
        ndim: if given, the number of dimensions the file must have (3 for images, 1 for labels).

    Raises:
        UserError: the file is missing, not gzip/IDX, has an unexpected number of dimensions, or is
            truncated or longer than its header says.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.idx")
    >>> write_idx(p, np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> read_idx(p).tolist()
    [[0, 1, 2], [3, 4, 5]]
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"{path}: not a readable gzip file ({e})") from None
    if len(raw) < 4:
        raise UserError(f"{path}: truncated IDX header ({len(raw)} bytes, need at least 4)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise UserError(
            f"{path}: bad IDX magic number 0x{raw[:4].hex()} (expected 0x0000TTNN with type TT in "
            f"{', '.join(f'{t:02x}' for t in IDX_DTYPES)})"
        )
    dtype, nd = np.dtype(IDX_DTYPES[raw[2]]), raw[3]
    if ndim is not None and nd != ndim:
        raise UserError(f"{path}: IDX file has {nd} dimensions, expected {ndim}")
    header = 4 + 4 * nd
    if len(raw) < header:
        raise UserError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header} for {nd} dimensions)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(nd))
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) < expected:
        n_full = (len(raw) - header) // max(1, math.prod(dims[1:]) * dtype.itemsize)
        raise UserError(
            f"{path}: truncated IDX file: header says shape {dims} ({expected} bytes), file has {len(raw)} bytes "
            f"(only {n_full} complete records)"
        )
    if len(raw) > expected:
        raise UserError(f"{path}: {len(raw) - expected} unexpected trailing bytes after IDX data of shape {dims}")
    return (
        np.frombuffer(raw, dtype=dtype, count=math.prod(dims), offset=header)
        .reshape(dims)
        .astype(dtype.newbyteorder("="))
    )


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzipped when ``path`` ends in ``.gz``); the inverse of ``read_idx``."""
    codes = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}
    arr = np.asarray(array)
    code = codes[arr.dtype.newbyteorder("=")]
    head = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = head + arr.astype(IDX_DTYPES[code]).tobytes()
    Path(path).write_bytes(gzip.compress(data) if str(path).endswith(".gz") else data)
