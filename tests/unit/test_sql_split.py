"""Statements split exactly as the Supabase CLI stores them in its migration history.

Every expectation below is what the CLI's own tokenizer (pkg/parser) returns for the input,
quirks included: the history is only shared with `supabase migration list` if the strings
are identical.
"""

from __future__ import annotations

import pytest

from envstack.sql_split import split_statements, split_with_offsets

CASES: list[tuple[str, str, list[str]]] = [
    (
        "comments stay with the next statement; a trailing one is a statement",
        "-- create the table\nCREATE TABLE t (n int);\n\nCREATE INDEX t_n ON t (n);\n-- trailing comment\n",
        ["-- create the table\nCREATE TABLE t (n int)", "CREATE INDEX t_n ON t (n)", "-- trailing comment"],
    ),
    (
        "quoted semicolons",
        "SELECT 'a;b'; SELECT \"x;y\" FROM t; SELECT 'it''s; fine'",
        ["SELECT 'a;b'", 'SELECT "x;y" FROM t', "SELECT 'it''s; fine'"],
    ),
    (
        "dollar-quoted bodies",
        "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql; SELECT $$;$$",
        ["CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql", "SELECT $$;$$"],
    ),
    (
        "nested block comments",
        "/* a; /* nested; */ still; */ SELECT 1; SELECT 2",
        ["/* a; /* nested; */ still; */ SELECT 1", "SELECT 2"],
    ),
    (
        "BEGIN ATOMIC bodies",
        "CREATE FUNCTION g() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND;\nSELECT 3;",
        ["CREATE FUNCTION g() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND", "SELECT 3"],
    ),
    (
        "the CLI's quirk: an inner ')' closes every parenthesis",
        "SELECT ((1); SELECT 2); SELECT 3",
        ["SELECT ((1)", "SELECT 2)", "SELECT 3"],
    ),
    (
        "a backslash escapes the next character",
        "SELECT 1 \\; SELECT 2; SELECT 3",
        ["SELECT 1 \\; SELECT 2", "SELECT 3"],
    ),
    ("the CLI's quirk: a non-ASCII letter ends a $tag", "SELECT $é$; SELECT 2;", ["SELECT $é$", "SELECT 2"]),
    ("empty statements vanish, CRLF is white space", "SELECT 1;;\r\n\r\n;  SELECT 2  ;\t", ["SELECT 1", "SELECT 2"]),
    ("Go's white space, not Python's", "\u00a0SELECT 1\u00a0;\u001cSELECT 2;", ["SELECT 1", "\u001cSELECT 2"]),
    ("nothing", "", []),
    ("only a comment", "  \n-- only a comment\n", ["-- only a comment"]),
]


@pytest.mark.parametrize(
    ("sql", "expected"), [(sql, expected) for _, sql, expected in CASES], ids=[case[0] for case in CASES]
)
def test_splits_like_the_supabase_cli(sql: str, expected: list[str]) -> None:
    assert split_statements(sql) == expected


@pytest.mark.parametrize("sql", [sql for _, sql, _ in CASES], ids=[case[0] for case in CASES])
def test_offsets_point_at_each_statement_in_the_source(sql: str) -> None:
    for statement in split_with_offsets(sql):
        assert sql[statement.offset : statement.offset + len(statement.text)] == statement.text
