"""Pydantic models of the OpenAI chat-completions wire format (the subset Lodestar speaks).

Responses are parsed leniently (``extra="allow"``, most fields optional) because OpenAI-compatible servers differ
in what they fill in; requests are strict so that we never send a field by mistake.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionCall(_Lenient):
    name: str = ""
    arguments: str = ""


class ToolCall(_Lenient):
    id: str = ""
    type: Literal["function"] = "function"
    function: FunctionCall = Field(default_factory=FunctionCall)


class Message(_Lenient):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class ToolSpec(BaseModel):
    """A tool offered to the model (``tools=[...]`` in the request)."""

    type: Literal["function"] = "function"
    function: dict[str, Any]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[Message]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    n: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list[ToolSpec] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class TopLogprob(_Lenient):
    token: str
    logprob: float


class TokenLogprob(_Lenient):
    token: str
    logprob: float
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class ChoiceLogprobs(_Lenient):
    """Chat-format logprobs. Servers that answer in the legacy completions shape (llama-cpp-python does:
    ``tokens``/``token_logprobs``/``top_logprobs`` as dicts) are converted on the way in."""

    content: list[TokenLogprob] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_legacy(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("content") or not data.get("tokens"):
            return data
        tokens = data.get("tokens") or []
        lps = data.get("token_logprobs") or [None] * len(tokens)
        tops = data.get("top_logprobs") or [None] * len(tokens)
        content = []
        for token, lp, top in zip(tokens, lps, tops, strict=False):
            alternatives = [{"token": t, "logprob": v} for t, v in (top or {}).items() if v is not None]
            content.append({"token": token, "logprob": lp if lp is not None else -1e9, "top_logprobs": alternatives})
        return {"content": content}


class TokenUsage(_Lenient):
    """The ``usage`` object of one OpenAI response (not a run's totals: see :class:`agent.core.trace.Usage`)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class Choice(_Lenient):
    index: int = 0
    message: Message = Field(default_factory=lambda: Message(role="assistant"))
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatResponse(_Lenient):
    id: str = ""
    model: str = ""
    choices: list[Choice] = Field(default_factory=list)
    usage: TokenUsage | None = None


class DeltaFunction(_Lenient):
    name: str | None = None
    arguments: str | None = None


class DeltaToolCall(_Lenient):
    index: int = 0
    id: str | None = None
    function: DeltaFunction | None = None


class Delta(_Lenient):
    role: str | None = None
    content: str | None = None
    tool_calls: list[DeltaToolCall] | None = None


class ChunkChoice(_Lenient):
    index: int = 0
    delta: Delta = Field(default_factory=Delta)
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatChunk(_Lenient):
    id: str = ""
    model: str = ""
    choices: list[ChunkChoice] = Field(default_factory=list)
    usage: TokenUsage | None = None
