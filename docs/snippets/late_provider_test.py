from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider


def test_provider_set_during_the_test(agenttrace):
    # A global provider already exists by now (yours, or the plugin's), so
    # OpenTelemetry ignores this call and logs "Overriding of current
    # TracerProvider is not allowed"; the plugin turns that into AgentTraceWarning.
    trace.set_tracer_provider(TracerProvider())

    with trace.get_tracer("app").start_as_current_span("agent_work"):
        pass

    assert agenttrace.one("agent_work")  # still captured, via the first provider
