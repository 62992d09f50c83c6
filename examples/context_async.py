"""The seed page's full async example, runnable offline on the embedded store.

uv run python examples/context_async.py && uv run waxell-observe runs --agent research-pipeline
"""

from __future__ import annotations

import asyncio

import waxell_observe
from waxell_observe import WaxellContext


async def search(query: str) -> list[str]:
    await asyncio.sleep(0.01)
    return [f"source about {query} #{i}" for i in range(3)]


async def synthesize(query: str, sources: list[str]) -> str:
    await asyncio.sleep(0.01)
    return f"{query}: synthesis of {len(sources)} sources"


async def refine(text: str) -> str:
    await asyncio.sleep(0.01)
    return text + " (refined)"


async def run_pipeline(query: str) -> dict:
    async with WaxellContext(
        agent_name="research-pipeline",
        workflow_name="deep-research",
        inputs={"query": query},
        metadata={"version": "2.1"},
        enforce_policy=True,
    ) as ctx:
        sources = await search(query)
        ctx.record_step("search", output={"source_count": len(sources)})

        synthesis = await synthesize(query, sources)
        ctx.record_llm_call(model="claude-sonnet-4", tokens_in=2000, tokens_out=500, task="synthesize")
        ctx.record_step("synthesize", output={"length": len(synthesis)})

        policy = await ctx.check_policy()
        if policy.blocked:
            ctx.set_result({"error": "Policy blocked continuation"})
            return {"error": policy.reason}

        final = await refine(synthesis)
        ctx.record_llm_call(model="gpt-4o", tokens_in=800, tokens_out=300, task="refine")
        ctx.record_step("refine")

        result = {"answer": final, "sources": len(sources)}
        ctx.set_result(result)
        return result


if __name__ == "__main__":
    print(asyncio.run(run_pipeline("tidal energy")))
    print(waxell_observe.flush_sync())
