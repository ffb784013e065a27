"""Fixture documents: every bad case reported with its file, line and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_runtype.sandbox.fixtures import FixtureError, parse_fixture, read_fixtures
from mock_runtype.sandbox.core import Sandbox

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

BAD = {
    "yaml syntax": ("tenants:\n  - apiKey: a\n  - [unclosed\n", "f.yaml:4: YAML syntax error"),
    "unknown key": ("tenants:\n  - apiKey: a\n    colour: red\n", "f.yaml:3: tenants[0].colour: unknown field: colour"),
    "wrong type": ("settings:\n  seed: forty-two\n", "f.yaml:2: settings.seed: must be a whole number"),
    "unknown tenant": ("tenants: [{apiKey: a}]\nrecords:\n  - {tenant: b, type: t, name: n}\n",
                       "f.yaml:3: records[0].tenant: unknown tenant 'b': list it under tenants first"),
    "duplicate type and name": ("tenants: [{apiKey: a}]\nrecords:\n  - {tenant: a, type: t, name: n}\n  - {tenant: a, type: t, name: n}\n",
                                "f.yaml:4: records[1].name: duplicate record: type 't' and name 'n' are already used by records[0]"),
    "record over the limits": ("tenants: [{apiKey: a}]\nrecords:\n  - tenant: a\n    type: ''\n    name: n\n",
                               "f.yaml:4: records[0].type: must be at least 1 character long"),
    "duplicate key": ("settings:\n  seed: 1\n  seed: 2\n", "f.yaml:3: settings.seed: duplicate key 'seed'"),
    "bad date": ("settings:\n  clock: yesterday\n", "f.yaml:2: settings.clock: must be an ISO 8601 date-time"),
    "scenario without an action": ("scenarios:\n  - name: x\n    when: {path: /v1/records}\n",
                                   "f.yaml:2: scenarios[0]: needs one of: respond, fault, rateLimit, delayMs"),
    "unknown fault": ("scenarios:\n  - fault: explode\n", "f.yaml:2: scenarios[0].fault: must be one of"),
    "rate limit with a counter": ("scenarios:\n  - rateLimit: {limit: 1, windowSeconds: 1}\n    times: 2\n",
                                  "f.yaml:2: scenarios[0]: rateLimit cannot be combined with"),
    "rate limit window over a year": ("scenarios:\n  - rateLimit: {limit: 1, windowSeconds: 1.0e+307}\n",
                                      "f.yaml:2: scenarios[0].rateLimit.windowSeconds: must be at most 31536000"),
    "duplicate scenario": ("scenarios:\n  - {name: s, delayMs: 1}\n  - {name: s, delayMs: 2}\n",
                           "f.yaml:3: scenarios[1].name: duplicate scenario name"),
    "updatedAt before createdAt": ("tenants: [{apiKey: a}]\nrecords:\n  - {tenant: a, type: t, name: n, createdAt: '2024-02-01', updatedAt: '2024-01-01'}\n",
                                   "f.yaml:3: records[0].updatedAt: must not be before createdAt"),
    "metadata over 1 MiB": ("tenants: [{apiKey: a}]\nrecords:\n  - tenant: a\n    type: t\n    name: n\n"
                            "    metadata: {pad: " + "p" * 1_048_600 + "}\n",
                            "f.yaml:6: records[0].metadata: is 1048610 bytes, over the 1048576-byte limit of a record"),
    "a YAML date in metadata": ("tenants: [{apiKey: a}]\nrecords:\n  - tenant: a\n    type: t\n    name: n\n"
                                "    metadata:\n      renewal: 2024-06-01\n",
                                "f.yaml:7: records[0].metadata.renewal: is a date, which JSON has no value for: quote it"),
    "YAML binary deep in metadata": ("tenants: [{apiKey: a}]\nrecords:\n  - {tenant: a, type: t, name: n, metadata: {a: [1, !!binary aGk=]}}\n",
                                     "f.yaml:3: records[0].metadata.a[1]: is binary data, which JSON has no value for"),
    "step started on a day that does not exist": (
        "tenants: [{apiKey: a}]\nrecords:\n  - tenant: a\n    type: t\n    name: n\n    stepResults:\n"
        "      - {stepName: s, stepType: prompt, startedAt: '2024-02-30T10:00:00Z'}\n",
        "f.yaml:7: records[0].stepResults[0].startedAt: not a valid date-time: day is out of range for month"),
}


@pytest.mark.parametrize("text, message", BAD.values(), ids=BAD.keys())
def test_a_bad_fixture_is_reported_with_file_line_and_problem(text, message):
    with pytest.raises(FixtureError) as caught:
        parse_fixture(text, "f.yaml")
    assert message in str(caught.value)


def test_every_problem_of_a_document_is_reported_at_once():
    text = "tenants:\n  - apiKey: a\n    colour: red\n  - apiKey: 5\n"
    with pytest.raises(FixtureError) as caught:
        parse_fixture(text, "f.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "f.yaml:3: tenants[0].colour: unknown field: colour",
        "f.yaml:4: tenants[1].apiKey: must be a string",
    ]


def test_the_shipped_examples_are_valid():
    files = sorted(str(p) for p in FIXTURES.glob("*.yaml"))
    assert len(files) >= 3
    assert len(read_fixtures(files)) == len(files)


def test_a_later_file_may_seed_records_of_a_tenant_an_earlier_one_declares(tmp_path):
    (tmp_path / "a.yaml").write_text("tenants: [{apiKey: k}]\n")
    (tmp_path / "b.yaml").write_text("records: [{tenant: k, type: t, name: n}]\n")
    sandbox = Sandbox()
    for fixture in read_fixtures([str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]):
        sandbox.load(fixture)
    assert [r.name for r in sandbox.store.records_of(sandbox.tenancy.partition_of("k"))] == ["n"]


def test_a_document_clashing_with_the_live_state_loads_nothing():
    sandbox = Sandbox()
    sandbox.load(parse_fixture("tenants: [{apiKey: k}]\nrecords: [{tenant: k, type: t, name: n}]\n", "a.yaml"))
    clash = "records:\n  - {tenant: k, type: t, name: other}\n  - {tenant: k, type: t, name: n}\n"
    with pytest.raises(FixtureError) as caught:
        sandbox.load(parse_fixture(clash, "b.yaml", known_tenants={"k"}))
    assert caught.value.status == 409
    assert "b.yaml:3: records[1].name: duplicate record: a.yaml already seeds this type and name" in str(caught.value)
    assert [r.name for r in sandbox.store.records_of(sandbox.tenancy.partition_of("k"))] == ["n"]


def test_a_document_scoped_to_a_tenant_may_touch_only_that_tenant():
    text = "settings: {strictAuth: true}\nrecords:\n  - {tenant: other, type: t, name: n}\n"
    with pytest.raises(FixtureError) as caught:
        parse_fixture(text, "f.yaml", scope="mine")
    assert [p.path for p in caught.value.problems] == ["settings.strictAuth", "records[0].tenant"]


YAML_FEATURES = {
    "json": '{"tenants": [{"apiKey": "a"}], "records": [{"tenant": "a", "type": "t", "name": "n",'
            ' "metadata": {"n": 1, "f": 1.5, "e": 1e3, "ok": true, "none": null, "s": "x\\u00e9\\/"}}]}',
    "plain yaml scalars": "settings:\n  seed: 0x2a\n  strictAuth: yes\nmetadata: {a: 1_000, b: .inf, c: ~, d: 2024-06-01, e: '3'}\n",
    "anchors and aliases": "base: &b {tier: gold}\nrecords:\n  - metadata: *b\n  - metadata: *b\n",
    "tags": "a: !!str 12\nb: !!float 1\nc: !!binary aGk=\nd: !!set {x, y}\ne: !!omap [{k: 1}]\n",
    "non-string keys": "2: two\n3.5: x\nnull: nothing\n",
    "empty": "",
    "nested lists": "a: [[1, [2, {b: [3]}]], []]\n",
}


@pytest.mark.parametrize("text", YAML_FEATURES.values(), ids=YAML_FEATURES.keys())
def test_documents_read_to_the_values_pyyaml_constructs(text):
    import yaml

    from mock_runtype.sandbox.fixtures import _parse_yaml, _yaml_lines

    data = _parse_yaml(text, "f.yaml")
    expected = yaml.load(text, Loader=yaml.SafeLoader)
    assert data == ({} if expected is None else expected)
    assert all(isinstance(line, int) and line >= 1 for line in _yaml_lines(text, "f.yaml").values())


def test_an_alias_still_shares_its_object_as_pyyaml_does():
    from mock_runtype.sandbox.fixtures import _parse_yaml

    data = _parse_yaml("base: &b {tier: gold}\none: *b\ntwo: *b\n", "f.yaml")
    assert data["one"] is data["two"]


def test_lines_are_those_of_each_key_and_item():
    from mock_runtype.sandbox.fixtures import _yaml_lines

    lines = _yaml_lines("tenants:\n  - apiKey: a\nrecords:\n  - tenant: a\n    type: t\n", "f.yaml")
    assert lines[("tenants",)] == 1
    assert lines[("tenants", 0)] == 2
    assert lines[("records", 0, "type")] == 5


def test_aliases_that_expand_a_document_far_past_its_size_are_refused():
    """YAML aliases share nodes: 17 doublings in 500 bytes are 131,072 values once expanded, and
    every walk of the document (its lines, the schema, the rules, the records' sizes) visited
    them all, for seconds on the server's loop. Refused before any walk."""
    anchors = ", ".join(["x0: &a0 [a, a]"] + [f"x{n}: &a{n} [*a{n - 1}, *a{n - 1}]" for n in range(1, 17)])
    text = f"tenants: [{{apiKey: k}}]\nrecords:\n  - {{tenant: k, type: t, name: n, metadata: {{{anchors}}}}}\n"
    with pytest.raises(FixtureError) as refused:
        parse_fixture(text, "f.yaml")
    assert "aliases" in str(refused.value)


def test_an_alias_used_a_few_times_is_read_as_ever():
    text = ("tenants: [{apiKey: k}]\nrecords:\n"
            "  - {tenant: k, type: t, name: a, metadata: &shared {plan: pro, seats: [1, 2, 3]}}\n"
            "  - {tenant: k, type: t, name: b, metadata: *shared}\n")
    fixture = parse_fixture(text, "f.yaml")
    assert [r.fields["metadata"] for r in fixture.records] == [{"plan": "pro", "seats": [1, 2, 3]}] * 2


@pytest.mark.parametrize("text", ['{"records": [{"tenant": "k", "type": "t", "name": "n", "metadata": {"n": %s}}]}',
                                  "records:\n  - {tenant: k, type: t, name: n, metadata: {n: %s}}\n"])
def test_an_integer_of_more_digits_than_python_converts_is_a_fixture_error(text):
    """PyYAML's int() of 5,000 digits raises a plain ValueError, which escaped as a 500."""
    with pytest.raises(FixtureError) as refused:
        parse_fixture(text % ("9" * 5000), "f.yaml")
    assert "digits" in str(refused.value)


@pytest.mark.parametrize("text, line", [
    ('{\n  "tenants": [{"apiKey": "a"}],\n  "records": [\n    {"tenant": "a", "type": "t", "name": "n"},\n'
     '    {"tenant": "b", "type": "t", "name": "m"}\n  ]\n}\n', 5),
    # json.dumps writes an emoji as a surrogate pair's escapes, which libyaml (the lines' reader) refuses
    ('{"tenants": [{"apiKey": "a"}],\n "records": [{"tenant": "a", "type": "t", "name": "\\ud83d\\ude00"},\n'
     ' {"tenant": "b", "type": "t", "name": "m"}]}', 3),
])
def test_a_json_fixture_is_read_as_json_and_its_problems_keep_their_lines(text, line):
    with pytest.raises(FixtureError) as raised:
        parse_fixture(text, "f.json")
    assert str(raised.value) == f"f.json:{line}: records[1].tenant: unknown tenant 'b': list it under tenants first"


def test_a_record_is_sized_as_json_writes_its_metadata_yaml_infinity_too():
    text = "tenants: [{apiKey: k}]\nrecords:\n  - {tenant: k, type: t, name: n, metadata: {a: .inf, b: null, c: 1.0e-7}}\n"
    [record] = parse_fixture(text, "f.yaml").records
    assert record.size == len('{"a":Infinity,"b":null,"c":1e-07}')
    [record] = parse_fixture('{"tenants": [{"apiKey": "k"}], "records": [{"tenant": "k", "type": "t", "name": "n",'
                             ' "metadata": {"b": null, "c": 1e-7}}]}', "f.json").records
    assert record.size == len('{"b":null,"c":1e-07}')


UNSTORABLE = {
    "json NUL in a name": ('{"tenants": [{"apiKey": "k"}],\n "records": [{"tenant": "k", "type": "t", "name": "a\\u0000b"}]}',
                           ["f.json:2: records[0].name: contains \\u0000 or an unpaired surrogate"]),
    "json lone surrogates in metadata": (
        '{"tenants": [{"apiKey": "k"}], "records": [\n{"tenant": "k", "type": "t", "name": "n",\n'
        ' "metadata": {"low": "\\uDC00", "high": ["\\ud800x"]}}]}',
        ["f.json:3: records[0].metadata.high[0]: contains \\u0000 or an unpaired surrogate",
         "f.json:3: records[0].metadata.low: contains \\u0000 or an unpaired surrogate"]),
    "json NUL in a key": ('{"tenants": [{"apiKey": "k"}], "records": [{"tenant": "k", "type": "t", "name": "n",'
                          ' "metadata": {"k\\u0000": 1}}]}',
                          ["f.json:1: records[0].metadata: contains \\u0000 or an unpaired surrogate"]),
    "yaml NUL in a scenario's answer": ("scenarios:\n  - respond: {status: 200, body: {note: \"a\\0b\"}}\n",
                                        ["f.yaml:2: scenarios[0].respond.body.note: contains \\u0000 or an unpaired surrogate"]),
}


@pytest.mark.parametrize("text, problems", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_text_no_record_or_answer_can_hold_is_refused_where_it_is(text, problems):
    """NUL and lone surrogates, which the API refuses in a body: a fixture's were loaded (or, in
    a record's metadata, failed its sizing with a 500)."""
    with pytest.raises(FixtureError) as refused:
        parse_fixture(text, "f.json" if text.startswith("{") else "f.yaml")
    assert sorted(str(problem) for problem in refused.value.problems) == problems


@pytest.mark.parametrize("text", [
    '{"tenants": [{"apiKey": "k"}], "records": [{"tenant": "k", "type": "t", "name": "\\ud83d\\ude00 \\u00e9 \\\\u0000"}]}',
    'tenants: [{apiKey: k}]\nrecords: [{tenant: k, type: t, name: "tab\\there \\\\0 \\u00e9"}]\n',
])
def test_escapes_of_other_text_are_read_as_ever(text):
    """A surrogate pair (one character), an escaped backslash before `u0000` or `0`, a tab."""
    [record] = parse_fixture(text, "f").records
    assert "\x00" not in record.fields["name"]


def test_a_json_fixture_with_a_duplicate_key_is_refused_with_its_line():
    with pytest.raises(FixtureError) as raised:
        parse_fixture('{\n  "settings": {\n    "seed": 1,\n    "seed": 2\n  }\n}\n', "f.json")
    assert str(raised.value) == "f.json:4: settings.seed: duplicate key 'seed'"


def test_a_valid_document_never_pays_for_its_lines():
    fixture = parse_fixture("tenants:\n  - apiKey: a\nrecords:\n  - {tenant: a, type: t, name: n}\n", "f.yaml")
    assert fixture.lines is not None and fixture.lines._lines is None


def test_a_second_document_in_the_stream_is_refused():
    with pytest.raises(FixtureError, match="YAML"):
        parse_fixture("records: []\n---\nrecords: []\n", "f.yaml")
