"""Log lines never carry names, phone numbers or ID numbers in clear (GB/T 35273)."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from callcenter.logs import bound_context, configure_logging, get_logger, mask_name, mask_text


@pytest.fixture
def json_log(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    structlog.reset_defaults()
    configure_logging(level="INFO", fmt="json")
    yield stream
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_phone_and_id_numbers_are_masked_in_text() -> None:
    text = "call 13812345678 or +86 13912345678, ID 12010419450101123X, home 022-23456789"
    masked = mask_text(text)
    assert "13812345678" not in masked and "138****5678" in masked
    assert "13912345678" not in masked
    assert "12010419450101123X" not in masked and "120104********X" in masked
    assert "23456789" not in masked and "022-****6789" in masked


def test_names_keep_only_their_first_character() -> None:
    assert mask_name("张三丰") == "张**"
    assert mask_name("李四") == "李*"
    assert mask_name("Alice") == "A****"


def test_json_log_line_masks_by_key_and_by_pattern(json_log: io.StringIO) -> None:
    log = get_logger("test")
    log.info(
        "elder 13812345678 called",
        elder_name="王秀英",
        id_number="120104194501011234",
        password="hunter2",
        detail={"caller_name": "赵六", "note": "kin 13700001111"},
    )
    (line,) = _lines(json_log)
    raw = json_log.getvalue()
    for secret in ("13812345678", "王秀英", "120104194501011234", "hunter2", "赵六", "13700001111"):
        assert secret not in raw
    assert line["elder_name"] == "王**"
    assert line["id_number"] == "***"
    assert line["detail"] == {"caller_name": "赵*", "note": "kin 137****1111"}


def test_context_is_bound_per_call(json_log: io.StringIO) -> None:
    log = get_logger("test")
    with bound_context(channel_id="1700000000.42", linkedid="1700000000.40"):
        log.info("answered")
    log.info("outside")
    inside, outside = _lines(json_log)
    assert inside["channel_id"] == "1700000000.42"
    assert "channel_id" not in outside


def test_standard_library_records_are_masked_too(json_log: io.StringIO) -> None:
    logging.getLogger("thirdparty").warning("dialing 13812345678")
    (line,) = _lines(json_log)
    assert line["event"] == "dialing 138****5678"


def test_exception_text_is_masked(json_log: io.StringIO) -> None:
    log = get_logger("test")
    try:
        raise ValueError("no elder with phone 13812345678")
    except ValueError:
        log.exception("lookup failed")
    (line,) = _lines(json_log)
    assert "13812345678" not in json.dumps(line, ensure_ascii=False)
    assert "138****5678" in str(line["exception"])


def test_incident_leg_and_bridge_ids_stay_readable_while_numbers_are_masked(
    json_log: io.StringIO,
) -> None:
    # 18 digits and letters: the digit run alone would look like an ID number.
    incident = "202611300850121234ab"
    log = get_logger("test")
    log.info("leg answered", incident_id=incident, channel_id="1700000000.42",
             leg_id=f"{incident}-kin1", bridge_id=f"sos-{incident}", case_id="202611300850121",
             number="13812345678", kin_name="张伟")
    (line,) = _lines(json_log)
    assert line["incident_id"] == incident
    assert line["leg_id"] == f"{incident}-kin1"
    assert line["bridge_id"] == f"sos-{incident}"
    assert line["case_id"] == "202611300850121"
    assert line["number"] == "138****5678" and line["kin_name"] == "张*"
