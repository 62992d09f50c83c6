"""One request, one record: LlamaIndex model calls that run through an instrumented provider SDK."""

from __future__ import annotations

from typing import Any

from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.llms.callbacks import llm_completion_callback

from waxell_observe import WaxellContext, integration_api


class ProviderBackedLLM(MockLLM):
    """Stands in for an LLM class whose provider SDK (OpenAI, Anthropic) is instrumented too."""

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:  # type: ignore[override]
        integration_api.record_llm_call(
            model="gpt-4o-mini", tokens_in=9, tokens_out=2
        )  # the provider's report
        return super().complete(prompt, formatted=formatted, **kwargs)


class ProviderBackedEmbedding(MockEmbedding):
    """An embedding model whose provider SDK reports the request with its token usage."""

    def _get_query_embedding(self, query: str) -> list[float]:
        integration_api.record_llm_call(
            model="text-embedding-3-small", tokens_in=7, tokens_out=0, task="embedding"
        )
        return super()._get_query_embedding(query)


def test_an_llm_call_is_recorded_by_the_framework_only(attached: None, read_run: Any) -> None:
    with WaxellContext(agent_name="dedup-llm", enforce_policy=False) as ctx:
        ProviderBackedLLM(max_tokens=2).complete("hi")
        assert integration_api.framework_call_active() == ""
    [call] = read_run(ctx.run_id)["llm_calls"]
    assert (call["model"], call["attributes"]["framework"]) == ("MockLLM", "llamaindex")


def test_an_embedding_is_left_to_the_provider_that_reports_its_usage(attached: None, read_run: Any) -> None:
    with WaxellContext(agent_name="dedup-embedding", enforce_policy=False) as ctx:
        ProviderBackedEmbedding(embed_dim=4).get_query_embedding("capital of France?")
        MockEmbedding(embed_dim=4).get_query_embedding("no provider here")
    calls = read_run(ctx.run_id)["llm_calls"]
    assert [(c["model"], c["tokens_in"], c["task"]) for c in calls] == [
        ("text-embedding-3-small", 7, "embedding"),
        ("MockEmbedding", 0, "embedding"),
    ]
