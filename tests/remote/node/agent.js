// A tool agent in Node.js: takes the trace context from TRACEPARENT (the
// environment-variable carrier) and exports OTLP/JSON to OTEL_EXPORTER_OTLP_ENDPOINT.
"use strict";

const api = require("@opentelemetry/api");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-http");
const { resourceFromAttributes } = require("@opentelemetry/resources");
const { SimpleSpanProcessor } = require("@opentelemetry/sdk-trace-base");
const { NodeTracerProvider } = require("@opentelemetry/sdk-trace-node");

async function main() {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": process.env.OTEL_SERVICE_NAME || "node-tool" }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter())],
  });
  provider.register(); // also installs the W3C trace-context propagator
  const carrier = process.argv.includes("--ignore-context")
    ? {}
    : { traceparent: process.env.TRACEPARENT || "", tracestate: process.env.TRACESTATE || "" };
  const parent = api.propagation.extract(api.context.active(), carrier);
  const tracer = api.trace.getTracer("node-tool", "1.0.0");
  await tracer.startActiveSpan(
    "execute_tool search",
    { kind: api.SpanKind.SERVER, attributes: { "gen_ai.tool.name": "search", "node.pid": process.pid } },
    parent,
    async (span) => {
      tracer.startSpan("GET /index", { kind: api.SpanKind.CLIENT }).end();
      span.end();
    },
  );
  await provider.shutdown(); // flushes: the receiver holds the spans when this resolves
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
