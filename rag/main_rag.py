"""MAIN-RAG (Chang et al., 2025; docs/algorithms.md §1): training-free multi-agent filtering of retrieved documents.

Agent-1 (predictor) answers the question from each document alone; Agent-2 (judge) scores each (document,
question, answer) triplet with log p(Yes) − log p(No) of its first token; the adaptive bar τ = mean − n·σ keeps
documents scoring at least τ, sorted by score, descending; Agent-3 (final predictor) answers from those, citing
them. Predictor→judge chains for all documents run concurrently.

Without logprobs the judge falls back, in order, to a sampling estimate, a verbalized probability and a binary
±1 (each result records which ran). ``score_mix`` > 0 adds a documented variant for judges that cannot tell
relevant from irrelevant (e.g. a 135M model): z-normalised judge scores mixed with z-normalised retrieval
similarities.
"""

from __future__ import annotations

import asyncio
import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, field_validator

from agent.core.config import RagSettings
from agent.core.errors import EndpointError, ModelOutputError
from agent.core.untrusted import data_block, sanitize
from agent.llm.client import LLM, Completion, logsumexp
from rag import prompts
from rag.retrieve import RetrievedDoc

if TYPE_CHECKING:
    from agent.core.trace import Trace
    from agent.llm.hub import LLMHub

Method = Literal["logprobs", "sampling", "verbal", "binary"]
METHODS: tuple[Method, ...] = ("logprobs", "sampling", "verbal", "binary")
SAMPLING_ALPHA = 0.5
SMALL_TOP_LOGPROBS = 5
VERBAL_CLIP = 0.01
_VERDICT = re.compile(r"[A-Za-z]+")
_CITATION = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_TOKEN_MARKS = " \t\n\u2581\u0120\"'*:.,!"  # whitespace, SentencePiece/GPT-2 word marks, stray punctuation


@dataclass(frozen=True)
class RagAgents:
    """The three MAIN-RAG agents as role handles: predictor and final use "summarizer", the judge "judge"."""

    predictor: LLM
    judge: LLM
    final: LLM

    @classmethod
    def from_hub(cls, hub: LLMHub, trace: Trace | None = None) -> RagAgents:
        summarizer = hub.llm("summarizer", trace)
        return cls(predictor=summarizer, judge=hub.llm("judge", trace), final=summarizer)


class JudgedDoc(BaseModel):
    doc: RetrievedDoc
    prediction: str = ""
    judge_score: float = 0.0
    method: str = ""
    score: float = 0.0
    kept: bool = False


class MainRagResult(BaseModel):
    answer: str
    docs: list[JudgedDoc] = Field(description="every retrieved document, in retrieval order, with its scores")
    kept: list[JudgedDoc] = Field(description="documents given to Agent-3, highest score first")
    cited: list[JudgedDoc] = Field(description="documents the answer cites (all kept ones if it cites none)")
    threshold: float
    n: float
    scoring: str
    used_all: bool = Field(False, description="no document reached the bar, so all were used (fallback)")


class VerbalJudgment(BaseModel):
    relevant: Literal["Yes", "No"]
    p_yes: float = Field(ge=0, le=1)

    @field_validator("relevant", mode="before")
    @classmethod
    def _case(cls, value: object) -> object:
        return value.strip().capitalize() if isinstance(value, str) else value


# -- prompts ----------------------------------------------------------------------------------------------------


def document_text(doc: RetrievedDoc) -> str:
    """The document as the agents see it: its title (if the text does not start with it), then the text."""
    title = doc.title.strip()
    if title and not doc.text.lstrip().lower().startswith(title.lower()[:40]):
        return f"{title}\n{doc.text}"
    return doc.text


def predictor_messages(question: str, doc: RetrievedDoc) -> list[dict[str, str]]:
    user = prompts.PREDICTOR_USER.format(document=data_block("document", document_text(doc)), question=question)
    return [{"role": "system", "content": prompts.PREDICTOR_SYSTEM}, {"role": "user", "content": user}]


def judge_messages(question: str, doc: RetrievedDoc, answer: str, *, verbal: bool = False) -> list[dict[str, str]]:
    template = prompts.JUDGE_VERBAL_USER if verbal else prompts.JUDGE_USER
    user = template.format(
        document=data_block("document", document_text(doc)),
        question=question,
        answer=data_block("llm answer", answer.strip() or prompts.NO_ANSWER),
    )
    return [{"role": "system", "content": prompts.JUDGE_SYSTEM}, {"role": "user", "content": user}]


def final_messages(question: str, docs: Sequence[RetrievedDoc]) -> list[dict[str, str]]:
    blocks = "\n\n".join(
        prompts.FINAL_DOCUMENT.format(number=i, document=data_block(f"document {i}", document_text(d)))
        for i, d in enumerate(docs, 1)
    )
    user = prompts.FINAL_USER.format(documents=blocks, question=question)
    return [{"role": "system", "content": prompts.FINAL_SYSTEM}, {"role": "user", "content": user}]


# -- judge scoring ----------------------------------------------------------------------------------------------


def _verdict_of(token: str) -> str | None:
    word = token.strip(_TOKEN_MARKS).lower()
    return word if word in ("yes", "no") else None


def logprob_score(top: dict[str, float]) -> float:
    """log p(Yes) − log p(No) from one position's top logprobs, summing surface variants (Yes, " Yes", yes, YES …).

    A side missing from the top list gets min(top) − 1: below everything seen, so the score stays finite.
    """
    yes = [lp for tok, lp in top.items() if _verdict_of(tok) == "yes"]
    no = [lp for tok, lp in top.items() if _verdict_of(tok) == "no"]
    floor = min(top.values()) - 1.0 if top else -20.0
    return (logsumexp(yes) if yes else floor) - (logsumexp(no) if no else floor)


def first_verdict(text: str) -> str | None:
    match = _VERDICT.search(text or "")
    return _verdict_of(match.group(0)) if match else None


class Judge:
    """Agent-2 with its fallback chain; ``score`` returns (score, method that produced it)."""

    def __init__(self, llm: LLM, settings: RagSettings) -> None:
        self.llm = llm
        self.settings = settings
        if settings.judge_scoring == "auto":
            self.start: Method = "logprobs" if llm.capabilities.logprobs else "sampling"
        else:
            self.start = settings.judge_scoring
        self._top_logprobs = settings.judge_top_logprobs

    async def score(self, question: str, doc: RetrievedDoc, answer: str) -> tuple[float, Method]:
        for method in METHODS[METHODS.index(self.start) :]:
            value = await getattr(self, f"_{method}")(question, doc, answer)
            if value is not None:
                return value, method
        raise AssertionError("the binary judge always scores")  # pragma: no cover

    async def _logprobs(self, question: str, doc: RetrievedDoc, answer: str) -> float | None:
        messages = judge_messages(question, doc, answer)
        while True:
            asked = self._top_logprobs
            try:
                done = await self.llm.complete(
                    messages,
                    max_tokens=1,
                    temperature=0,
                    logprobs=True,
                    top_logprobs=asked,
                )
                break
            except EndpointError as exc:
                if not exc.refused:  # e.g. no logprobs here
                    raise
                if asked <= SMALL_TOP_LOGPROBS:
                    return None
                # Some servers cap top_logprobs (vLLM's --max-logprobs, often 5): ask for fewer, once, for all docs.
                self._top_logprobs = SMALL_TOP_LOGPROBS
        top = done.first_token_top_logprobs()
        return logprob_score(top) if top else None

    async def _sampling(self, question: str, doc: RetrievedDoc, answer: str) -> float | None:
        messages = judge_messages(question, doc, answer)
        base_seed = self.llm.role.seed

        async def one(i: int) -> Completion:
            seed = None if base_seed is None else base_seed + i
            return await self.llm.complete(messages, max_tokens=3, temperature=1.0, seed=seed)

        samples = await asyncio.gather(*(one(i) for i in range(self.settings.sampling_m)))
        verdicts = [first_verdict(s.text) for s in samples]
        yes, no = verdicts.count("yes"), verdicts.count("no")
        if yes + no == 0:
            return None
        return math.log((yes + SAMPLING_ALPHA) / (no + SAMPLING_ALPHA))

    async def _verbal(self, question: str, doc: RetrievedDoc, answer: str) -> float | None:
        try:
            judgment = await self.llm.complete_json(
                judge_messages(question, doc, answer, verbal=True),
                VerbalJudgment,
                max_tokens=48,
                temperature=0,
                repairs=1,
            )
        except ModelOutputError:
            return None
        except EndpointError as exc:
            if exc.refused:
                return None
            raise
        p = min(max(judgment.p_yes, VERBAL_CLIP), 1 - VERBAL_CLIP)
        return math.log(p / (1 - p))

    async def _binary(self, question: str, doc: RetrievedDoc, answer: str) -> float:
        done = await self.llm.complete(judge_messages(question, doc, answer), max_tokens=3, temperature=0)
        return 1.0 if first_verdict(done.text) == "yes" else -1.0


# -- the bar ----------------------------------------------------------------------------------------------------


def zscores(values: Sequence[float]) -> list[float]:
    if not values:
        return []
    mean = statistics.fmean(values)
    std = statistics.pstdev(values)
    return [0.0 if std == 0 else (v - mean) / std for v in values]


def mix_scores(judge: Sequence[float], similarity: Sequence[float], weight: float) -> list[float]:
    """(1 − w)·z(judge) + w·z(similarity); with w = 0 the raw judge scores are kept (the faithful method)."""
    if weight <= 0:
        return list(judge)
    zj, zs = zscores(judge), zscores(similarity)
    return [(1 - weight) * a + weight * b for a, b in zip(zj, zs, strict=False)]


def judge_bar(scores: Sequence[float], n: float) -> float:
    """τ = mean − n·σ, σ the population standard deviation (as RAGentA's np.std)."""
    if not scores:
        return 0.0
    return statistics.fmean(scores) - n * statistics.pstdev(scores)


def select(judged: list[JudgedDoc], n: float) -> tuple[float, list[JudgedDoc], bool]:
    """Mark documents at or above the bar; return (bar, kept highest first, whether all were used as fallback)."""
    threshold = judge_bar([j.score for j in judged], n)
    tolerance = 1e-9 * max(1.0, abs(threshold))  # the mean of equal scores must not fall just above them
    for j in judged:
        j.kept = j.score >= threshold - tolerance
    kept = sorted((j for j in judged if j.kept), key=lambda j: -j.score)  # stable: ties keep retrieval order
    if kept:
        return threshold, kept, False
    for j in judged:
        j.kept = True
    return threshold, sorted(judged, key=lambda j: -j.score), True


def reorder(docs: Sequence[JudgedDoc]) -> list[JudgedDoc]:
    """Long-context reordering (docs/algorithms.md §5.3): best at both ends, weakest in the middle."""
    return list(docs[0::2]) + list(docs[1::2])[::-1]


def cited_numbers(text: str, count: int) -> list[int]:
    """Document numbers cited as [n] or [n, m] in ``text``, in order of first citation, within 1..count."""
    seen: list[int] = []
    for match in _CITATION.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            number = int(part)
            if 1 <= number <= count and number not in seen:
                seen.append(number)
    return seen


def scoring_label(methods: Sequence[str], weight: float) -> str:
    used = [m for m in METHODS if m in methods]
    label = "+".join(used) or "none"
    return f"{label}+similarity({weight:g})" if weight > 0 else label


# -- the pipeline -----------------------------------------------------------------------------------------------


async def predict(llm: LLM, question: str, doc: RetrievedDoc, max_tokens: int) -> str:
    done = await llm.complete(predictor_messages(question, doc), max_tokens=max_tokens, temperature=0)
    return sanitize(done.text).strip()


async def score_documents(
    question: str, docs: Sequence[RetrievedDoc], agents: RagAgents, settings: RagSettings, *, predictor_max_tokens: int
) -> list[JudgedDoc]:
    """Agent-1 then Agent-2 for every document, all chains at once; scores mixed per ``score_mix``."""
    judge = Judge(agents.judge, settings)

    async def chain(doc: RetrievedDoc) -> JudgedDoc:
        prediction = await predict(agents.predictor, question, doc, predictor_max_tokens)
        value, method = await judge.score(question, doc, prediction)
        return JudgedDoc(doc=doc, prediction=prediction, judge_score=value, method=method)

    judged = list(await asyncio.gather(*(chain(d) for d in docs)))
    mixed = mix_scores([j.judge_score for j in judged], [j.doc.similarity for j in judged], settings.score_mix)
    for j, value in zip(judged, mixed, strict=False):
        j.score = value
    return judged


async def answer_from(
    llm: LLM,
    question: str,
    docs: Sequence[RetrievedDoc],
    *,
    on_delta: Callable[[str], None] | None = None,
    max_tokens: int | None = None,
) -> str:
    """Agent-3 (also plain RAG's generator): answer from numbered documents, streamed through ``on_delta``."""
    messages = final_messages(question, docs)
    options = {"temperature": 0, "max_tokens": max_tokens}
    return await llm.respond(messages, on_delta, **options)


async def main_rag(
    question: str,
    docs: Sequence[RetrievedDoc],
    agents: RagAgents,
    settings: RagSettings,
    *,
    predictor_max_tokens: int | None = None,
    on_delta: Callable[[str], None] | None = None,
    on_scored: Callable[[list[JudgedDoc], float, list[JudgedDoc], str], None] | None = None,
) -> MainRagResult:
    """Filter ``docs`` with Agent-1/Agent-2 and the adaptive bar, then answer with Agent-3.

    ``on_scored(judged, threshold, kept, scoring)`` runs once the bar is applied, before Agent-3 starts, so a
    front end can show the scores while the answer streams.
    """
    judged = await score_documents(
        question, docs, agents, settings, predictor_max_tokens=predictor_max_tokens or settings.predictor_max_tokens
    )
    threshold, kept, used_all = select(judged, settings.n)
    scoring = scoring_label([j.method for j in judged], settings.score_mix)
    if on_scored is not None:
        on_scored(judged, threshold, kept, scoring)
    ordered = reorder(kept) if settings.reorder else kept
    text = await answer_from(
        agents.final, question, [j.doc for j in ordered], on_delta=on_delta, max_tokens=settings.final_max_tokens
    )
    numbers = cited_numbers(text, len(ordered))
    cited = [ordered[i - 1] for i in numbers] or list(ordered)
    return MainRagResult(
        answer=text.strip(),
        docs=judged,
        kept=kept,
        cited=cited,
        threshold=threshold,
        n=settings.n,
        scoring=scoring,
        used_all=used_all,
    )
