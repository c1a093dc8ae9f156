"""No code path writes an audited model without auditlog seeing it.

django-auditlog hears model signals only: ``QuerySet.update()``, ``bulk_create()``,
``bulk_update()``, ``_raw_delete()`` and raw SQL on an audited model's table leave no trace.
This test reads every module of the project (migrations aside) and fails on a new one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from auditlog.registry import auditlog
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
SOURCES = ["apps", "plugins", "config", "scripts"]
BYPASSING = {"update", "bulk_create", "bulk_update", "_raw_delete", "raw", "_update"}


def audited_models():  # type: ignore[no-untyped-def]
    return list(auditlog.get_models())


def python_files():  # type: ignore[no-untyped-def]
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


def _root_name(node: ast.AST) -> str | None:
    """The name a call chain starts from: ``TradingAccount`` in ``TradingAccount.objects.filter().update()``."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Name):
            return node.id
        else:
            return None


def orm_bypasses(source: str, names: set[str]) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in BYPASSING:
            root = _root_name(node.func.value)
            if root in names:
                found.append(f"line {node.lineno}: {root}….{node.func.attr}()")
    return found


def sql_bypasses(source: str, tables: set[str]) -> list[str]:
    pattern = re.compile(
        r"\b(UPDATE|INSERT\s+INTO|DELETE\s+FROM|TRUNCATE)\s+\"?(" + "|".join(map(re.escape, tables)) + r")\b",
        re.IGNORECASE,
    )
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for match in pattern.finditer(node.value):
                found.append(f"line {node.lineno}: SQL {match.group(1)} {match.group(2)}")
    return found


def test_the_audited_models_are_the_mutable_ones():
    labels = {model._meta.label for model in audited_models()}
    assert {
        "accounts.TradingAccount",
        "accounts.TradingAccountUserObjectPermission",
        "accounts.TradingAccountGroupObjectPermission",
        "instruments.Instrument",
        "instruments.ReferencePrice",
        "risk.RiskLimits",
        "risk.TradingState",
        "risk.RestrictedInstrument",
        "brokers.AccountRoute",
        "users.User",
        "auth.Group",
    } <= labels


def test_no_code_bypasses_auditlog_on_an_audited_model():
    models = audited_models()
    names = {model.__name__ for model in models}
    tables = {model._meta.db_table for model in models}
    problems = []
    for path in python_files():
        source = path.read_text()
        for problem in orm_bypasses(source, names) + sql_bypasses(source, tables):
            problems.append(f"{path.relative_to(ROOT)} {problem}")
    assert problems == [], "writes that auditlog cannot see:\n" + "\n".join(problems)


def test_the_checker_catches_each_kind_of_bypass():
    names, tables = {"TradingState"}, {"risk_tradingstate"}
    source = """
TradingState.objects.filter(pk=1).update(state="halted")
TradingState.objects.bulk_create([])
TradingState.objects.all().bulk_update([], ["state"])
cursor.execute("UPDATE risk_tradingstate SET state = 'active'")
cursor.execute('DELETE FROM "risk_tradingstate"')
Order.objects.filter(pk=1).update(status="new")
"""
    assert len(orm_bypasses(source, names)) == 3
    assert len(sql_bypasses(source, tables)) == 2
