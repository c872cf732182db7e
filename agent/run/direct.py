"""Direct mode: one summarizer call, streamed when someone watches. The baseline every other mode is compared with."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agent.core.trace import Answer
from agent.llm.client import LLM
from agent.run.conversation import Turn, as_messages

SYSTEM = (
    "You are Lodestar, a careful research assistant. Answer the user's question concisely and accurately. "
    "If you do not know, say so plainly instead of guessing."
)


async def answer_direct(
    question: str, summarizer: LLM, on_delta: Callable[[str], None] | None = None, *, history: Sequence[Turn] = ()
) -> Answer:
    """Answer from the model alone, with the conversation's recent turns as context."""
    messages = [{"role": "system", "content": SYSTEM}, *as_messages(history), {"role": "user", "content": question}]
    text = await summarizer.respond(messages, on_delta)
    return Answer(text=text.strip())
