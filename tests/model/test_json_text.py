"""The one strict JSON reader: what it refuses, and how it says so."""

from __future__ import annotations

import pytest

from mock_runtype.model.json_text import JSONTextError, loads_strict


def test_strict_json_reads_like_json() -> None:
    assert loads_strict('{"a": [1, 2.5, true, null, "x"]}') == {"a": [1, 2.5, True, None, "x"]}


@pytest.mark.parametrize("text, reason", [
    ("NaN", "NaN is not valid JSON"),
    ("[-Infinity]", "-Infinity is not valid JSON"),
    ("[1e999]", "the number 1e999 is out of range"),
    ('{"a": {"b": 1, "b": 2}}', "duplicate key 'b'"),
])
def test_what_strict_json_refuses(text: str, reason: str) -> None:
    with pytest.raises(JSONTextError) as caught:
        loads_strict(text)
    assert caught.value.reason.startswith(reason) and caught.value.line is None


def test_a_syntax_error_says_where() -> None:
    with pytest.raises(JSONTextError) as caught:
        loads_strict('{\n  "a": }')
    assert (caught.value.line, caught.value.column) == (2, 8)
    assert str(caught.value) == "Expecting value at line 2 column 8"


def test_a_byte_order_mark_is_refused_as_json_refuses_it() -> None:
    with pytest.raises(JSONTextError) as caught:
        loads_strict('\ufeff{"a": 1}')
    assert caught.value.reason.startswith("Unexpected UTF-8 BOM")


def test_threads_read_at_once_each_with_its_own_decoder() -> None:
    import json
    import threading

    texts = [json.dumps({"n": n, "items": [{f"k{n}": i} for i in range(200)]}) for n in range(8)]
    results: dict[int, object] = {}

    def read(n: int) -> None:
        for _ in range(50):
            results[n] = loads_strict(texts[n])

    threads = [threading.Thread(target=read, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results[n] == {"n": n, "items": [{f"k{n}": i} for i in range(200)]} for n in range(8))
