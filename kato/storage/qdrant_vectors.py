"""Qdrant vector store (decision D11): each ``VCTR|`` vector stored under its name.

Collections are per node and per dimension — ``vectors_<kb id>_d<dimension>`` — because a
Qdrant collection has one vector size while a node may see vectors of several dimensions.
A point's id is a UUID5 of the ``VCTR|`` name (Qdrant ids must be integers or UUIDs) and
its payload holds the name. Distance is Euclidean: a cosine collection would normalise the
stored vectors and ``get`` could not return them as observed. Qdrant stores float32, so a
vector reads back rounded to float32.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import httpx
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import UnexpectedResponse
from qdrant_client.models import Distance, PointStruct, VectorParams

from kato.config import QdrantSettings

# Fixed namespace so every process maps a name to the same point id.
_POINT_NAMESPACE = uuid.UUID("6f1c2a4e-9b7d-5e3f-8a21-4c0d9e7b3a55")
_CONFLICT = 409


class LocalQdrantInUseError(RuntimeError):
    """Qdrant local mode is a single-process store and another process holds it."""


def point_id(name: str) -> str:
    return str(uuid.uuid5(_POINT_NAMESPACE, name))


def open_local_client(path: str | Path) -> QdrantClient:
    """qdrant-client local mode under ``path``; fails clearly if another process holds it."""
    Path(path).mkdir(mode=0o700, parents=True, exist_ok=True)  # owner-only, like the data dir
    try:
        # Calls are serialised by QdrantVectorStore's lock, so any thread may use the client.
        return QdrantClient(path=str(path), force_disable_check_same_thread=True)
    except RuntimeError as error:
        if "already accessed" not in str(error):
            raise
        raise LocalQdrantInUseError(
            f"the Qdrant local store {path} is already open (another process, or another "
            "client in this one). Local mode serves one process only: set "
            "database.qdrant.url (QDRANT_URL) for a Qdrant server, or "
            "database.qdrant.local_store: sqlite to keep vectors in the data directory's "
            "SQLite file"
        ) from error


def open_server_client(settings: QdrantSettings) -> QdrantClient:
    """A client of a Qdrant server, with the configured timeout, pool and keep-alive."""
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    target: dict[str, Any] = (
        {"url": settings.url} if settings.url else {"host": settings.host, "port": settings.port}
    )
    return QdrantClient(
        **target,
        api_key=api_key,
        # The version check is a request at start-up: a server that is down must not
        # delay or fail start-up (readiness reports it instead).
        check_compatibility=False,
        timeout=max(1, round(settings.timeout)),
        limits=httpx.Limits(
            max_connections=settings.pool_size,
            max_keepalive_connections=settings.pool_size,
            keepalive_expiry=settings.keepalive_time_ms / 1000,
        ),
        grpc_options={
            "grpc.keepalive_time_ms": settings.keepalive_time_ms,
            "grpc.keepalive_timeout_ms": settings.keepalive_timeout_ms,
        },
    )


class QdrantVectorStore:
    """One node's vectors. ``lock`` (shared by every store of a local-mode client)
    serialises calls, since the local client is not thread-safe."""

    def __init__(
        self, client: QdrantClient, kb_id: str, lock: threading.Lock | None = None
    ) -> None:
        self._client = client
        self._lock = lock
        self._prefix = f"vectors_{kb_id}_d"
        self._own = re.compile(re.escape(self._prefix) + r"(\d+)")
        self._known: set[str] = set()

    @contextmanager
    def _serialised(self) -> Iterator[None]:
        with self._lock if self._lock is not None else nullcontext():
            yield

    def _collection(self, dimension: int) -> str:
        """The node's collection for this dimension, created on first use."""
        name = f"{self._prefix}{dimension}"
        if name in self._known:
            return name
        if not self._client.collection_exists(name):
            try:
                self._client.create_collection(
                    name, vectors_config=VectorParams(size=dimension, distance=Distance.EUCLID)
                )
            except UnexpectedResponse as error:  # created meanwhile by another instance
                if error.status_code != _CONFLICT:
                    raise
        self._known.add(name)
        return name

    def _own_collections(self) -> list[str]:
        names = (c.name for c in self._client.get_collections().collections)
        return [name for name in names if self._own.fullmatch(name)]

    def put(self, name: str, vector: Sequence[float]) -> None:
        if not vector:
            raise ValueError("a vector needs at least one dimension")
        point = PointStruct(id=point_id(name), vector=list(vector), payload={"name": name})
        with self._serialised():
            self._client.upsert(self._collection(len(vector)), points=[point], wait=True)

    def get(self, name: str) -> list[float] | None:
        with self._serialised():
            found = self._find(name, sorted(self._known))
            if found is None:
                # Another process may have created a collection of a new dimension.
                fresh = [c for c in self._own_collections() if c not in self._known]
                self._known.update(fresh)
                found = self._find(name, fresh)
            return found

    def _find(self, name: str, collections: list[str]) -> list[float] | None:
        for collection in collections:
            points = self._client.retrieve(collection, ids=[point_id(name)], with_vectors=True)
            if points and isinstance(points[0].vector, list):
                return [float(value) for value in points[0].vector]  # type: ignore[arg-type]
        return None

    def clear(self) -> None:
        with self._serialised():
            for collection in self._own_collections():
                self._client.delete_collection(collection)
            self._known.clear()

    def close(self) -> None:
        """The client is shared by every node; its owner (``StorageBackends``) closes it."""
