"""Vercel's rules for variable names, sizes and targets, which both the settings and the Vercel
provider enforce: a bad one fails at `pulumi preview` with the key named, and again at the
API's door."""

from __future__ import annotations

import re

# The environments a variable may target: Vercel's three, or a custom environment's id.
STANDARD_TARGETS = ("production", "preview", "development")
CUSTOM_ENVIRONMENT = re.compile(r"env_[A-Za-z0-9]+")


def is_target(value: object) -> bool:
    return value in STANDARD_TARGETS or (isinstance(value, str) and CUSTOM_ENVIRONMENT.fullmatch(value) is not None)


# Vercel's limit for all variables of one deployment together, hence for any one of them too
# (vercel.com/docs/environment-variables#environment-variable-size).
VERCEL_MAX_TOTAL_BYTES = 64 * 1024

# What Vercel accepts as a variable name, and the names its function runtimes reserve
# (vercel.com/docs/environment-variables/reserved-environment-variables).
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_NAMES = frozenset(
    {
        "AWS_SECRET_KEY",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "NOW_REGION",
        "TZ",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an app variable, or None when it can."""
    if not NAME_PATTERN.fullmatch(name):
        return f"{name!r} is not a valid variable name (letters, digits and _, not starting with a digit)"
    if name in RESERVED_NAMES:
        return f"{name} is reserved by Vercel's function runtimes"
    return None
