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
