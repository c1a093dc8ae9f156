"""``FastListDumper``: the same array text as psycopg's own ``ListDumper``, and what PostgreSQL
reads back is what was sent, on the connections Django opens."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.adapt import PyFormat, Transformer
from psycopg.types.array import ListDumper
from psycopg.types.json import Jsonb

from apps.core.arrays import FastListDumper

TRICKY = [
    'say "hi"',
    "back\\slash",
    "a,b",
    "{braces}",
    " padded ",
    "",
    "NULL",
    "null",
    "tab\there",
    "new\nline",
    "ünïcödé",
    '\\"',
    None,
]


def _dump(dumper_class: type[ListDumper], value: list[object]) -> bytes:
    tx = Transformer()
    dumper = dumper_class(list, tx).upgrade(value, PyFormat.TEXT)
    return bytes(dumper.dump(value))


@pytest.mark.parametrize(
    "value",
    [
        TRICKY,
        [1, None, -2, 3_000_000_000],
        [Decimal("1.50"), Decimal("-0.00000001"), None],
        [datetime(2026, 12, 5, 12, 0, 0, 123456, tzinfo=UTC), None],
        [[1, 2], [3, None]],
        [["x", 'y"'], ["z\\", None]],
        [Jsonb({"text": 'a "quoted" \\ value', "n": 1}), Jsonb([1, "two"]), None],
        [],
        [None, None],
    ],
)
def test_the_same_text_as_psycopgs_dumper(value):
    assert _dump(FastListDumper, value) == _dump(ListDumper, value)


@given(
    st.lists(
        st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
    )
)
@settings(max_examples=200, deadline=None)
def test_any_text_list_dumps_as_psycopg_does(value):
    assert _dump(FastListDumper, value) == _dump(ListDumper, value)


@pytest.mark.django_db
def test_django_connections_use_it_and_postgresql_reads_back_what_was_sent():
    connection.ensure_connection()
    raw = connection.connection
    assert raw.adapters.get_dumper(list, PyFormat.TEXT) is FastListDumper
    payloads = [{"text": s} for s in TRICKY if s is not None]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [TRICKY])
        assert cursor.fetchone()[0] == TRICKY
        cursor.execute("SELECT %s::jsonb[]", [[Jsonb(p) for p in payloads]])
        # Django's connections load jsonb as text (JSONField decodes it), so decode here too.
        assert [json.loads(v) for v in cursor.fetchone()[0]] == payloads
        cursor.execute("SELECT %s::numeric[]", [[Decimal("1.50"), None, Decimal("-2")]])
        assert cursor.fetchone()[0] == [Decimal("1.50"), None, Decimal("-2")]
