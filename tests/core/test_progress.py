"""Progress bars: drawn on a terminal, never in captured output or logs (``apps.core.progress``)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from apps.core.progress import progress, progress_bars


class FakeTerminal(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def drew_a_bar(text: str) -> bool:
    return "\r" in text and "%|" in text


def test_a_bar_is_drawn_on_a_terminal_only() -> None:
    quiet, terminal = io.StringIO(), FakeTerminal()
    assert sum(progress(range(50), desc="items", stream=quiet)) == sum(range(50))
    assert quiet.getvalue() == ""
    assert list(progress(range(50), desc="items", unit="item", stream=terminal)) == list(range(50))
    assert drew_a_bar(terminal.getvalue()) and "items: 100%|" in terminal.getvalue()
    assert "50/50" in terminal.getvalue()

    switched_off = FakeTerminal()
    with progress(total=3, stream=switched_off, enabled=False) as bar:
        bar.update(3)
    assert switched_off.getvalue() == ""


def test_one_bar_per_part_opened_when_it_first_reports() -> None:
    terminal = FakeTerminal()
    with progress_bars(unit="record", stream=terminal) as on_progress:
        on_progress("ledger", 0, 4)
        on_progress("ledger", 4, 4)
        on_progress("order-events", 2, 2)
    text = terminal.getvalue()
    assert "ledger: 100%|" in text and "order-events: 100%|" in text


@pytest.mark.django_db(transaction=True)
def test_the_long_commands_draw_bars_on_a_terminal_and_stay_quiet_otherwise(funded, tmp_path) -> None:  # type: ignore[no-untyped-def]
    captured = []
    for name, args in (("verify_ledger", []), ("verify_audit", []), ("export_records", [str(tmp_path / "quiet")])):
        out, err = io.StringIO(), io.StringIO()
        call_command(name, *args, stdout=out, stderr=err)
        captured.append(err.getvalue() + out.getvalue())
    out, err = io.StringIO(), io.StringIO()
    call_command("verify_export", str(tmp_path / "quiet"), stdout=out, stderr=err)
    captured.append(err.getvalue() + out.getvalue())
    assert "export OK" in captured[-1]
    for text in captured:
        assert "\r" not in text and "%|" not in text, text

    on_terminal = {}
    for name, args in (
        ("verify_ledger", []),
        ("export_records", [str(tmp_path / "terminal")]),
        ("verify_export", [str(tmp_path / "terminal")]),
    ):
        err = FakeTerminal()
        call_command(name, *args, stdout=io.StringIO(), stderr=err)
        on_terminal[name] = err.getvalue()
    assert drew_a_bar(on_terminal["verify_ledger"]) and "ledger accounts: 100%|" in on_terminal["verify_ledger"]
    assert "hash chain: 100%|" in on_terminal["verify_ledger"]
    assert "ledger: 100%|" in on_terminal["export_records"]
    assert "ledger: 100%|" in on_terminal["verify_export"]
    assert "\n\n" not in on_terminal["export_records"]  # refreshes overwrite the line; no blank lines
