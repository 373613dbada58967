"""Statements split exactly as the Supabase CLI stores them in its migration history.

Every expectation below is what the CLI's own tokenizer returns for the input, quirks included:
the history is only shared with `supabase migration list` if the strings are identical. The
CLI pinned in tests/oracle (2.117.0, TypeScript) wins where it differs from the Go CLI this
splitter first ported; tests/integration/test_supabase_cli_oracle.py checks the corpus in
tests/oracle/migrations against the real CLI.
"""

from __future__ import annotations

import pytest

from envstack.db.sql_split import split_statements, split_with_offsets

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
    (
        "a $tag may hold any Unicode letter (the Go CLI ended it at the first non-ASCII one)",
        "SELECT $é$;$é$; SELECT $тег_1$ a; b $тег_1$; SELECT 3",
        ["SELECT $é$;$é$", "SELECT $тег_1$ a; b $тег_1$", "SELECT 3"],
    ),
    ("empty statements vanish, CRLF is white space", "SELECT 1;;\r\n\r\n;  SELECT 2  ;\t", ["SELECT 1", "SELECT 2"]),
    (
        "JavaScript's white space: U+FEFF is, U+0085 and U+001C are not",
        "\ufeff\u00a0SELECT 1\u00a0;\u001cSELECT 2;\u0085SELECT 3\u0085;\ufeffSELECT 4\ufeff",
        ["SELECT 1", "\u001cSELECT 2", "\u0085SELECT 3\u0085", "SELECT 4"],
    ),
    (
        "toUpperCase matches a dotless i in ATOMIC",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOM\u0131C SELECT 1; END; SELECT 2",
        ["CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOM\u0131C SELECT 1; END", "SELECT 2"],
    ),
    (
        "a letter outside the BMP before BEGIN is no identifier character (a UTF-16 surrogate)",
        "SELECT \U0001d400BEGIN ATOMIC SELECT 1; END; SELECT \u00e9BEGIN ATOMIC; SELECT 2",
        ["SELECT \U0001d400BEGIN ATOMIC SELECT 1; END", "SELECT \u00e9BEGIN ATOMIC", "SELECT 2"],
    ),
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
