"""Real LangChain building blocks for the tests: fake models, a tool, a retriever, chains."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable
from langchain_core.tools import tool

SYSTEM = "You answer in one sentence."
ANSWER = "Paris is the capital of France."


def usage(tokens_in: int, tokens_out: int, cached: int = 0) -> dict[str, Any]:
    """``usage_metadata`` as chat models report it."""
    data: dict[str, Any] = {
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }
    if cached:
        data["input_token_details"] = {"cache_read": cached}
    return data


def chat_model(
    *replies: str, model: str = "gpt-4o-mini", tokens: tuple[int, int] = (12, 5)
) -> GenericFakeChatModel:
    """A GenericFakeChatModel whose replies carry usage metadata and the served model name."""
    messages = [
        AIMessage(
            content=text,
            usage_metadata=usage(*tokens),
            response_metadata={"model_name": model, "finish_reason": "stop"},
        )
        for text in replies or (ANSWER,)
    ]
    return GenericFakeChatModel(messages=iter(messages))


def qa_chain(model: Any) -> Runnable:
    """``prompt | model | parser``: the LCEL chain most tests run."""
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "{question}")])
    return prompt | model | StrOutputParser()


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@tool
def explode(reason: str) -> str:
    """A tool that always fails."""
    raise ValueError(f"boom: {reason}")


class CapitalsRetriever(BaseRetriever):
    """A real retriever: scores documents by word overlap and puts the score in their metadata."""

    corpus: list[tuple[str, str]] = [
        ("fr", "Paris is the capital of France."),
        ("de", "Berlin is the capital of Germany."),
        ("it", "Rome is the capital of Italy."),
    ]
    k: int = 2

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = set(query.lower().replace("?", "").split())
        scored = []
        for doc_id, text in self.corpus:
            overlap = len(words & set(text.lower().rstrip(".").split()))
            scored.append((overlap / 8, doc_id, text))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [
            Document(id=doc_id, page_content=text, metadata={"score": score, "lang": doc_id})
            for score, doc_id, text in scored[: self.k]
        ]


def flatten_runs(runs: list[Any]) -> dict[str, dict[str, Any]]:
    """LangChain's own run tree (from ``collect_runs``) as ``{run_id hex: {name, parent, type}}``."""
    out: dict[str, dict[str, Any]] = {}

    def walk(run: Any) -> None:
        out[run.id.hex] = {
            "name": run.name,
            "parent": run.parent_run_id.hex if run.parent_run_id else "",
            "type": run.run_type,
        }
        for child in run.child_runs:
            walk(child)

    for run in runs:
        walk(run)
    return out
