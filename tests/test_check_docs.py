"""docs/checks.md lists every suite and expectation with its severity, exactly as defined."""

from crmguard.quality.catalog import all_suites
from crmguard.quality.docs import CHECKS_DOC, updated
from crmguard.quality.spec import expectation_name


def test_catalogue_in_docs_is_current() -> None:
    text = CHECKS_DOC.read_text()
    assert text == updated(text), "docs/checks.md is stale: run `.venv/bin/python -m crmguard.quality.docs`"


def test_every_expectation_is_named_once_per_suite_with_a_known_severity() -> None:
    for suite in all_suites():
        names = [expectation_name(e) for e in suite.expectations]
        assert len(names) == len(set(names)), suite.name
        assert {e.severity.value for e in suite.expectations} <= {"critical", "warning"}
        assert all(f"| `{n}` |" in CHECKS_DOC.read_text() for n in names)
