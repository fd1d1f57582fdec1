"""What a build knows of its source files' bytes before its pass, and how it checks the pass
against that (`ftctl.datasets.build`): the SHA-256 of every file (hashed now, or recorded
for a file whose stat is unchanged: `source_record`), or only the files' stats when they
were written since the record (the pass hashes what it reads, and the hashing before it
would find nothing unchanged).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftctl.config.models import InlineSource, PathSource, Source
from ftctl.datasets.source_record import (
    TRUSTED,
    FileStat,
    SourceRecord,
    changed,
    stats_of,
)
from ftctl.datasets.sources import (
    SourceContext,
    SourceRead,
    digest_sources,
    file_sha256,
    source_files,
)
from ftctl.datasets.splits import SplitName

# Per split: what identifies each source's content (`digest_sources`).
Digests = dict[str, list[list[Any]]]


@dataclass
class SourcesKnown:
    """A build's source files as it found them before its pass."""

    # Per split (`digest_sources`); None: the files were written since they were recorded,
    # and their bytes are known once the pass has hashed them (`after_pass`).
    digests: Digests | None
    # The files' stats before anything was read (None: a source that is not a local file,
    # or a file that could not be had), and when they were taken.
    stats: dict[Path, FileStat] | None
    taken_ns: int
    shown: dict[Path, str]  # each file as findings name it
    # The pass is checked against the stats (the digests were not hashed now: recorded, or
    # none), not by hashing what it read against the digests.
    watch_stats: bool
    splits: Mapping[SplitName, Sequence[Source]]  # the sources, per split
    record: SourceRecord  # where the files' stats and hashes are kept (`remember`)

    def changed_during(self, reads: Mapping[SplitName, Sequence[SourceRead]]) -> list[str] | None:
        """The files (as shown) the pass read that were written while the build ran, told by
        their stats; None when that is told by their hashes (`digests` were hashed now)."""
        if not self.watch_stats:
            return None
        assert self.stats is not None
        found = [self.shown[path] for path in changed(self.stats)]
        known = set(self.shown.values())
        # A glob that matched a file made since the stats were taken.
        found += [
            file
            for split in reads.values()
            for read in split
            if read.kind == "path"
            for file in read.files
            if file not in known
        ]
        return found

    def after_pass(self, reads: Mapping[SplitName, Sequence[SourceRead]]) -> Digests | None:
        """The digests as the pass hashed the files it read whole (what `digest_sources`
        gives for the same bytes), else those known before it; None when neither is."""
        return _digests_read(self.splits, reads) or self.digests

    def remember(self, digests: Digests | None) -> None:
        """Record each file's stat with the SHA-256 of `digests`, where the file is still as
        its stat was before the build read it."""
        if self.stats is None or digests is None or changed(self.stats):
            return
        sha256s: dict[str, str] = {}
        for entries in digests.values():
            for entry in entries:
                if entry[0] == "path":
                    sha256s.update((shown, sha256) for shown, sha256 in entry[2:])
        if any(self.shown[path] not in sha256s for path in self.stats):
            return
        self.record.save(
            {
                path: (stat, self.taken_ns, sha256s[self.shown[path]])
                for path, stat in self.stats.items()
            }
        )


def know_sources(
    splits: Mapping[SplitName, Sequence[Source]],
    context_of: Callable[[SplitName], SourceContext],
    record: SourceRecord,
) -> SourcesKnown:
    """What the build knows of `splits`' source files before its pass (see the module's
    doc): recorded SHA-256s where every file's stat is the one recorded; nothing but their
    stats where they were written since, settled, and read whole; else their bytes hashed."""
    taken = time.time_ns()
    found = _found(splits, context_of)
    files = None if found is None else _files(found, context_of)
    stats = None if files is None else stats_of(files)
    shown = {} if files is None else files
    if found is not None and stats is not None and TRUSTED:
        recorded = {path: record.sha256(path, stat) for path, stat in stats.items()}
        if all(sha256 is not None for sha256 in recorded.values()):
            digests = _digests(found, context_of, recorded.get)
            if digests is not None:
                return SourcesKnown(digests, stats, taken, shown, True, splits, record)
        elif _read_whole(splits) and all(stat.settled(taken) for stat in stats.values()):
            return SourcesKnown(None, stats, taken, shown, True, splits, record)
    digests = None if found is None else _digests(found, context_of, file_sha256)
    return SourcesKnown(digests, stats, taken, shown, False, splits, record)


def _digests_read(
    splits: Mapping[SplitName, Sequence[Source]], reads: Mapping[SplitName, Sequence[SourceRead]]
) -> Digests | None:
    """`digest_sources`'s digests from the hashes of a pass that read every file whole."""
    digests: Digests = {}
    for name, sources in splits.items():
        read_here = reads.get(name) or ()
        if len(read_here) != len(sources):
            return None
        entries: list[list[Any]] = []
        for index, (source, read) in enumerate(zip(sources, read_here, strict=True)):
            if isinstance(source, InlineSource):
                entries.append(["inline", index])
                continue
            if not isinstance(source, PathSource) or not read.files or None in read.file_hashes:
                return None
            pairs = zip(read.files, read.file_hashes, strict=True)
            entries.append(["path", source.path, *([f, sha] for f, sha in pairs)])
        digests[name] = entries
    return digests


# Per split: each source with the files it names (`source_files`).
Found = dict[SplitName, list[tuple[Source, list[Path]]]]


def _found(
    splits: Mapping[SplitName, Sequence[Source]], context_of: Callable[[SplitName], SourceContext]
) -> Found | None:
    """Every split's sources with their files, resolved once (as the pass resolves them);
    None when a source is not a local file or inline, or names no file."""
    found: Found = {}
    for name, sources in splits.items():
        files = source_files(sources, context_of(name))
        if files is None:
            return None
        found[name] = files
    return found


def _digests(
    found: Found,
    context_of: Callable[[SplitName], SourceContext],
    sha256_of: Callable[[Path], str | None],
) -> Digests | None:
    digests: Digests = {}
    for name, sources in found.items():
        digest = digest_sources(sources, context_of(name), sha256_of)
        if digest is None:
            return None
        digests[name] = digest
    return digests


def _files(found: Found, context_of: Callable[[SplitName], SourceContext]) -> dict[Path, str]:
    """Every source file, with how findings name it."""
    files: dict[Path, str] = {}
    for name, sources in found.items():
        context = context_of(name)
        files.update((path, context.display(path)) for _source, paths in sources for path in paths)
    return files


def _read_whole(splits: Mapping[SplitName, Sequence[Source]]) -> bool:
    """No source has a `limit`: the pass reads, and hashes, every file to its end."""
    return all(
        not isinstance(source, PathSource) or source.limit is None
        for sources in splits.values()
        for source in sources
    )
