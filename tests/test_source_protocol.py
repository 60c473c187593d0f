"""Every registered reconciler source satisfies the `Source` protocol the run loop is typed against."""

from __future__ import annotations

import inspect

import pytest

from receiver.config import Settings
from receiver.vendors import VENDORS
from reconciler import sources
from reconciler.core.source import Source

SOURCE_CLASSES = [cls for group in sources.load(VENDORS).values() for cls in group]
PROTOCOL_METHODS = sorted(
    name for name, value in vars(Source).items() if inspect.isfunction(value) and not name.startswith("_")
)


def test_the_protocol_lists_what_the_run_loop_uses():
    assert set(PROTOCOL_METHODS) == {
        "problems",
        "is_configured",
        "explain",
        "prepare",
        "claim",
        "fetch",
        "land",
        "failed",
    }
    assert set(Source.__annotations__) == {"name", "budget_name", "since_help", "rate_limit", "call_timeout"}


@pytest.mark.parametrize("source_class", SOURCE_CLASSES, ids=lambda cls: cls.__name__)
def test_every_source_works_a_ledger_its_vendor_declares(source_class):
    ledger = VENDORS.ledgers[source_class.name]
    assert ledger.budget == source_class.budget_name


@pytest.mark.parametrize("source_class", SOURCE_CLASSES, ids=lambda cls: cls.__name__)
def test_registered_source_satisfies_the_protocol(source_class):
    # Unconfigured settings: sources are built this way by `callrecon status` and `--source all`.
    source = source_class(Settings.from_env({"DATABASE_URL": "postgresql://unused/x"}, VENDORS))
    assert isinstance(source, Source)
    assert isinstance(source.name, str) and isinstance(source.budget_name, str)
    assert source.call_timeout > 0


@pytest.mark.parametrize("source_class", SOURCE_CLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("method", PROTOCOL_METHODS)
def test_source_methods_take_the_protocols_parameters(source_class, method):
    """isinstance checks only that members exist; the run loop also relies on their parameters."""
    expected = list(inspect.signature(getattr(Source, method)).parameters)
    assert list(inspect.signature(getattr(source_class, method)).parameters) == expected
