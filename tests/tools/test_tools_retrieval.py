"""Tool retrieval (CRAFT multi-view) with the real MiniLM model: the views, the ranking, and what the loop offers."""

from __future__ import annotations

from typing import Any

import pytest

from agent.core.trace import Trace
from agent.llm.hub import LLMHub
from agent.loop.engine import Loop
from agent.testing.fake_openai import FakeOpenAIServer
from rag.embed import get_embedder
from tools.registry import Tool, ToolRegistry, tool
from tools.retrieval import ToolRetriever, name_words

TOPICS = {
    "get_weather": "The weather forecast for a city: temperature, rain and wind.",
    "convert_currency": "Convert an amount of money from one currency to another at today's exchange rate.",
    "book_flight": "Book a seat on a flight between two airports on a date.",
    "send_email": "Send an email message to a recipient.",
    "translate_text": "Translate text from one language into another.",
    "stock_price": "The latest trading price of a company's shares.",
    "play_music": "Play a song or playlist on the speaker.",
    "set_alarm": "Set an alarm clock to ring at a time.",
    "find_restaurant": "Find restaurants near a place, by cuisine.",
    "track_parcel": "Where a parcel is, from its tracking number.",
    "tide_table": "High and low tide times for a harbour.",
    "moon_phase": "The phase of the moon on a date.",
    "define_word": "The dictionary definition of an English word.",
    "count_calories": "Calories in a portion of food.",
    "traffic_report": "Road traffic and jams on a route.",
    "parking_spots": "Free parking spaces near an address.",
    "pollen_count": "Pollen levels for hay-fever sufferers in a region.",
    "sunrise_time": "When the sun rises and sets at a place.",
    "lottery_numbers": "The winning numbers of the latest lottery draw.",
    "holiday_dates": "Public holidays of a country in a year.",
}


def make_tools(examples: dict[str, tuple[str, ...]] | None = None) -> list[Tool]:
    made = []
    for name, description in TOPICS.items():

        def run(query: str = "") -> str:
            return "ok"

        made.append(tool(run, name=name, description=description, examples=(examples or {}).get(name, ())))
    return made


@pytest.fixture(scope="module")
def embedder() -> Any:
    return get_embedder("all-MiniLM-L6-v2")


def test_names_become_words() -> None:
    assert name_words("census__lookup") == "census lookup"
    assert name_words("AddAgenda") == "add agenda"
    assert name_words("getHTTPStatus-v2") == "get http status v2"


def test_the_right_tool_ranks_first_among_twenty(embedder: Any) -> None:
    retriever = ToolRetriever(make_tools(), embedder)
    ranking = retriever.rank("How many euros do I get for 250 US dollars?")
    assert ranking.names[0] == "convert_currency"
    assert sorted(ranking.names) == sorted(TOPICS)  # every tool is ranked
    assert retriever.rank("Will it rain in Lisbon tomorrow?").names[0] == "get_weather"
    top3 = retriever.top("When is high water at Dover?", 3)
    assert len(top3) == 3 and top3[0].name == "tide_table"


def test_example_questions_find_a_tool_its_description_hides(embedder: Any) -> None:
    question = "Is it the recycling bin or the garden waste bin this Thursday?"
    example = "Which bin goes out this week, recycling or garden waste?"

    def opaque(ward: str = "") -> str:
        return "ok"

    def with_example(*examples: str) -> list[Tool]:
        return [*make_tools(), tool(opaque, name="svc_417", description="Legacy endpoint 417.", examples=examples)]

    plain = ToolRetriever(with_example(example), embedder, views=("description",))
    multi = ToolRetriever(with_example(example), embedder)
    assert multi.rank(question).names[0] == "svc_417"
    assert plain.rank(question).names.index("svc_417") > 0
    # an example's source tag lets a benchmark leave its own dialogue out
    tagged = ToolRetriever(with_example("case-7\x1f" + example), embedder)
    assert tagged.rank(question).names[0] == "svc_417"
    assert tagged.rank(question, skip_sources=["case-7"]).names[0] != "svc_417"


PLANNER, CALLER = "You are the planner", "You are the caller"


def listed_tools(body: dict[str, Any]) -> list[str]:
    system = body["messages"][0]["content"]
    return [name for name in TOPICS if f'"name": "{name}"' in system]


async def test_the_loop_offers_only_retrieved_tools_and_the_planner_can_ask_for_more(
    hub: LLMHub, fake_server: FakeOpenAIServer
) -> None:
    hub.settings.loop.max_tools_offered = 4
    hub.settings.loop.tool_call_format = "text"
    fake_server.reply(
        [
            "Look up the exchange rate. Next: caller.",
            "None of these fits: I need more tools, one that tracks a parcel. Next: caller.",
            "Done. Next: summarizer.",
        ],
        system_contains=PLANNER,
    )
    fake_server.reply(
        ['Action: convert_currency\nAction Input: {"query": "250 USD"}', "Action: track_parcel\nAction Input: {}"],
        system_contains=CALLER,
    )
    fake_server.reply("About 230 euros [1].", system_contains="You are the summarizer")
    registry = ToolRegistry(make_tools())
    answer = await Loop("How many euros for 250 US dollars?", hub, Trace(), registry).run()
    assert answer.text == "About 230 euros [1]."
    bodies = [r.json for r in fake_server.chat_requests]
    planners = [b for b in bodies if PLANNER in b["messages"][0]["content"]]
    callers = [b for b in bodies if CALLER in b["messages"][0]["content"]]
    first = listed_tools(callers[0])
    assert len(first) == 4 and "convert_currency" in first
    assert (
        len(listed_tools(planners[0])) == 4 and "16 more tools are not listed" in planners[0]["messages"][0]["content"]
    )
    second = listed_tools(callers[1])
    assert len(second) == 8 and "track_parcel" in second  # asked for more: twice as many, retrieved with the thought
    assert "12 more tools are not listed" in callers[1]["messages"][0]["content"]


async def test_few_tools_are_all_offered_without_loading_a_model(hub: LLMHub, fake_server: FakeOpenAIServer) -> None:
    hub.settings.loop.tool_call_format = "text"
    fake_server.reply("Nothing to do. Next: summarizer.", system_contains=PLANNER)
    fake_server.reply("Fine.", system_contains="You are the summarizer")
    registry = ToolRegistry(make_tools()[:5])
    loop = Loop("Hello?", hub, Trace(), registry)
    await loop.run()
    assert loop._retriever is None and loop.offered is registry
