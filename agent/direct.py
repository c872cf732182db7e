"""Direct mode: one summarizer call, streamed when someone watches. The baseline every other mode is compared with."""

from __future__ import annotations

from collections.abc import Callable

from agent.llm import LLM
from agent.trace import Answer

SYSTEM = (
    "You are Lodestar, a careful research assistant. Answer the user's question concisely and accurately. "
    "If you do not know, say so plainly instead of guessing."
)


async def answer_direct(question: str, summarizer: LLM, on_delta: Callable[[str], None] | None = None) -> Answer:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    text = await summarizer.respond(messages, on_delta)
    return Answer(text=text.strip())
