"""The toy-study engine: independent analyses as Dask tasks, streamed to one Parquet file.

A study is a list of ``Toy`` (its index, its own seed, its parameters) and one function
``task(toy, spec) -> dict`` that analyses it. ``run_toys`` submits every toy that the
study's store does not hold yet to a Dask cluster and writes each result as it arrives:

- **where it runs:** a ``distributed.LocalCluster`` with one single-threaded worker process
  per local core (the default), or the existing cluster at ``scheduler`` (an address such as
  ``tcp://10.0.0.5:8786``; ``docs/validation.md`` shows how to start one on a batch system
  with ``dask-jobqueue``), or one worker thread in this process (``scheduler="in-process"``:
  for debugging, and for tests that reuse this process's compiled models);
- **the store:** one Parquet file, rewritten atomically (temporary file, then rename) after
  each finished toy. It always holds every finished toy and nothing half-written, and its
  schema metadata holds the study's ``spec``;
- **resuming:** started again on the same store, a study skips the toys it holds. A store
  made by another study (another ``spec``) is refused, with one line naming the file;
- **reproducible:** a toy's seed depends on the study's seed and the toy's index alone
  (``toy_seed``), not on the order in which the workers finish, so a resumed study equals
  an uninterrupted one;
- **failures:** a toy whose analysis raises is recorded with ``status = "error"`` and the
  error's text. Nothing is dropped; the summaries count such toys.

The workers run JAX in double precision on one device, with one XLA thread each (a worker
per core is the parallelism).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bayes_vip.errors import InputError
from bayes_vip.io.atomic import atomic_path
from bayes_vip.io.config import default_config
from bayes_vip.pipeline.progress import SILENT, Progress

__all__ = [
    "IN_PROCESS",
    "Toy",
    "check_store",
    "jsonable",
    "read_store",
    "run_toys",
    "store_spec",
    "toy_seed",
    "worker_environment",
]

#: ``scheduler`` value that runs the toys one at a time in this process (one Dask worker
#: thread): for debugging, and for tests that share this process's compiled models.
IN_PROCESS = "in-process"
#: The key of the study's ``spec`` in the Parquet schema metadata.
SPEC_KEY = b"bayes_vip.study"


@dataclass(frozen=True)
class Toy:
    """One toy: its position in the study, its own seed and its parameters."""

    index: int
    seed: int
    params: dict[str, Any] = field(default_factory=dict)


def toy_seed(study_seed: int, index: int, stream: int = 0) -> int:
    """The seed of toy ``index`` of a study seeded ``study_seed`` (a 31-bit integer).

    ``numpy.random.SeedSequence`` of the triple: independent streams for every toy, and the
    same seed whatever the number of toys or the order they finish in. ``stream`` separates
    the toys (0) from a study's other random draws (a reference toy: 1).
    """
    if min(study_seed, index, stream) < 0:
        msg = f"seeds are non-negative, got study seed {study_seed}, toy {index}"
        raise InputError(msg, field="study.seed")
    state = np.random.SeedSequence([int(study_seed), int(stream), int(index)]).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


def worker_environment() -> dict[str, str]:
    """What a toy worker's environment sets before JAX loads.

    Double precision, one XLA host device and one intra-op thread: the cluster's
    parallelism is a worker per core, and two workers sharing a core's threads would each
    run slower than one.
    """
    return {
        "JAX_ENABLE_X64": "1",
        "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def read_store(path: Path, spec: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows a study's store holds (none if there is no store).

    With ``spec``, a store made by another study is refused (``InputError`` naming the file).
    """
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        return []
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        msg = f"not a readable study store (Parquet): {exc}".splitlines()[0]
        raise InputError(msg, file=path) from None
    meta = table.schema.metadata or {}
    if spec is not None:
        have = json.loads(meta.get(SPEC_KEY, b"null"))
        if isinstance(have, dict) and isinstance(have.get("config"), dict):
            # a configuration key added after the study started counts at its default
            have["config"] = _with_defaults(have["config"], jsonable(default_config().to_dict()))
        if have != jsonable(spec):
            diff = sorted(
                k
                for k in set(spec) | set(have or {})
                if (have or {}).get(k) != jsonable(spec).get(k)
            )
            msg = (
                "holds another study (differs in "
                + ", ".join(diff)
                + "); give another --out, or remove it to start again"
            )
            raise InputError(msg, file=path)
    return table.to_pylist()


def store_spec(path: Path) -> dict[str, Any] | None:
    """The ``spec`` of the study whose store is ``path``; None if there is no store."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        return None
    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception as exc:  # pyarrow raises several types for a bad file
        msg = f"not a readable study store (Parquet): {exc}".splitlines()[0]
        raise InputError(msg, file=path) from None
    if SPEC_KEY not in meta:
        msg = "a Parquet file that no bayes-vip study wrote (no study description)"
        raise InputError(msg, file=path)
    return json.loads(meta[SPEC_KEY])


def check_store(path: Path, spec: dict[str, Any], *, ignore: tuple[str, ...] = ()):
    """The ``spec`` stored at ``path`` (None if no store), when it is ``spec``'s study.

    Keys in ``ignore`` (results the study adds to its spec, such as a reference fit) are
    left out of the comparison; any other difference is an ``InputError``. A configuration
    key that the stored spec lacks (an option added after the study started) counts at its
    default, which is what the study ran with.
    """
    have = store_spec(path)
    kept = None if have is None else {k: v for k, v in have.items() if k not in ignore}
    if kept is not None and isinstance(kept.get("config"), dict):
        kept["config"] = _with_defaults(kept["config"], jsonable(default_config().to_dict()))
    if kept is not None and kept != jsonable(spec):
        msg = "holds another study; give another --out, or remove it to start again"
        raise InputError(msg, file=path)
    return have


def _with_defaults(have: dict[str, Any], default: dict[str, Any]) -> dict[str, Any]:
    """``have`` with every key of ``default`` that it lacks, nested tables merged."""
    out = dict(have)
    for k, v in default.items():
        if k not in out:
            out[k] = v
        elif isinstance(v, dict) and isinstance(out[k], dict):
            out[k] = _with_defaults(out[k], v)
    return out


def jsonable(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists, keys strings)."""
    return json.loads(json.dumps(obj, default=str))


def _write_store(path: Path, rows: Sequence[dict[str, Any]], spec: dict[str, Any]) -> None:
    """Write every row and the study's spec to ``path`` atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ordered = sorted(rows, key=lambda r: r["index"])
    # every key of every row: pyarrow takes the columns from the first row alone, and would
    # drop a column that the first toy lacks (a failed fit's message, another kind of toy)
    keys = list(dict.fromkeys(k for r in ordered for k in r))
    table = pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in ordered])
    meta = {SPEC_KEY: json.dumps(jsonable(spec)).encode()}
    table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _client(scheduler: str | None, workers: int | None):
    """A Dask client: of the cluster at ``scheduler``, else of a new local cluster."""
    from distributed import Client, LocalCluster

    if scheduler == IN_PROCESS:
        cluster = LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            dashboard_address=":0",  # any free port: another study may hold 8787
            silence_logs=50,
        )
        return Client(cluster), cluster
    if scheduler is not None:
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError) as exc:
            msg = f"no Dask scheduler answers at {scheduler!r}: {exc}".splitlines()[0]
            raise InputError(msg, field="study.scheduler") from None
    n = workers or os.cpu_count() or 1
    saved = {k: os.environ.get(k) for k in worker_environment()}
    os.environ.update(worker_environment())  # the worker processes inherit it
    try:
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: another study may hold 8787
            silence_logs=50,  # logging.CRITICAL: a closing worker logs lost heartbeats
        )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Client(cluster), cluster


def _run_one(task: Callable[[Toy, dict[str, Any]], dict[str, Any]], toy: Toy, spec: dict) -> dict:
    """Run ``task`` on ``toy`` in a worker; an error becomes a row rather than a lost toy."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {"index": toy.index, "seed": toy.seed, **toy.params}
    try:
        row |= task(toy, spec)
        row["status"] = "ok"
        row["error"] = ""
    except Exception as exc:  # every failure is recorded, none is dropped
        row["status"] = "error"
        row["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
    row["seconds"] = time.perf_counter() - t0
    row["worker_pid"] = os.getpid()
    return row


def run_toys(
    task: Callable[[Toy, dict[str, Any]], dict[str, Any]],
    toys: Iterable[Toy],
    store: Path,
    spec: dict[str, Any],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress = SILENT,
    stop_after: int | None = None,
) -> list[dict[str, Any]]:
    """Run every toy the store at ``store`` does not hold yet; return all rows, by index.

    ``task`` must be importable by the workers (a module-level function). ``spec`` describes
    the study: it is passed to every task and kept in the store, so that a resumed study is
    the same study. ``stop_after``: stop once that many new toys are done (the others stay
    to do), as an interrupted study would.
    """
    from distributed import as_completed

    store = Path(store)
    rows = read_store(store, spec)
    have = {r["index"] for r in rows}
    toys = list(toys)
    todo = [t for t in toys if t.index not in have]
    total = len(toys)
    progress.update("toys", len(rows), total, "resumed" if rows else "")
    if not todo:
        return sorted(rows, key=lambda r: r["index"])
    client, cluster = _client(scheduler, workers)
    try:
        futures = [
            client.submit(_run_one, task, t, spec, key=f"toy-{t.index}-{t.seed}", pure=False)
            for t in todo
        ]
        for new, fut in enumerate(as_completed(futures), start=1):
            row = fut.result()
            rows.append(row)
            _write_store(store, rows, spec)
            errors = sum(r["status"] != "ok" for r in rows)
            progress.update("toys", len(rows), total, f"{errors} failed" if errors else "")
            if stop_after is not None and new >= stop_after:
                break
        for fut in futures:
            fut.cancel()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return sorted(rows, key=lambda r: r["index"])
