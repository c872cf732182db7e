"""The status classes of an endpoint error and the one-line formatters: one home each."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from agent.core.errors import BadInputError, EndpointError, error_line, one_line, validation_line
from agent.core.secrets import register_secret


@pytest.mark.parametrize(
    ("status", "retryable", "refused", "fatal"),
    [
        (400, False, True, False),
        (404, False, True, False),
        (422, False, True, False),
        (401, False, False, True),
        (403, False, False, True),
        (408, True, False, False),
        (429, True, False, False),
        (500, True, False, False),
        (503, True, False, False),
        (501, False, False, True),
        (None, False, False, True),
    ],
)
def test_status_classes(status: int | None, retryable: bool, refused: bool, fatal: bool) -> None:
    exc = EndpointError("x", status=status)
    assert (exc.retryable, exc.refused, exc.fatal) == (retryable, refused, fatal)


def test_an_explicit_retryable_wins_for_connection_failures() -> None:
    assert EndpointError("refused", retryable=True).retryable


def test_error_line_keeps_our_messages_and_marks_bugs() -> None:
    register_secret("sk-test-secret-123456")
    assert error_line(BadInputError("no such\nfile")) == "no such file"
    line = error_line(KeyError("key sk-test-secret-123456\n  here"))
    assert line.startswith("internal error: KeyError: ") and "sk-test" not in line and "\n" not in line
    assert one_line("a" * 500, 10) == "a" * 9 + "…"


class Model(BaseModel):
    a: int
    b: int


def test_validation_line_names_the_key_and_counts_the_rest() -> None:
    with pytest.raises(ValidationError) as info:
        Model.model_validate({"a": "x"})
    assert (
        validation_line(info.value)
        == "a: Input should be a valid integer, unable to parse string as an integer (and 1 more)"
    )
    both = validation_line(info.value, show=2, inputs=True)
    assert both.startswith("a: Input should be a valid integer") and '(got "x")' in both and "b: Field required" in both
