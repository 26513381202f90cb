"""Trace carriers: HTTP headers, SQS attributes (+ AWSTraceHeader), Service Bus application properties."""

from __future__ import annotations

from agentcage.trace import (
    TraceContext,
    extract_http,
    extract_servicebus,
    extract_sqs_record,
    inject_http,
    inject_servicebus,
    sqs_message_attributes,
    sqs_system_attributes,
    to_xray_header,
)

CTX = TraceContext(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7", tracestate="a=1")


def test_http_round_trip_is_case_insensitive() -> None:
    headers = inject_http(CTX, {})
    shouted = {key.upper(): value for key, value in headers.items()}

    assert extract_http(headers) == CTX
    assert extract_http(shouted) == CTX


def test_http_without_or_with_invalid_header_extracts_nothing() -> None:
    assert extract_http({}) is None
    assert extract_http(None) is None
    assert extract_http({"traceparent": "nonsense"}) is None


def test_sqs_attributes_have_the_send_message_shape() -> None:
    assert sqs_message_attributes(CTX)["traceparent"] == {
        "DataType": "String",
        "StringValue": CTX.traceparent,
    }
    assert sqs_system_attributes(CTX) == {
        "AWSTraceHeader": {"DataType": "String", "StringValue": to_xray_header(CTX)}
    }


def test_sqs_lambda_event_record_prefers_traceparent() -> None:
    record = {
        "messageAttributes": {
            "traceparent": {"stringValue": CTX.traceparent, "dataType": "String"},
            "tracestate": {"stringValue": "a=1", "dataType": "String"},
        },
        "attributes": {
            "AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        },
    }

    assert extract_sqs_record(record) == CTX


def test_sqs_record_falls_back_to_aws_trace_header_with_the_same_bits() -> None:
    record = {"messageAttributes": {}, "attributes": {"AWSTraceHeader": to_xray_header(CTX)}}

    found = extract_sqs_record(record)

    assert found is not None
    assert (found.trace_id, found.span_id) == (CTX.trace_id, CTX.span_id)


def test_sqs_receive_message_shape_is_understood() -> None:
    message = {"MessageAttributes": {"traceparent": {"StringValue": CTX.traceparent, "DataType": "String"}}}

    found = extract_sqs_record(message)

    assert found is not None
    assert found.trace_id == CTX.trace_id


def test_sqs_record_with_nothing_valid_extracts_nothing() -> None:
    record = {
        "messageAttributes": {"traceparent": {"stringValue": "x"}},
        "attributes": {"AWSTraceHeader": "bad"},
    }

    assert extract_sqs_record(record) is None


def test_servicebus_properties_carry_traceparent_and_diagnostic_id() -> None:
    properties = inject_servicebus(CTX, {})

    assert properties["traceparent"] == properties["Diagnostic-Id"] == CTX.traceparent
    assert extract_servicebus(properties) == CTX


def test_servicebus_received_properties_with_bytes_keys_are_understood() -> None:
    received = {b"Diagnostic-Id": CTX.traceparent.encode(), b"tracestate": b"a=1"}

    assert extract_servicebus(received) == CTX
    assert extract_servicebus({}) is None
