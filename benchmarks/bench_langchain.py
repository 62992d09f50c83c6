"""What the LangChain handler costs: a 3-step chain with and without it.

The chain is ``ChatPromptTemplate | GenericFakeChatModel | StrOutputParser`` (the model
replies instantly, with usage metadata), so the numbers are LangChain's own overhead plus
ours. Measured side by side in one process, interleaved:

- ``no callbacks``: ``chain.invoke(x)``;
- ``no-op handler``: a ``BaseCallbackHandler`` that does nothing (LangChain's callback
  machinery alone);
- ``waxell handler``: ``WaxellLangChainHandler`` recording onto an enclosing run
  (chain spans + steps, the LLM call with cost and conversation state), embedded store;
- ``waxell, no sink``: the same with the embedded sink unregistered, i.e. the handler's
  and the core's work on the agent's thread without the store's background writer
  competing for the GIL (on a busy 2-core machine that writer is most of the difference).

One invoke fires 8 callbacks (start/end of the sequence, the prompt, the model and the
parser). Prints microseconds per invoke (median of repeats), the handler's overhead per
callback against the no-op handler and against no callbacks, and the ratios.
Run: ``uv run python benchmarks/bench_langchain.py [--iterations N] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any


def measure(fn: Callable[[], object], iterations: int) -> float:
    """Microseconds per call over one batch of ``iterations``."""
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - start) / iterations * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="waxell-bench-")
    os.environ["WAXELL_DB"] = os.path.join(tmp, "bench.db")
    os.environ["WAXELL_MAX_QUEUE"] = str(10_000_000)

    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    import waxell_observe
    from waxell_observe import WaxellContext
    from waxell_observe.integrations.langchain import WaxellLangChainHandler

    reply = AIMessage(
        content="Paris is the capital of France.",
        usage_metadata={"input_tokens": 12, "output_tokens": 5, "total_tokens": 17},
        response_metadata={"model_name": "gpt-4o-mini", "finish_reason": "stop"},
    )
    prompt = ChatPromptTemplate.from_messages([("system", "Answer briefly."), ("human", "{question}")])
    chain = prompt | GenericFakeChatModel(messages=itertools.repeat(reply)) | StrOutputParser()
    question = {"question": "What is the capital of France?"}

    class NoOp(BaseCallbackHandler):
        run_inline = True

    class Counter(BaseCallbackHandler):
        """Counts the callbacks one invoke fires."""

        run_inline = True
        calls = 0

        def _count(self, *args: Any, **kwargs: Any) -> None:
            Counter.calls += 1

        on_chain_start = on_chain_end = on_chat_model_start = on_llm_end = _count

    chain.invoke(question, config={"callbacks": [Counter()]})
    callbacks = Counter.calls

    noop = NoOp()
    waxell = WaxellLangChainHandler(agent_name="bench")
    plain_config: dict[str, Any] = {}
    noop_config = {"callbacks": [noop]}
    waxell_config = {"callbacks": [waxell]}

    def run_plain() -> object:
        return chain.invoke(question, config=plain_config)

    def run_noop() -> object:
        return chain.invoke(question, config=noop_config)

    def run_waxell() -> object:
        return chain.invoke(question, config=waxell_config)

    from waxell_observe.plugins import plugin_manager

    samples: dict[str, list[float]] = {
        "no callbacks": [],
        "no-op handler": [],
        "waxell handler": [],
        "waxell, no sink": [],
    }
    with WaxellContext(agent_name="bench-warmup", enforce_policy=False):
        for fn in (run_plain, run_noop, run_waxell):
            for _ in range(min(args.iterations, 100)):
                fn()
    for _ in range(args.repeats):
        samples["no callbacks"].append(measure(run_plain, args.iterations))
        samples["no-op handler"].append(measure(run_noop, args.iterations))
        with WaxellContext(agent_name="bench", enforce_policy=False):
            samples["waxell handler"].append(measure(run_waxell, args.iterations))
        waxell_observe.flush_sync(timeout=120)  # keep the store's backlog out of the next round
        sink = plugin_manager().unregister(name="embedded")
        try:
            with WaxellContext(agent_name="bench-no-sink", enforce_policy=False):
                samples["waxell, no sink"].append(measure(run_waxell, args.iterations))
        finally:
            plugin_manager().register(sink, name="embedded")

    plain, noop_us, ours, no_sink = (statistics.median(samples[k]) for k in samples)
    print(
        f"LangChain 3-step chain, {args.iterations} invokes x "
        f"{args.repeats} repeats, {callbacks} callbacks/invoke"
    )
    for name, value in (
        ("no callbacks", plain),
        ("no-op handler", noop_us),
        ("waxell handler", ours),
        ("waxell, no sink", no_sink),
    ):
        print(f"  {name:<16} {value:9.1f} us/invoke")
    print(f"  waxell overhead per callback vs no-op handler: {(ours - noop_us) / callbacks:7.1f} us")
    print(f"  waxell overhead per callback vs no callbacks:  {(ours - plain) / callbacks:7.1f} us")
    print(f"  of which on the agent's thread (no sink) vs no-op: {(no_sink - noop_us) / callbacks:7.1f} us")
    print(f"  ratio waxell / no-op handler: {ours / noop_us:5.2f}x")
    print(f"  ratio waxell / no callbacks:  {ours / plain:5.2f}x")
    print(f"  ratio waxell, no sink / no-op handler: {no_sink / noop_us:5.2f}x")
    report = waxell_observe.flush_sync(timeout=120)
    print(f"  delivered: {report.sent} records sent, {report.dropped} dropped, {report.pending} pending")


if __name__ == "__main__":
    main()
