"""Job listings page through many jobs, filtered or not, each page reading only what it needs."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from ftctl.server.app import ServerSettings, create_app
from ftctl.server.store import JobRecord, Store

JOBS = 350  # more than one read batch of the store


def _job(number: int) -> JobRecord:
    return JobRecord(
        id=f"ftjob-{number:04d}",
        created_at=1_700_000_000 + number,
        model="local-tiny",
        base_model="local-tiny",
        training_file="file-x",
        validation_file=None,
        status="succeeded",
        method={"type": "supervised"},
        hyperparameters={"n_epochs": 1},
        seed=7,
        metadata={"team": "a" if number % 3 == 0 else "b"},
        fine_tuned_model=f"ft:local-tiny:x:{number}",
        finished_at=1_700_000_060 + number,
    )


def _store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "server")
    for number in range(JOBS):
        store.add_job(_job(number))
    return store


def test_the_batched_reader_returns_what_the_full_one_does(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        every = [j.id for j in store.jobs_newest_first()]
        assert [j.id for j in store.iter_jobs_newest_first(batch=64)] == every
        assert len(every) == JOBS and every[0] == f"ftjob-{JOBS - 1:04d}"
        older = [j.id for j in store.jobs_newest_first(before="ftjob-0200")]
        assert [j.id for j in store.iter_jobs_newest_first(before="ftjob-0200", batch=64)] == older
        assert older[0] == "ftjob-0199" and len(older) == 200
        assert list(store.iter_jobs_newest_first(before="ftjob-missing")) == []
    finally:
        store.close()


def _pages(client: TestClient, params: dict[str, str | int]) -> list[list[str]]:
    pages: list[list[str]] = []
    after: str | None = None
    while True:
        query = {**params, **({"after": after} if after else {})}
        body = client.get("/v1/fine_tuning/jobs", params=query).json()
        pages.append([job["id"] for job in body["data"]])
        if not body["has_more"]:
            return pages
        after = body["data"][-1]["id"]


def test_filtered_pages_cover_every_matching_job_once(tmp_path: Path) -> None:
    _store(tmp_path).close()
    with TestClient(create_app(ServerSettings(data_dir=tmp_path / "server"))) as client:
        # Jobs of team "a" are a third of all: a page of 100 spans several read batches.
        pages = _pages(client, {"limit": 100, "metadata[team]": "a"})
        wanted = [f"ftjob-{n:04d}" for n in reversed(range(JOBS)) if n % 3 == 0]
        assert [len(p) for p in pages] == [100, 17]
        assert [job for page in pages for job in page] == wanted

        everything = _pages(client, {"limit": 100})
        assert [len(p) for p in everything] == [100, 100, 100, 50]
