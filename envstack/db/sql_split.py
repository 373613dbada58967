"""Splitting a SQL file into statements exactly as the Supabase CLI does.

The CLI stores each migration's statements in ``supabase_migrations.schema_migrations``; for
``migrate status`` to tell an edited file from an applied one, and for ``supabase migration
list`` to see the same history, we must produce the very same strings.

The oracle is the CLI pinned in tests/oracle/package-lock.json (2.117.0), whose migration
commands are TypeScript compiled with Bun; tests/integration/test_supabase_cli_oracle.py runs
it on the corpus in tests/oracle/migrations and compares the stored histories row by row.
Its tokenizer is a port of the older Go one (supabase/cli ``pkg/parser``), quirks included:

- a statement ends at a ``;`` outside quotes, ``$tag$`` bodies, comments and parentheses;
- comments are kept: a comment before a statement is part of that statement, and a
  trailing comment after the last ``;`` is a statement of its own;
- the trailing ``;`` run is removed, then white space is trimmed;
- a backslash outside quotes escapes the next character;
- ``BEGIN ATOMIC`` bodies run to the next ``END`` (case-insensitive, not word-bounded);
- a ``)`` that closes a nested parenthesis also closes the enclosing ones.

Where the TypeScript CLI differs from the Go one this module first ported (and it wins):

- it walks code points, not UTF-8 bytes, so a ``$tag`` may hold any Unicode letter or
  decimal digit (the Go CLI ended the tag at the first non-ASCII letter);
- white space is JavaScript's (``String.prototype.trim`` and ``\\s``): U+FEFF, the byte-order
  mark, is white space and U+0085 is not (Go's ``unicode.IsSpace`` is the other way round);
- ``BEGIN``/``ATOMIC``/``END`` match through ``toUpperCase``, so U+0131 (dotless i) matches
  ``I``; and the character before ``ATOMIC``/``BEGIN`` is a UTF-16 unit, so a letter outside
  the Basic Multilingual Plane there does not count as part of an identifier.

Do not "fix" the quirks, or stored histories diverge.
"""

from __future__ import annotations

from dataclasses import dataclass

# JavaScript's white space (String.prototype.trim, and \s in a /u regular expression), which
# differs from str.isspace (Python also counts \x1c-\x1f and \x85, and not \ufeff).
JS_SPACE = frozenset(
    "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def js_trim(text: str) -> str:
    """JavaScript's ``text.trim()``."""
    lead, tail = _trimmed(text)
    return text[lead:tail]


def _trimmed(text: str) -> tuple[int, int]:
    """Where ``text`` starts and ends once JavaScript's white space is cut from both ends."""
    lead = 0
    while lead < len(text) and text[lead] in JS_SPACE:
        lead += 1
    tail = len(text)
    while tail > lead and text[tail - 1] in JS_SPACE:
        tail -= 1
    return lead, tail


@dataclass(frozen=True)
class Statement:
    text: str
    offset: int  # index in the source of text's first character, for error line numbers


def split_statements(sql: str) -> list[str]:
    return [statement.text for statement in split_with_offsets(sql)]


def split_with_offsets(sql: str) -> list[Statement]:
    statements: list[Statement] = []
    state: _State = _Ready()
    start = 0
    for index, char in enumerate(sql):
        following = state.next(char, sql, start, index + 1)
        if following is None:
            _emit(sql, start, index + 1, statements)
            start = index + 1
            state = _Ready()
        else:
            state = following
    if start < len(sql):
        _emit(sql, start, len(sql), statements)
    return statements


def _emit(sql: str, start: int, end: int, into: list[Statement]) -> None:
    token = sql[start:end].rstrip(";")
    lead, tail = _trimmed(token)
    if tail > lead:
        into.append(Statement(token[lead:tail], start + lead))


def _is_identifier(char: str) -> bool:
    """/[\\p{L}\\p{Nd}_$]/u tested on one UTF-16 unit: a character outside the Basic
    Multilingual Plane arrives as a lone surrogate, which is no letter."""
    if ord(char) > 0xFFFF:
        return False
    return char.isalpha() or char.isdecimal() or char in "_$"


def _ends_with(sql: str, start: int, end: int, suffix: str, *, fold: bool = False) -> bool:
    """Whether the token ``sql[start:end]`` ends with ``suffix``."""
    if end - start < len(suffix):
        return False
    window = sql[end - len(suffix) : end]
    if fold:
        # toUpperCase, as in the CLI: U+0131 (dotless i) becomes "I". A character that upper-cases to
        # more than one (ß) or lies outside the BMP (a surrogate pair in JavaScript, whose
        # window of UTF-16 units is then shorter) can never equal the ASCII keyword either way.
        return window.upper() == suffix.upper()
    return window == suffix


class _State:
    def next(self, char: str, sql: str, start: int, end: int) -> _State | None:
        """The state after ``char`` (the last character of ``sql[start:end]``); None ends a statement."""
        raise NotImplementedError


class _Ready(_State):
    def next(self, char: str, sql: str, start: int, end: int) -> _State | None:
        if char == "$":
            return _Tag(end - 1)
        if char in "'\"":
            return _Quote(char)
        if char == "-":
            return _Dash()
        if char == "/":
            return _Block()
        if char == "\\":
            return _Escape()
        if char == ";":
            return None
        if char == "(":
            return _Nested(self, ")")
        if char in "cC" and _begins_atomic(sql, start, end):
            return _Nested(self, "END")
        return self


def _begins_atomic(sql: str, start: int, end: int) -> bool:
    """Whether the token ends with ``BEGIN <space> ATOMIC`` as whole words."""
    if not _ends_with(sql, start, end, "ATOMIC", fold=True):
        return False
    atomic = end - len("ATOMIC")
    if atomic > start and _is_identifier(sql[atomic - 1]):
        return False
    before = atomic
    while before > start and sql[before - 1] in JS_SPACE:
        before -= 1
    if not _ends_with(sql, start, before, "BEGIN", fold=True):
        return False
    begin = before - len("BEGIN")
    return begin == start or not _is_identifier(sql[begin - 1])


class _Dash(_State):
    """One ``-`` seen: a second one opens a line comment."""

    def next(self, char: str, sql: str, start: int, end: int) -> _State | None:
        if char == "-":
            return _Until("\n")
        return _Ready().next(char, sql, start, end)


class _Block(_State):
    """A ``/`` seen, then possibly nested ``/* */`` comments."""

    def __init__(self) -> None:
        self.depth = 0

    def next(self, char: str, sql: str, start: int, end: int) -> _State | None:
        if _ends_with(sql, start, end, "/*"):
            self.depth += 1
            return self
        if self.depth == 0:
            return _Ready().next(char, sql, start, end)
        if _ends_with(sql, start, end, "*/"):
            self.depth -= 1
            if self.depth == 0:
                return _Ready()
        return self


class _Quote(_State):
    """Inside '…' or "…"; a doubled delimiter stays inside."""

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self.closing = False

    def next(self, char: str, sql: str, start: int, end: int) -> _State | None:
        if self.closing:
            if char == self.delimiter:
                self.closing = False
                return self
            return _Ready().next(char, sql, start, end)
        if char == self.delimiter:
            self.closing = True
        return self


class _Until(_State):
    """Inside a $tag$ body or a line comment: nothing is escaped until the delimiter."""

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter

    def next(self, char: str, sql: str, start: int, end: int) -> _State | None:
        if _ends_with(sql, start, end, self.delimiter):
            return _Ready()
        return self


class _Tag(_State):
    """A ``$`` seen at ``offset``: letters, decimal digits and ``_`` up to another ``$`` make a tag."""

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def next(self, char: str, sql: str, start: int, end: int) -> _State | None:
        if char == "$":
            return _Until(sql[self.offset : end])
        # /[\\p{L}\\p{Nd}_]/u on a code point: any Unicode letter or decimal digit.
        if char.isalpha() or char.isdecimal() or char == "_":
            return self
        return _Ready().next(char, sql, start, end)


class _Escape(_State):
    def next(self, char: str, sql: str, start: int, end: int) -> _State | None:
        return _Ready()


class _Nested(_State):
    """Inside ``( … )`` or ``BEGIN ATOMIC … END``: semicolons do not end the statement."""

    def __init__(self, inner: _State, delimiter: str) -> None:
        self.inner = inner
        self.delimiter = delimiter

    def next(self, char: str, sql: str, start: int, end: int) -> _State | None:
        following = self.inner.next(char, sql, start, end)
        if following is not None:
            self.inner = following
        if isinstance(self.inner, _Ready) and _ends_with(sql, start, end, self.delimiter, fold=True):
            return _Ready()
        return self
