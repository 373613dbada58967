"""Splitting a SQL file into statements, the way psql would execute them.

Semicolons end a statement except inside quotes, quoted identifiers, dollar-quoted
bodies (functions, DO blocks) and comments. Each statement is returned trimmed and with
its terminating semicolon, as the Supabase CLI stores them in its history.
"""

from __future__ import annotations

import re

_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


def split_statements(text: str) -> list[str]:
    statements: list[str] = []
    start = i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == "-" and text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end == -1 else end + 1
        elif char == "/" and text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif char in ("'", '"'):
            i += 1
            while i < n:
                if text[i] == char:
                    if i + 1 < n and text[i + 1] == char:  # doubled quote escapes itself
                        i += 2
                        continue
                    break
                i += 1
            i += 1
        elif char == "$" and (match := _DOLLAR_TAG.match(text, i)):
            end = text.find(match.group(), match.end())
            i = n if end == -1 else end + len(match.group())
        elif char == ";":
            statement = text[start : i + 1].strip()
            if _has_code(statement):
                statements.append(statement)
            start = i = i + 1
        else:
            i += 1
    tail = text[start:].strip()
    if _has_code(tail):
        statements.append(tail)
    return statements


def _has_code(statement: str) -> bool:
    without_comments = re.sub(r"--[^\n]*|/\*.*?\*/", "", statement, flags=re.S)
    return bool(without_comments.strip().strip(";").strip())
