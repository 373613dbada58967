"""Splitting a SQL file into statements exactly as the Supabase CLI does.

The CLI stores each migration's statements in ``supabase_migrations.schema_migrations``; for
``migrate status`` to tell an edited file from an applied one, and for ``supabase migration
list`` to see the same history, we must produce the very same strings. This is a
reimplementation of the CLI's tokenizer (supabase/cli ``pkg/parser/state.go`` and
``pkg/parser/token.go``, unchanged since commit cad09571874a22db60da5ecbfcc047bf35cf6e0a,
now under ``apps/cli-go/``), including its quirks:

- a statement ends at a ``;`` outside quotes, ``$tag$`` bodies, comments and parentheses;
- comments are kept: a comment before a statement is part of that statement, and a
  trailing comment after the last ``;`` is a statement of its own;
- the trailing ``;`` and surrounding white space (Go's definition) are trimmed;
- a backslash outside quotes escapes the next character;
- ``BEGIN ATOMIC`` bodies run to the next ``END`` (case-insensitive, not word-bounded);
- a ``)`` that closes a nested parenthesis also closes the enclosing ones.

Differential checks against the CLI's Go code agree on every input we generated (see the
report that introduced this module); do not "fix" the quirks, or stored histories diverge.
"""

from __future__ import annotations

from dataclasses import dataclass

# Go's unicode.IsSpace, which differs from str.isspace (Python also strips \x1c-\x1f).
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


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
    lead = 0
    while lead < len(token) and token[lead] in _GO_SPACE:
        lead += 1
    tail = len(token)
    while tail > lead and token[tail - 1] in _GO_SPACE:
        tail -= 1
    if tail > lead:
        into.append(Statement(token[lead:tail], start + lead))


def _is_identifier(char: str) -> bool:
    # Go's unicode.IsLetter / IsDigit: Unicode categories L* and Nd.
    return char.isalpha() or char.isdecimal() or char in "_$"


def _ends_with(sql: str, start: int, end: int, suffix: str, *, fold: bool = False) -> bool:
    """Whether the token ``sql[start:end]`` ends with ``suffix``."""
    if end - start < len(suffix):
        return False
    window = sql[end - len(suffix) : end]
    if fold:
        # Only ASCII can fold onto the ASCII keywords byte for byte, as in the CLI.
        return window.isascii() and window.lower() == suffix.lower()
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
    while before > start and sql[before - 1] in _GO_SPACE:
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
    """A ``$`` seen at ``offset``: letters, digits and ``_`` up to another ``$`` make a tag."""

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def next(self, char: str, sql: str, start: int, end: int) -> _State | None:
        if char == "$":
            return _Until(sql[self.offset : end])
        # The CLI walks UTF-8 bytes and sees a non-ASCII letter as that letter followed by
        # U+FFFD (Go's decoding of the continuation byte), which ends the tag: so only
        # ASCII letters and digits can make one.
        if char.isascii() and (char.isalnum() or char == "_"):
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
