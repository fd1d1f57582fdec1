"""Offline tiktoken encodings.

tiktoken downloads its BPE rank files on first use. ftctl must work with no network, so it
ships the two encodings it needs (`o200k_base`, `cl100k_base`) gzipped in
`ftctl/datasets/encodings/` and builds `tiktoken.Encoding` objects straight from them,
with the same regex and special tokens as `tiktoken_ext.openai_public`. tiktoken's cache
and `TIKTOKEN_CACHE_DIR` are never consulted, so nothing can reach for the network.

Each file is checked against the SHA-256 that tiktoken itself expects for the
uncompressed rank file; a missing or corrupt file raises `TokenizerError`.

Reading a shipped file is slow for what it is: decompressing, splitting and decoding
200,000 base64 tokens took ~110 ms of the ~200 ms o200k_base costs a process, and every
data command pays it on its critical path (each `data stats` worker, a build's fork server
before its first row). So the first load also writes the tokens, in rank order, to the
user's cache (`token_cache_path`: marshal, behind a SHA-256 of its bytes); later loads read
that (~40 ms with the dictionary made). A missing, damaged or foreign cache file is
ignored and written again; tiktoken's own construction (~90 ms, in Rust) is left as is.
"""

from __future__ import annotations

import binascii
import contextlib
import gzip
import hashlib
import marshal
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ftctl.datasets.cache_paths import atomic_write, user_cache_dir
from ftctl.errors import TokenizerError

if TYPE_CHECKING:
    import tiktoken

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
            encoding = _make(spec, _shipped_ranks(spec))
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
    return _make(spec, _parse_ranks(_decode_blob(spec, blob, origin=path)))


_TOKENS_MAGIC = b"ftctl-tokens-1\n"


def token_cache_path(spec: EncodingSpec) -> Path | None:
    """Where a shipped encoding's tokens are kept once read (named by the rank file's
    SHA-256: another ftctl's file never passes for this one); None without a user cache."""
    root = user_cache_dir()
    return None if root is None else root / "encodings" / f"{spec.name}-{spec.sha256[:16]}.tokens"


def _shipped_ranks(spec: EncodingSpec) -> dict[bytes, int]:
    """The ranks of a shipped encoding: from the token cache, else from the rank file
    (then written to the cache when its ranks are 0, 1, 2, ... as tiktoken's files have)."""
    kept = token_cache_path(spec)
    tokens = None if kept is None else _read_token_cache(kept)
    if tokens is not None:
        ranks = dict(zip(tokens, range(len(tokens)), strict=True))
        if len(ranks) == len(tokens):  # no token twice
            return ranks
    ranks = _parse_ranks(_read_ranks_file(spec))
    listed = list(ranks)
    if kept is not None and list(ranks.values()) == list(range(len(listed))):
        payload = marshal.dumps(listed)
        # A read-only home, a full disk: the next load reads the rank file again.
        with contextlib.suppress(OSError):
            atomic_write(kept, _TOKENS_MAGIC + hashlib.sha256(payload).digest() + payload)
    return ranks


def _read_token_cache(path: Path) -> list[bytes] | None:
    """The tokens kept at `path`, or None when there are none it can use: a file cut
    short, damaged, or of another format is read again from the rank file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    start = len(_TOKENS_MAGIC) + 32
    if not data.startswith(_TOKENS_MAGIC) or len(data) < start:
        return None
    payload = memoryview(data)[start:]
    if hashlib.sha256(payload).digest() != data[len(_TOKENS_MAGIC) : start]:
        return None
    try:
        tokens = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    # The hash finds a cut or damaged file, not a deliberate one: the cache is the user's
    # own, as `__pycache__` is. tiktoken refuses a list of anything but bytes, so the type
    # is all that is looked at here.
    return tokens if type(tokens) is list else None


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


def _parse_ranks(contents: bytes) -> dict[bytes, int]:
    # The file (hash-checked) is "<base64 token> <rank>" per line; parsed in bulk, which is
    # three times faster than line by line as tiktoken does.
    fields = contents.split()
    return dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2]), strict=True))


def _make(spec: EncodingSpec, ranks: dict[bytes, int]) -> tiktoken.Encoding:
    # Imported here: a data build's own process counts no rows (its workers do), and
    # tiktoken's extension module is ~4 ms of its start.
    import tiktoken

    return tiktoken.Encoding(
        name=spec.name,
        pat_str=spec.pat_str,
        mergeable_ranks=ranks,
        special_tokens=dict(spec.special_tokens),
    )
