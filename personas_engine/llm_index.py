"""The persona passages index for the Mistral second opinion (see personas_engine/llm.py).

A llama-index `VectorStoreIndex` (in-memory `SimpleVectorStore`) over the English sections
of personas/*.md, embedded with Mistral embeddings, persisted under var/mistral-index/ and
rebuilt only when a hash of the documents (and the embedding model name) changes.

`MistralEmbedding` wraps the `mistralai` SDK client directly: llama-index's own
`MistralAIEmbedding` cannot be pointed at another endpoint and its async single-text method
is broken, and this way the client (server URL, no SDK retries, quiet logger) is ours.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode, TextNode, TransformComponent

from personas_engine.vocabulary import PERSONAS

log = logging.getLogger(__name__)

INDEX_FORMAT = 1  # bump when the passage splitting changes: it forces a rebuild
DIGEST_FILE = "docs.json"
STORE_DIR = "store"
# Sections about the page adaptations say nothing about how to recognise a persona.
SKIPPED_SECTIONS = ("what helps",)
T = TypeVar("T")
# Runs one network operation with the advisor's timeout and retries: run(op, factory).
Runner = Callable[[str, Callable[[], Awaitable[T]]], Awaitable[T]]
IndexStatus = Literal["built", "loaded", "unchanged"]


class InvalidEmbeddingResponse(ValueError):
    """The embeddings endpoint answered 200 with something that is not one vector per text."""


class MistralEmbedding(BaseEmbedding):
    """llama-index embeddings through a configured `mistralai.client.Mistral` client."""

    _client: Any = PrivateAttr()

    def __init__(self, client: Any, model_name: str, **kwargs: Any) -> None:
        super().__init__(model_name=model_name, embed_batch_size=32, **kwargs)
        self._client = client

    @classmethod
    def class_name(cls) -> str:
        return "VitrineMistralEmbedding"

    def _vectors(self, response: Any, expected: int) -> list[list[float]]:
        data = sorted(response.data or [], key=lambda d: d.index or 0)
        vectors = [list(d.embedding or []) for d in data]
        dims = {len(v) for v in vectors}
        if len(vectors) != expected or len(dims) != 1 or 0 in dims:
            raise InvalidEmbeddingResponse(
                f"expected {expected} vectors of one non-zero size, got {len(vectors)} of {dims}"
            )
        return vectors

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        response = self._client.embeddings.create(model=self.model_name, inputs=texts)
        return self._vectors(response, len(texts))

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        response = await self._client.embeddings.create_async(model=self.model_name, inputs=texts)
        return self._vectors(response, len(texts))

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embeddings([query])[0]

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return (await self._aget_text_embeddings([text]))[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return (await self._aget_text_embeddings([query]))[0]


class _AsIs(TransformComponent):
    """The passages are split already: without this, llama-index would load a tokenizer."""

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        return nodes


@dataclass(frozen=True)
class Passage:
    """One retrieved section of a persona document."""

    persona: str
    section: str
    text: str
    score: float


_PERSONA_ID = re.compile(r"Persona id:\s*`([a-z_]+)`")


def _english_part(text: str) -> str:
    # The documents are bilingual: "## English" ... "## Français". Summaries are in English.
    match = re.search(r"^## English\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    return match.group(1) if match else text


def persona_passages(docs_dir: Path) -> list[TextNode]:
    """Split each persona document's English part into one node per `###` section."""
    nodes: list[TextNode] = []
    for path in sorted(docs_dir.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        found = _PERSONA_ID.search(text)
        persona = found.group(1) if found else path.stem
        if persona not in PERSONAS:
            continue
        for chunk in re.split(r"^### ", _english_part(text), flags=re.M)[1:]:
            title, _, body = chunk.partition("\n")
            body, title = body.strip(), title.strip()
            if not body or title.lower().startswith(SKIPPED_SECTIONS):
                continue
            slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
            nodes.append(
                TextNode(
                    id_=f"{persona}:{slug}",
                    text=body,
                    metadata={"persona": persona, "section": title},
                )
            )
    return nodes


def docs_digest(docs_dir: Path, embed_model: str) -> str:
    """Return a hash of the persona documents, the embedding model and the index format."""
    h = hashlib.sha256(f"{INDEX_FORMAT}\0{embed_model}\0".encode())
    for path in sorted(docs_dir.glob("*.md")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


class PersonaIndex:
    """Build, persist, reload and query the persona passages index."""

    def __init__(self, embed_model: MistralEmbedding, docs_dir: Path, index_dir: Path) -> None:
        self._embed = embed_model
        self.docs_dir = Path(docs_dir)
        self.index_dir = Path(index_dir)
        self._index: VectorStoreIndex | None = None
        self._digest = ""
        self._lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        return self._index is not None

    async def ensure(self, run: Runner[Any]) -> IndexStatus:
        """Load the stored index, or (re)build it when the documents changed."""
        async with self._lock:
            digest = await asyncio.to_thread(docs_digest, self.docs_dir, self._embed.model_name)
            if self._index is not None and digest == self._digest:
                return "unchanged"
            if await asyncio.to_thread(self._stored_digest) == digest:
                try:
                    self._index = await asyncio.to_thread(self._load)
                    self._digest = digest
                    return "loaded"
                except Exception as exc:  # a damaged store is rebuilt, not fatal
                    log.warning("mistral index: reload failed (%s), rebuilding", exc)
            nodes = await asyncio.to_thread(persona_passages, self.docs_dir)
            if not nodes:
                raise FileNotFoundError(f"no persona documents in {self.docs_dir}")
            index = await run("embeddings", lambda: self._build(nodes))
            await asyncio.to_thread(self._persist, index, digest)
            self._index, self._digest = index, digest
            log.info("mistral index: built from %d passages", len(nodes))
            return "built"

    async def retrieve(self, query: str, top_k: int) -> list[Passage]:
        """Return the `top_k` passages nearest to `query` (one embeddings request)."""
        if self._index is None:
            raise RuntimeError("the persona index is not loaded")
        retriever = self._index.as_retriever(similarity_top_k=top_k)
        found = await retriever.aretrieve(query)
        return [
            Passage(
                persona=str(hit.node.metadata.get("persona", "")),
                section=str(hit.node.metadata.get("section", "")),
                text=hit.node.get_content(),
                score=float(hit.score or 0.0),
            )
            for hit in found
        ]

    async def _build(self, nodes: Sequence[TextNode]) -> VectorStoreIndex:
        index = VectorStoreIndex(
            nodes=[],
            embed_model=self._embed,
            storage_context=StorageContext.from_defaults(),
            transformations=[_AsIs()],
        )
        await index.ainsert_nodes([node.model_copy() for node in nodes])
        return index

    def _stored_digest(self) -> str:
        try:
            data = json.loads((self.index_dir / DIGEST_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ""
        return str(data.get("digest", "")) if isinstance(data, dict) else ""

    def _load(self) -> VectorStoreIndex:
        storage = StorageContext.from_defaults(persist_dir=str(self.index_dir / STORE_DIR))
        index = load_index_from_storage(storage, embed_model=self._embed, transformations=[_AsIs()])
        if not isinstance(index, VectorStoreIndex):
            raise TypeError(f"unexpected index type {type(index).__name__}")
        return index

    def _persist(self, index: VectorStoreIndex, digest: str) -> None:
        # Write the new store beside the old one, swap, then record the digest last:
        # a crash half-way leaves a digest that does not match, hence a rebuild.
        self.index_dir.mkdir(parents=True, exist_ok=True)
        (self.index_dir / DIGEST_FILE).unlink(missing_ok=True)
        fresh, store = self.index_dir / (STORE_DIR + ".new"), self.index_dir / STORE_DIR
        shutil.rmtree(fresh, ignore_errors=True)
        index.storage_context.persist(persist_dir=str(fresh))
        shutil.rmtree(store, ignore_errors=True)
        fresh.rename(store)
        tmp = self.index_dir / (DIGEST_FILE + ".tmp")
        tmp.write_text(
            json.dumps({"digest": digest, "embed_model": self._embed.model_name}),
            encoding="utf-8",
        )
        os.replace(tmp, self.index_dir / DIGEST_FILE)
