"""Offline encodings: identical to tiktoken's own, no network, corrupt files refused."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tiktoken

from ftctl.datasets import tokenizers
from ftctl.datasets.tokenizers import get_encoding, load_encoding_file
from ftctl.errors import TokenizerError

ENCODINGS_DIR = Path(tokenizers.__file__).parent / "encodings"
URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}
SAMPLES = [
    "Hello, world!",
    "café naïve résumé 東京 données überprüfen 123 4567 $19.99 #A-1042",
    "  leading and trailing  \n\n\r\n",
    "def f(x):\n    return x**2  # comment\n",
    "I'm sorry, but I CAN'T help with that.",
    "<|endoftext|> is only text here",
]


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_same_encoding_as_tiktoken_itself(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seed tiktoken's own cache (the key is the sha1 of the blob URL) with the shipped file,
    # so that tiktoken builds its encoding offline; ours must be the same encoding.
    blob = gzip.decompress((ENCODINGS_DIR / f"{name}.tiktoken.gz").read_bytes())
    (tmp_path / hashlib.sha1(URLS[name].encode()).hexdigest()).write_bytes(blob)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    from tiktoken_ext import openai_public

    reference = tiktoken.Encoding(**openai_public.ENCODING_CONSTRUCTORS[name]())
    ours = get_encoding(name)
    assert ours.name == name
    assert ours._pat_str == reference._pat_str
    assert ours._special_tokens == reference._special_tokens
    assert ours.n_vocab == reference.n_vocab
    for text in SAMPLES:
        assert ours.encode_ordinary(text) == reference.encode_ordinary(text)


def test_works_with_the_network_unreachable(tmp_path: Path) -> None:
    """A fresh process with an empty tiktoken cache and a dead proxy still encodes."""
    script = textwrap.dedent(
        """
        import socket
        def no_network(*args, **kwargs):
            raise OSError("network disabled in this test")
        socket.socket.connect = no_network
        socket.create_connection = no_network
        from ftctl.datasets.tokenizers import get_encoding
        print(len(get_encoding("o200k_base").encode("hello world")),
              len(get_encoding("cl100k_base").encode("hello world")))
        """
    )
    env = {
        "TIKTOKEN_CACHE_DIR": str(tmp_path),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "2"]
    assert list(tmp_path.iterdir()) == []  # tiktoken's cache was never used


def test_corrupt_file_is_refused(tmp_path: Path) -> None:
    good = gzip.decompress((ENCODINGS_DIR / "cl100k_base.tiktoken.gz").read_bytes())
    flipped = tmp_path / "cl100k_base.tiktoken"
    flipped.write_bytes(good[:1000] + b"X" + good[1001:])
    with pytest.raises(TokenizerError, match="corrupt: sha256"):
        load_encoding_file("cl100k_base", str(flipped))
    broken_gz = tmp_path / "cl100k_base.tiktoken.gz"
    broken_gz.write_bytes((ENCODINGS_DIR / "cl100k_base.tiktoken.gz").read_bytes()[:5000])
    with pytest.raises(TokenizerError, match="corrupt"):
        load_encoding_file("cl100k_base", str(broken_gz))


def test_unknown_encoding() -> None:
    with pytest.raises(TokenizerError, match="p50k_base"):
        get_encoding("p50k_base")


@pytest.fixture
def token_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user cache, and no encoding loaded yet in this process."""
    monkeypatch.setenv("FTCTL_CACHE_DIR", str(tmp_path / "user-cache"))
    monkeypatch.setattr(tokenizers, "_loaded", {})
    return tmp_path / "user-cache"


def _rank_file_not_read(spec: tokenizers.EncodingSpec) -> bytes:
    raise AssertionError(f"{spec.filename} was read again")


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_a_second_load_reads_the_tokens_the_first_cached(
    name: str, token_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tokenizers.SPECS[name]
    first = get_encoding(name)
    kept = tokenizers.token_cache_path(spec)
    assert kept is not None
    assert kept.parent.parent == token_cache and kept.is_file()
    monkeypatch.setattr(tokenizers, "_loaded", {})
    monkeypatch.setattr(tokenizers, "_read_ranks_file", _rank_file_not_read)
    second = get_encoding(name)
    assert second is not first
    assert second._mergeable_ranks == first._mergeable_ranks
    assert second.n_vocab == first.n_vocab
    for text in SAMPLES:
        assert second.encode_ordinary(text) == first.encode_ordinary(text)


def _damaged(kept: bytes) -> list[bytes]:
    import marshal

    magic = tokenizers._TOKENS_MAGIC
    not_a_list = marshal.dumps({b"a": 0})
    return [
        kept[: len(kept) // 2],  # cut short
        kept[:-1] + bytes([kept[-1] ^ 1]),  # a byte changed
        b"x" + kept[1:],  # not this code's file
        magic + hashlib.sha256(not_a_list).digest() + not_a_list,  # hashed, not a token list
        magic + hashlib.sha256(b"\xff").digest() + b"\xff",  # hashed, not marshal
        b"",
    ]


def test_a_damaged_token_cache_is_read_past_and_written_again(token_cache: Path) -> None:
    spec = tokenizers.SPECS["cl100k_base"]
    reference = get_encoding("cl100k_base")
    path = tokenizers.token_cache_path(spec)
    assert path is not None
    kept = path.read_bytes()
    for damaged in _damaged(kept):
        path.write_bytes(damaged)
        tokenizers._loaded.clear()
        again = get_encoding("cl100k_base")
        assert again._mergeable_ranks == reference._mergeable_ranks
        assert path.read_bytes() == kept  # written again whole


def test_an_unwritable_cache_still_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("FTCTL_CACHE_DIR", str(blocker))
    monkeypatch.setattr(tokenizers, "_loaded", {})
    encoding = get_encoding("cl100k_base")
    assert encoding.encode_ordinary("Hello, world!") == [9906, 11, 1917, 0]


def test_without_a_home_directory_the_encoding_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No FTCTL_CACHE_DIR, no XDG_CACHE_HOME, and a user without a home directory (a
    container's): nothing is kept, nothing is written where the command runs."""
    monkeypatch.delenv("FTCTL_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tokenizers, "_loaded", {})
    encoding = get_encoding("cl100k_base")
    assert encoding.encode_ordinary("Hello, world!") == [9906, 11, 1917, 0]
    assert tokenizers.token_cache_path(tokenizers.SPECS["cl100k_base"]) is None
    assert not list(tmp_path.iterdir())
