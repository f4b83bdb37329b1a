from opentelemetry import trace


def test_plugin_and_app_exporter_both_receive(agenttrace, app_exporter):
    with trace.get_tracer("app").start_as_current_span("agent_work"):
        pass

    assert agenttrace.one("agent_work").is_root
    assert [span.name for span in app_exporter.get_finished_spans()] == ["agent_work"]
