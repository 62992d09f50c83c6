"""A plain OpenTelemetry program (no waxell-observe) that traces a GenAI agent.

Run as ``python foreign_genai_app.py``; it exports over OTLP/HTTP protobuf to
``OTEL_EXPORTER_OTLP_ENDPOINT`` (standard OTel variables) and prints the trace id. Its spans
use the OpenTelemetry GenAI semantic conventions, as instrumentations such as OpenLLMetry
and the official ``opentelemetry-instrumentation-openai`` write them.
"""

from __future__ import annotations

import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


def main() -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("support-bot.agent")

    with tracer.start_as_current_span(
        "invoke_agent support-bot",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support-bot",
            "gen_ai.conversation.id": "conv-42",
            "user.id": "customer-7",
        },
    ) as root:
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 30,
                "gen_ai.response.finish_reasons": ["tool_calls"],
            },
        ):
            time.sleep(0.01)
        with tracer.start_as_current_span(
            "execute_tool get_weather",
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"},
        ):
            time.sleep(0.005)
        with tracer.start_as_current_span(
            "chat claude-sonnet-4",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "anthropic",
                "gen_ai.request.model": "claude-sonnet-4",
                "gen_ai.usage.input_tokens": 50,
                "gen_ai.usage.output_tokens": 0,
            },
        ) as failing:
            failing.set_status(Status(StatusCode.ERROR, "overloaded"))
            failing.set_attribute("error.type", "OverloadedError")
        trace_id = root.get_span_context().trace_id
    provider.shutdown()
    print(f"{trace_id:032x}")


if __name__ == "__main__":
    main()
