"""Direct mode: one summarizer call, streamed. The baseline every other mode is compared with."""

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
    if summarizer.capabilities.streaming:
        async with summarizer.stream(messages) as stream:
            async for piece in stream:
                if on_delta is not None:
                    on_delta(piece)
        text = stream.completion.text if stream.completion else ""
    else:
        completion = await summarizer.complete(messages)
        text = completion.text
        if on_delta is not None:
            on_delta(text)
    return Answer(text=text.strip())
