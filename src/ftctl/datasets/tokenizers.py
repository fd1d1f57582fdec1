"""Offline tiktoken encodings.

tiktoken downloads its BPE rank files on first use. ftctl must work with no network, so it
ships the two encodings it needs (`o200k_base`, `cl100k_base`) gzipped in
`ftctl/datasets/encodings/` and builds `tiktoken.Encoding` objects straight from them,
with the same regex and special tokens as `tiktoken_ext.openai_public`. tiktoken's cache
and `TIKTOKEN_CACHE_DIR` are never consulted, so nothing can reach for the network.

Each file is checked against the SHA-256 that tiktoken itself expects for the
uncompressed rank file; a missing or corrupt file raises `TokenizerError`.
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import threading
from dataclasses import dataclass
from importlib import resources

import tiktoken

from ftctl.errors import TokenizerError

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"


@dataclass(frozen=True)
class EncodingSpec:
    """What tiktoken_ext.openai_public declares for one encoding (copied: it is data)."""

    name: str
    filename: str
    sha256: str  # of the uncompressed .tiktoken file, as tiktoken's `expected_hash`
    pat_str: str
    special_tokens: dict[str, int]


_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PAT = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""

SPECS: dict[str, EncodingSpec] = {
    "o200k_base": EncodingSpec(
        name="o200k_base",
        filename="o200k_base.tiktoken.gz",
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str=_O200K_PAT,
        special_tokens={ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
    ),
    "cl100k_base": EncodingSpec(
        name="cl100k_base",
        filename="cl100k_base.tiktoken.gz",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=_CL100K_PAT,
        special_tokens={
            ENDOFTEXT: 100257,
            FIM_PREFIX: 100258,
            FIM_MIDDLE: 100259,
            FIM_SUFFIX: 100260,
            ENDOFPROMPT: 100276,
        },
    ),
}

_lock = threading.Lock()
_loaded: dict[str, tiktoken.Encoding] = {}


def known_encodings() -> tuple[str, ...]:
    return tuple(sorted(SPECS))


def get_encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken encoding `name`, built from the files shipped with ftctl (never the network).

    Loaded once per process (about 0.3 s for o200k_base) and shared; tiktoken encodings are
    safe to use from several threads.
    """
    spec = SPECS.get(name)
    if spec is None:
        raise TokenizerError(
            f"unknown encoding {name!r}; ftctl ships: {', '.join(known_encodings())}"
        )
    with _lock:
        encoding = _loaded.get(name)
        if encoding is None:
            encoding = _build(spec, _read_ranks_file(spec))
            _loaded[name] = encoding
        return encoding


def load_encoding_file(name: str, path: str) -> tiktoken.Encoding:
    """Build encoding `name` from a `.tiktoken` or `.tiktoken.gz` file at `path` (hash-checked)."""
    spec = SPECS.get(name)
    if spec is None:
        raise TokenizerError(f"unknown encoding {name!r}")
    try:
        with open(path, "rb") as handle:
            blob = handle.read()
    except OSError as error:
        raise TokenizerError(f"cannot read encoding file {path}: {error}") from error
    return _build(spec, _decode_blob(spec, blob, origin=path))


def _read_ranks_file(spec: EncodingSpec) -> bytes:
    resource = resources.files("ftctl.datasets").joinpath("encodings", spec.filename)
    try:
        blob = resource.read_bytes()
    except OSError as error:
        raise TokenizerError(
            f"encoding file {spec.filename} is missing from the ftctl installation: {error}"
        ) from error
    return _decode_blob(spec, blob, origin=str(resource))


def _decode_blob(spec: EncodingSpec, blob: bytes, *, origin: str) -> bytes:
    if blob[:2] == b"\x1f\x8b":
        try:
            blob = gzip.decompress(blob)
        except (OSError, EOFError, ValueError) as error:
            raise TokenizerError(f"encoding file {origin} is corrupt: {error}") from error
    actual = hashlib.sha256(blob).hexdigest()
    if actual != spec.sha256:
        raise TokenizerError(
            f"encoding file {origin} is corrupt: sha256 {actual} != expected {spec.sha256} "
            f"for {spec.name}; reinstall ftctl"
        )
    return blob


def _build(spec: EncodingSpec, contents: bytes) -> tiktoken.Encoding:
    # The file (hash-checked) is "<base64 token> <rank>" per line; parsed in bulk, which is
    # three times faster than line by line as tiktoken does.
    fields = contents.split()
    ranks = dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2]), strict=True))
    return tiktoken.Encoding(
        name=spec.name,
        pat_str=spec.pat_str,
        mergeable_ranks=ranks,
        special_tokens=dict(spec.special_tokens),
    )
