"""A run's report three ways: text for a person (each case: same, or its differences side by side),
JSON for a program, JUnit XML for CI (one testcase per case, a failure per case that differs)."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

from mock_runtype.conformance.runner import CaseResult, RunResult, StepResult

CELL = 38  # the width of a side's column in the text report
MAX_LINES = 12  # differences shown per step in the text report


def text(result: RunResult) -> str:
    lines = [f"conformance of {result.target} (type prefix {result.prefix})"]
    for case in result.cases:
        lines.append(f"  {case.name} {'.' * max(2, 34 - len(case.name))} {case.status.upper() if case.status != 'same' else 'same'}"
                     f" ({len(case.steps)} steps)")
        if case.status != "same":
            lines.extend(_case_lines(case))
    for name in result.not_run:
        lines.append(f"  {name} {'.' * max(2, 34 - len(name))} not run")
    counts = result.counts()
    lines.append(f"{counts['cases']} cases: {counts['same']} same, {counts['different']} different,"
                 f" {counts['errors']} errors" + (f", {counts['notRun']} not run (interrupted)" if result.interrupted else ""))
    lines.append(f"cleanup: {result.deleted} records deleted, {len(result.left_behind)} left"
                 + "".join(f"\n  cleanup problem: {problem}" for problem in result.cleanup_errors))
    return "\n".join(lines)


def _case_lines(case: CaseResult) -> list[str]:
    lines = []
    for number, step in enumerate(case.steps, 1):
        if step.same:
            continue
        lines.append(f"    step {number} {step.name!r}: {step.request}")
        if step.error:
            lines.append(f"      {step.error}")
        if step.differences:
            lines.append(f"      {'field':<{CELL}} {'target':<{CELL}} sandbox")
            for difference in step.differences[:MAX_LINES]:
                lines.append(f"      {_cell(difference.field):<{CELL}} {_cell(_shown(difference.target)):<{CELL}}"
                             f" {_cell(_shown(difference.sandbox), CELL * 2)}")
        if len(step.differences) > MAX_LINES:
            lines.append(f"      ... {len(step.differences) - MAX_LINES} more differences (the JSON report has them all)")
        for problem in step.schema[:MAX_LINES]:
            where = f" at {problem['path']}" if problem.get("path") else ""
            lines.append(f"      the target's answer breaks the document{where}: {problem['message']}")
    if case.error and not any(step.error for step in case.steps):
        lines.append(f"    {case.error}")
    return lines


def _shown(value: Any) -> str:
    return value if isinstance(value, str) and value.startswith("(") else json.dumps(value, ensure_ascii=False)


def _cell(value: str, width: int = CELL) -> str:
    return value if len(value) <= width else value[:width - 1] + "…"


def to_json(result: RunResult) -> str:
    return json.dumps(result.to_json(), indent=2, ensure_ascii=False)


def junit(result: RunResult) -> str:
    counts = result.counts()
    suite = ElementTree.Element("testsuite", name="mock-runtype conformance", tests=str(counts["cases"] + counts["notRun"]),
                                failures=str(counts["different"]), errors=str(counts["errors"]),
                                skipped=str(counts["notRun"]))
    properties = ElementTree.SubElement(suite, "properties")
    ElementTree.SubElement(properties, "property", name="target", value=result.target)
    ElementTree.SubElement(properties, "property", name="prefix", value=result.prefix)
    for case in result.cases:
        element = ElementTree.SubElement(suite, "testcase", classname="conformance", name=case.name, file=case.source)
        if case.status == "same":
            continue
        tag = "error" if case.status == "error" else "failure"
        steps = [step for step in case.steps if not step.same]
        ElementTree.SubElement(element, tag, message=_summary(case, steps)).text = "\n".join(_case_lines(case))
    for name in result.not_run:
        ElementTree.SubElement(ElementTree.SubElement(suite, "testcase", classname="conformance", name=name),
                               "skipped", message="interrupted")
    ElementTree.indent(suite)
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _summary(case: CaseResult, steps: list[StepResult]) -> str:
    if case.error:
        return case.error
    fields = [d.field for step in steps for d in step.differences] + \
             [f"schema {p.get('path') or p['message']}" for step in steps for p in step.schema]
    return f"{len(steps)} steps differ: " + ", ".join(dict.fromkeys(fields))
